"""What a model needs and where it fits: facts gathered from a checkpoint (local or Hub metadata),
sizes per quantization, the placement on the GPUs seen, and the text `python app.py --plan` prints.

Imports the shared vocabulary, `model.inputs` and `model.local` (its checkpoint and cache ladder);
nothing imports it but the app and the tests.
"""
