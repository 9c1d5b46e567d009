"""An engine backed by an OpenAI-compatible server (`--backend URL`): the endpoint as a visitor may
see it, the request payload, and the stream read back into the same typed events as the local engine.

Imports the shared vocabulary and `model.inputs`; never `local` or `ui`.
"""
