"""/v1/invoices (being written)."""
