"""``python -m simrec`` runs the CLI."""

from __future__ import annotations

from simrec.cli import main

main()
