"""Who is answered when: the model slot shared by sessions, admission and queues, per-address
rate limits, per-session choices, the request log, settings checked from any client, ZeroGPU.

Imports the model's vocabulary, `ui.i18n` and `ui.render`; never the page or the HTTP layer.
"""
