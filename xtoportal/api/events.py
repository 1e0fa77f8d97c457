"""/v1/events (being written)."""
