"""Events and finished turns -> what the page and the exports show: chat messages, thought
titles, the stats line, the one rendering policy for model text (`safe_text`), the bounds on what is
drawn, exports and a shared answer's replay.

Imports `model.events`, `ui.i18n` and `ui.store`; never Gradio.
"""
