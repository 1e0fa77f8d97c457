"""/v1/portal configuration (being written)."""
