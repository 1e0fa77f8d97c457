"""/v1/plans (being written)."""
