"""Data shipped inside the package (no code): read it through :mod:`simrec.core.resources`.

- ``scenarios/``: runnable scenarios (``simrec run quickstart`` runs one by name).
- ``environments/``: platforms the scenarios refer to (``../environments/<name>.yaml``).
- ``agents/``: population settings (``default.yaml``, ``calibrated.yaml``), persona
  ``archetypes/`` for synthetic worlds and the versioned LLM ``prompts/``.

A source checkout's top-level ``scenarios``, ``environments`` and ``agents`` are
symbolic links to these folders, so relative references between the files resolve
the same way in a checkout and in an installed wheel.
"""
