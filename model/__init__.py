"""Model code for the Skywork R1V demo."""
