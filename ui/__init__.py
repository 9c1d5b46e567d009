"""The Gradio side of the R1V demo; knows the engine only through `model.events` and its siblings.

By concern, lowest first: `i18n/` (the words), `store/` (what is kept: history, share links, uploads,
votes), `render/` (events and turns -> what is shown, the one rendering policy), `serving/` (who may
answer when: sessions, admission, rate limits, the request log), `http/` (the API, MCP and the
routes and middleware on the HTTP app), `page/` (the page itself: layout, handlers and its views).
Each folder imports only those before it. The UI never parses model text.
"""
