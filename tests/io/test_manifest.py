"""Tests of package versions, git revision and atomic writes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import simrec
from simrec.io import manifest
from simrec.io.manifest import (
    git_revision,
    package_versions,
    write_json_atomic,
    write_parquet_atomic,
)


def test_package_versions() -> None:
    versions = package_versions()
    assert versions["simrec"] == simrec.__version__
    for name in ("numpy", "pandas", "pyarrow", "python", "platform"):
        assert isinstance(versions[name], str) and versions[name]


def test_package_versions_skips_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifest, "TRACKED_PACKAGES", ("numpy", "surely-not-installed-pkg"))
    versions = package_versions()
    assert "numpy" in versions and "surely-not-installed-pkg" not in versions


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_revision_of_a_fresh_repo(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.txt").write_text("one\n")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "init")
    rev = git_revision(tmp_path / "a.txt")
    assert rev is not None and len(rev["commit"]) == 40 and rev["dirty"] is False
    (tmp_path / "a.txt").write_text("two\n")
    assert git_revision(tmp_path) == {"commit": rev["commit"], "dirty": True}


def test_git_revision_outside_a_checkout(tmp_path: Path) -> None:
    if git_revision(tmp_path) is not None:
        pytest.skip("the temporary folder lies inside a git checkout")
    assert git_revision(tmp_path / "missing" / "folder") is None


def test_git_revision_without_git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert git_revision() is None


def test_write_json_atomic(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "manifest.json"
    obj = {"z": 1, "a": Path("runs/x"), "n": np.float32(0.5), "i": np.int64(3), "v": np.arange(2)}
    write_json_atomic(path, obj)
    text = path.read_text()
    assert json.loads(text) == {"z": 1, "a": "runs/x", "n": 0.5, "i": 3, "v": [0, 1]}
    assert text.index('"z"') < text.index('"a"') and text.startswith('{\n  "z"')
    assert [p.name for p in path.parent.iterdir()] == ["manifest.json"]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    write_json_atomic(path, {"ok": True})
    with pytest.raises(TypeError):
        write_json_atomic(path, {1j: 2})  # a complex key cannot be written as JSON
    assert json.loads(path.read_text()) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_write_parquet_atomic(tmp_path: Path) -> None:
    df = pd.DataFrame({"step": np.arange(3), "ctr": [0.1, 0.2, 0.3]})
    path = tmp_path / "metrics.parquet"
    write_parquet_atomic(df, path)
    pd.testing.assert_frame_equal(pd.read_parquet(path), df)
    indexed = df.set_index("step")
    write_parquet_atomic(indexed, path)
    pd.testing.assert_frame_equal(pd.read_parquet(path), indexed)
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.parquet"]
