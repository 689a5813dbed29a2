"""Migration scripts; each is frozen once released (never regenerated)."""
