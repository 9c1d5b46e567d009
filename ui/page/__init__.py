"""The page: the services every view shares (`services.Services`, built once by the composition
root), the layout that places the views, and the views themselves (the chat and its handlers, the
settings controls, the tiles preview and the sweep, Compare and the blind vote, evaluation, the
history list and share replay, the verdicts). Each view builds its components as a dataclass and
wires its own events; no view reaches into another's handlers.

The top of `ui`: it may import every other folder; nothing in `ui` imports it but the app.
"""
