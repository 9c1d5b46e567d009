"""A request's inputs: images and PDF pages read and bounded, tiles cut, the prompt built.

Promises: every file, image, question and prompt is checked against `model.limits` before any model
work, with a message naming the limit. Imports the shared vocabulary (events, limits) only: it reads
a loaded model through the `assemble.LoadedModel` protocol, not the loader.
"""
