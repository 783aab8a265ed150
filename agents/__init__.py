"""Generation backends, prompting and agents (see DESIGN.md, Agents and generation)."""
