"""unigen."""
