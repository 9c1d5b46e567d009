"""The page: layout, the handlers of its events, and its views (Compare and the blind vote, the
sweep, the history list, the tiles, evaluation, examples, the settings controls).

The top of `ui`: it may import every other folder; nothing in `ui` imports it but the app.
"""
