"""Shared fixtures: the MovieLens 100K copy beside the project, small worlds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def ml100k_path() -> Path:
    """Where tests read MovieLens 100K: $SIMREC_ML100K or ../shared/data/ml-100k."""
    env = os.environ.get("SIMREC_ML100K")
    return Path(env) if env else (PROJECT_ROOT.parent / "shared" / "data" / "ml-100k").resolve()


@pytest.fixture(scope="session")
def ml100k_dir() -> Path:
    """The MovieLens 100K folder; fails (not skips) when it is missing."""
    path = ml100k_path()
    if not (path / "u.data").is_file():
        pytest.fail(
            f"MovieLens 100K not found at {path}. Tests read it from ../shared/data/ml-100k "
            "(or set SIMREC_ML100K); the project never ships a copy."
        )
    return path
