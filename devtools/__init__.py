"""Local development tools; nothing here runs in production."""
