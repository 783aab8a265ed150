"""Case-based memory for agents (see DESIGN.md, Memory)."""
