"""Data: interaction tables, loaders (MovieLens, generic files), synthetic worlds, splits."""
