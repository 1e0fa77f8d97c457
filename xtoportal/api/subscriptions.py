"""/v1/subscriptions (being written)."""
