"""Recommenders: one batch-first protocol, implementations registered by name."""
