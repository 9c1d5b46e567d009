"""What the server and the browser keep: finished turns as data, history (the browser's store),
share links and their signatures, uploads, verdicts and blind votes, the examples' files.

Promises: data in, data out, in formats written down in each module; nothing here knows how a turn
is drawn. Imports `model.events` and `ui.i18n` only, never Gradio.
"""
