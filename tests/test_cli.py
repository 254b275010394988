"""The command line as a user meets it: real subprocesses, exit codes, messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from simrec.core.errors import SimrecError
from tests.helpers import ROOT


def simrec(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simrec", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def assert_clean_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text, text
    for needle in needles:
        assert needle in text, (needle, text)


def test_run_quickstart_offline(tmp_path: Path) -> None:
    proc = simrec("run", "scenarios/quickstart.yaml", "--out", str(tmp_path), "--quiet")
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "quickstart"
    assert (run / "manifest.json").is_file()
    assert (run / "atomic" / "quickstart.inter").is_file()
    assert (run / "memory").is_dir() and (run / "texts.parquet").is_dir()
    assert "click rate" in proc.stdout


def test_bad_key_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nrun: {stepz: 3}\n")
    assert_clean_error(simrec("run", str(bad)), "run.stepz", str(bad), "steps")


def test_bad_override_value(tmp_path: Path) -> None:
    proc = simrec("run", "scenarios/quickstart.yaml", "--set", "run.steps=-1", "--out", str(tmp_path))
    assert_clean_error(proc, "run.steps")


def test_unknown_recommender(tmp_path: Path) -> None:
    proc = simrec("run", "scenarios/quickstart.yaml", "--set", "recommender.name=nope", "--out", str(tmp_path))
    assert_clean_error(proc, "Unknown recommender 'nope'", "most_popular")


def test_missing_data_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    proc = simrec(
        "run", "scenarios/ml100k_compare.yaml", "--set", f"environment.data.path={missing}", "--out", str(tmp_path)
    )
    assert_clean_error(proc, str(missing))
    # found before anything is written: no half-made run folder
    assert not (tmp_path / "ml100k_compare").exists()


def test_empty_data_set(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("user_id,item_id,rating,timestamp\n")
    scen = tmp_path / "s.yaml"
    scen.write_text(f"name: s\nenvironment: {{data: {{source: file, path: {empty}}}}}\n")
    assert_clean_error(simrec("run", str(scen), "--out", str(tmp_path)), "empty.csv")


def test_missing_scenario_file() -> None:
    assert_clean_error(simrec("run", "scenarios/does-not-exist.yaml"), "does-not-exist.yaml")


def test_list_and_validate() -> None:
    proc = simrec("list")
    assert proc.returncode == 0
    for name in ("random", "most_popular", "item_knn", "mf", "choice", "quickstart.yaml",
                 "llamacpp", "openai", "minilm", "chroma", "scored", "ray"):  # fmt: skip
        assert name in proc.stdout
    proc = simrec("validate", "scenarios/quickstart.yaml", "--set", "run.steps=2")
    assert proc.returncode == 0 and "steps: 2" in proc.stdout


def test_version_is_the_installed_one() -> None:
    from importlib.metadata import version

    proc = simrec("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"simrec {version('simrec')}"


def test_listed_names_are_what_a_scenario_accepts() -> None:
    """Every name ``simrec list`` shows for a config key validates there (and a made-up one does not)."""
    from simrec.cli.listing import registry_rows
    from simrec.config import load_scenario

    rows = {where: names for _, names, where in registry_rows()}
    for key in ("policy.llm.protocol", "agents.memory.embedder", "agents.memory.store", "llm.backend",
                "recommender.name"):  # fmt: skip
        assert rows[key], key
        for name in rows[key]:
            load_scenario(ROOT / "scenarios/quickstart.yaml", [f"{key}={name}"])
    with pytest.raises(SimrecError):
        load_scenario(ROOT / "scenarios/quickstart.yaml", ["agents.memory.store=nosuchstore"])


def test_export_command(tmp_path: Path) -> None:
    proc = simrec("run", "scenarios/quickstart.yaml", "--out", str(tmp_path), "--quiet", "--set", "run.steps=2",
                  "--set", "run.export=[]", "--set", "policy.name=choice")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "quickstart"
    proc = simrec("export", str(run), "--format", "csv", "--format", "recbole", "--out", str(tmp_path / "x"))
    assert proc.returncode == 0, proc.stderr
    inter = pd.read_csv(tmp_path / "x" / "interactions.csv")
    assert set(inter["origin"]) == {"real", "sim"}
    assert (tmp_path / "x" / "quickstart.inter").is_file()
    assert_clean_error(simrec("export", str(tmp_path / "nothing")), "nothing")


def test_tune_needs_the_embedded_backend() -> None:
    proc = simrec("tune", "quickstart", "--set", "llm.backend=openai", "--quiet")
    assert_clean_error(proc, "simrec tune teaches the embedded model")


def test_run_says_which_model_llm_agents_think_with(tmp_path: Path) -> None:
    proc = simrec("run", "quickstart", "--out", str(tmp_path), "--quiet", "--set", "run.steps=1",
                  "--set", "policy.llm.llm_users=1", "--set", f"llm.cache_dir={tmp_path / 'models'}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    said = " ".join((proc.stdout + proc.stderr).split())
    assert "untuned smollm2-135m" in said and "simrec tune quickstart" in said


def test_an_error_keeps_its_brackets(tmp_path: Path) -> None:
    """Rich markup must not eat an install hint such as ``pip install -e '.[llm]'``."""
    proc = simrec("run", "scenarios/quickstart.yaml", "--out", str(tmp_path), "-q",
                  "--set", "llm.model=/nonexistent/[llm]/model.gguf")  # fmt: skip
    assert_clean_error(proc, "[llm]")
