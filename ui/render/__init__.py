"""Events and finished turns -> what the page and the exports show: chat messages, thought
titles, the stats line, the one rendering policy for model text (`safe_text`), the bounds on what is
drawn, exports, a shared answer's replay, and the tiles drawn over an image (`tiles`).

Imports `model.events`, `model.inputs` and `model.limits` (the tiles are the engine's own),
`ui.i18n` and `ui.store`; never Gradio.
"""
