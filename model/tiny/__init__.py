"""Tiny Skywork-R1V-style vision-language model trained from scratch on CPU."""
