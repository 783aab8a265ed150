"""Sandboxes for untrusted code and sandboxed task envs (see DESIGN.md, Sandboxes)."""
