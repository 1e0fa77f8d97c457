"""/v1/payment methods (being written)."""
