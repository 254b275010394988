"""Small shared building blocks: errors, seeded randomness, registries, top-k."""
