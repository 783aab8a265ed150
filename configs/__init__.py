"""Hydra config groups shipped as package data: env/ (short env names) and the CLI configs."""
