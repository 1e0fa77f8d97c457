"""Portal pages."""
