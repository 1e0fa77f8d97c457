"""/v1/openapi (being written)."""
