"""Tests of package versions, git revision and atomic writes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

import simrec
from simrec.core.errors import ConfigError, DataError
from simrec.io import manifest
from simrec.io.manifest import (
    fresh_folder,
    git_revision,
    package_versions,
    write_json_atomic,
    write_parquet_atomic,
)
from simrec.io.manifest_model import Manifest, VariantEntry


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


# -- fresh_folder --------------------------------------------------------------------------


def test_fresh_folder_never_clobbers(tmp_path: Path) -> None:
    first = fresh_folder(tmp_path / "runs", "x")
    assert first == tmp_path / "runs" / "x" and first.is_dir()
    assert fresh_folder(tmp_path / "runs", "x") == first  # still empty: reused
    (first / "manifest.json").write_text("{}")
    (tmp_path / "runs" / "x-2").write_text("a file takes the name too")
    assert fresh_folder(tmp_path / "runs", "x").name == "x-3"
    (tmp_path / "runs" / "x-3" / "events").mkdir()
    assert fresh_folder(tmp_path / "runs", "x").name == "x-4"
    assert (first / "manifest.json").read_text() == "{}"


def test_fresh_folder_overwrite_deletes_only_simrec_folders(tmp_path: Path) -> None:
    run = tmp_path / "x"
    run.mkdir()
    (run / "manifest.json").write_text("{}")
    (run / "events.parquet").write_text("old")
    assert fresh_folder(tmp_path, "x", overwrite=True) == run
    assert list(run.iterdir()) == []
    (run / "thesis.tex").write_text("keep me")
    with pytest.raises(ConfigError, match="no manifest.json"):
        fresh_folder(tmp_path, "x", overwrite=True)
    assert (run / "thesis.tex").read_text() == "keep me"


# -- Manifest ------------------------------------------------------------------------------

SCENARIO = {"name": "s", "seed": 3}


def one_of_each() -> dict[str, Manifest]:
    return {
        "run": Manifest.start("run", "r", seed=3, scenario=SCENARIO),
        "variants": Manifest.start(
            "variants", "v", seed=3, scenario=SCENARIO,
            variants={"a": VariantEntry(run_dir="a", status="failed")},
        ),
        "bench": Manifest.start("bench", "b", spec={"name": "b"}, cells=4),
        "fidelity": Manifest.of("fidelity", "f", seed=11, options={"users": 5}, scenario=SCENARIO),
        "augment": Manifest.of(
            "augment", "a", options={"seeds": [7]}, scenario=SCENARIO, summary=[{"lift": 0.1}]
        ),
    }


@pytest.mark.parametrize("kind", ["run", "variants", "bench", "fidelity", "augment"])
def test_manifest_round_trip_each_kind(tmp_path: Path, kind: str) -> None:
    m = one_of_each()[kind]
    path = tmp_path / "manifest.json"
    m.write(path)
    data = json.loads(path.read_text())
    version_key = {"run": "simrec_run", "variants": "simrec_run"}.get(kind, f"simrec_{kind}")
    assert next(iter(data)) == version_key and data[version_key] == 1 and data["kind"] == kind
    assert "git" in data and data["versions"]["numpy"]
    assert not [k for k, v in data.items() if v is None and k != "git"]  # None fields are left out
    assert "error" not in data and "finished_at" not in data
    back = Manifest.read(path)
    assert back == m and Manifest.read(tmp_path) == m  # a folder reads its manifest.json


def test_manifest_finish_and_what_is_written(tmp_path: Path) -> None:
    m = Manifest.start("run", "r", seed=3, scenario=SCENARIO)
    m.git = None  # outside a checkout: written as null, as always
    m.finish("failed", error="boom", totals={"events": np.int64(7)}, timings_s={"total": 1.5})
    m.write(tmp_path / "manifest.json")
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["git"] is None and data["status"] == "failed" and data["error"] == "boom"
    assert data["totals"] == {"events": 7} and data["finished_at"] >= data["started_at"]
    assert Manifest.read(tmp_path / "manifest.json") == m
    with pytest.raises(ValidationError):
        m.status = "exploded"  # type: ignore[assignment]


def test_manifest_reads_files_written_before_it_had_a_kind(tmp_path: Path) -> None:
    old_run = {"simrec_run": 1, "name": "r", "status": "completed", "seed": 3, "started_at": "t",
               "scenario": SCENARIO, "versions": {}, "git": None, "steps_completed": 2}  # fmt: skip
    old_bench = {"simrec_bench": 1, "name": "b", "status": "running", "started_at": "t", "spec": {},
                 "cells": 2, "versions": {}, "git": None}  # fmt: skip
    for data, kind in ((old_run, "run"), (old_bench, "bench")):
        (tmp_path / "manifest.json").write_text(json.dumps(data))
        m = Manifest.read(tmp_path / "manifest.json")
        assert m.kind == kind and m.model_dump() == {**data, "kind": kind}
        assert next(iter(m.model_dump())) == next(iter(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "exploded"}, "status"),
        ({"seed": None}, "needs seed"),
        ({"cells": 3}, "has no cells"),
        ({"colour": "blue"}, "colour"),
        ({"simrec_bench": 1}, "more than one"),
        ({"kind": "bench"}, "simrec_bench"),
        ({"totals": {"events": "many"}}, "totals.events"),
    ],
)
def test_manifest_rejects_a_bad_file_by_name(tmp_path: Path, change: dict, message: str) -> None:
    path = tmp_path / "manifest.json"
    Manifest.start("run", "r", seed=3, scenario=SCENARIO).write(path)
    data = {k: v for k, v in {**json.loads(path.read_text()), **change}.items() if v is not None}
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="not a valid simrec manifest") as err:
        Manifest.read(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_manifest_read_names_missing_and_damaged_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a simrec folder"):
        Manifest.read(tmp_path)
    (tmp_path / "manifest.json").write_text('{"simrec_run": 1, "name": ')
    with pytest.raises(DataError, match="damaged"):
        Manifest.read(tmp_path / "manifest.json")
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="not a valid simrec manifest"):
        Manifest.read(tmp_path)
