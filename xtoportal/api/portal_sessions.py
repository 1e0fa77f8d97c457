"""/v1/portal sessions (being written)."""
