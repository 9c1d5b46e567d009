"""The conversations a browser keeps: the side list, Share and a shared answer's replay (`listing`),
and the versions of a conversation's turns, with the "‹ 2 / 3 ›" switcher and "Edit a question"
(`versions`). Both wire onto the chat built by `ui.page.chat`; `ui.page.layout` puts them together."""
