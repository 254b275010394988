"""Decision policies (how users decide), registered by name."""
