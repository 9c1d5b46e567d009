"""Model code for the Skywork R1V demo: everything from a request to typed events, never Gradio.

The shared vocabulary sits at the top: `events` (requests, options, the events an engine yields),
`limits` (input bounds), `registry` (the models the demo knows), `reasoning` (the thinking/answer
split). Below it, by concern:
- `inputs/`: images, PDF pages, tiles and the prompt, checked against the limits;
- `local/`: loading a checkpoint and generating on this machine (engine, fast path, caches);
- `remote/`: the same events from an OpenAI-compatible server;
- `plan/`: what fits on which GPUs (`python app.py --plan`);
- `tiny/`: the bundled small checkpoint, its training and its puzzles.
Arrows point down only: the vocabulary imports none of the folders; `inputs` only the vocabulary;
`local` and `remote` build on `inputs`; `plan` and `tiny` on `local`. Nothing here imports `ui`.
"""
