"""The model on this machine: loading a checkpoint (official or native layout), and the engine
that streams typed events from it (the fast path with its static caches, the generation thread,
the fair lock that shares one model between sessions).

Imports the shared vocabulary and `model.inputs`; never `remote`, `plan` or `ui`.
"""
