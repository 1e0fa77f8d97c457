"""/v1/webhook endpoints (being written)."""
