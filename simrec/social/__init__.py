"""Social graph: builders, dynamics (socialize phase), cascades and social metrics."""
