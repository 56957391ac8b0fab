"""Models of this app (added by its own issue)."""
