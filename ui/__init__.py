"""The Gradio user interface of the R1V demo; knows the engine only through model/events.py."""
