"""Rollouts, shared RL math and training algorithms (see DESIGN.md, Training)."""
