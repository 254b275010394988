"""simrec from a wheel: package data travels, and shipped scenarios run by name from any folder.

The wheel is built from a copy of the checkout's packaging inputs (pyproject.toml, README.md,
simrec/), so the build writes no build/ or egg-info into the checkout (where concurrent runs
would race and a stale build/lib could leak deleted modules into the wheel) and so nothing
outside the package (the top-level scenarios/, environments/, agents/ links) can help it. It is
installed, non-editable and without dependencies, into a fresh virtual environment that sees the
machine's packages (--system-site-packages: numpy, mesa, llama-cpp, ...). The project's own
editable install stays visible there too, so the tests check that ``simrec`` is the wheel's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from simrec.config.shipped import shipped_scenarios
from tests.helpers import ROOT

RESOURCES = sorted(
    p.relative_to(ROOT).as_posix() for p in (ROOT / "simrec" / "resources").rglob("*.yaml")
)
# Files besides pyproject.toml and simrec/ that the build may read, if the project has them.
_BUILD_INPUTS = ("README.md", "LICENSE", "LICENSE.txt", "MANIFEST.in", "setup.cfg", "setup.py")


def _run(cmd: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def _source_copy(dest: Path) -> Path:
    dest.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", dest)
    for name in _BUILD_INPUTS:
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "simrec", dest / "simrec", ignore=ignore)
    return dest


class Installed:
    """A wheel of the checkout, its sdist, and a virtual environment with the wheel installed."""

    def __init__(self, root: Path) -> None:
        src = _source_copy(root / "src")
        self.dist = root / "dist"
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", ".",
              "-w", str(self.dist)], cwd=src)  # fmt: skip
        (self.wheel,) = self.dist.glob("simrec-*.whl")
        code = f"from setuptools import build_meta; build_meta.build_sdist({str(self.dist)!r})"
        _run([sys.executable, "-c", code], cwd=src)
        (self.sdist,) = self.dist.glob("simrec-*.tar.gz")

        self.venv = root / "venv"
        _run([sys.executable, "-m", "venv", "--system-site-packages", str(self.venv)], cwd=root)
        self.python = self.venv / "bin" / "python"
        self.site = Path(self._query("import sysconfig; print(sysconfig.get_paths()['purelib'])"))
        if sys.prefix != sys.base_prefix:
            # Running inside a virtual environment: --system-site-packages gives the base
            # interpreter's packages, not this one's; make this one's dependencies visible.
            here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
            (self.site / "_simrec_test_parent.pth").write_text("\n".join(sorted(here)) + "\n")
        pip = [str(self.python), "-m", "pip", "install", "--no-deps", "--no-index"]
        _run([*pip, str(self.wheel)], cwd=root)
        self.simrec = self.venv / "bin" / "simrec"
        self.cwd = root / "elsewhere"  # not the checkout: no scenarios/ or agents/ here
        self.cwd.mkdir()

    def _query(self, code: str) -> str:
        return _run([str(self.python), "-c", code], cwd=self.venv).stdout.strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return Installed(tmp_path_factory.mktemp("wheel"))


def test_wheel_and_sdist_carry_the_package_data(installed: Installed) -> None:
    assert RESOURCES and "simrec/resources/scenarios/quickstart.yaml" in RESOURCES
    assert "simrec/resources/agents/prompts/page_decision.v1.yaml" in RESOURCES
    in_wheel = set(zipfile.ZipFile(installed.wheel).namelist())
    with tarfile.open(installed.sdist) as tar:
        in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for name in [*RESOURCES, "simrec/resources/__init__.py", "simrec/py.typed"]:
        assert name in in_wheel, f"{name} missing from the wheel"
        assert name in in_sdist, f"{name} missing from the sdist"
    licenses = [n for n in in_wheel if ".dist-info/" in n and n.rsplit("/", 1)[-1] == "LICENSE"]
    assert licenses and "LICENSE" in in_sdist, "the Apache-2.0 text must ship with the package"


def test_the_venv_imports_the_wheel_not_the_checkout(installed: Installed) -> None:
    code = (
        "import simrec; from simrec.agents.prompts import PROMPTS_DIR; "
        "from simrec.config.shipped import shipped_scenarios; "
        "print(simrec.__file__); print(PROMPTS_DIR); print(shipped_scenarios()['quickstart'])"
    )
    proc = _run([str(installed.python), "-c", code], cwd=installed.cwd)
    module, prompts, quickstart = proc.stdout.split()
    package = installed.site / "simrec"
    assert Path(module) == package / "__init__.py"
    assert Path(prompts) == package / "resources" / "agents" / "prompts"
    assert Path(quickstart) == package / "resources" / "scenarios" / "quickstart.yaml"
    assert ROOT not in Path(module).parents
    # the console script is the venv's
    first_line = installed.simrec.read_text(encoding="utf-8").splitlines()[0]
    assert first_line == f"#!{installed.python}"


@pytest.mark.parametrize("name", sorted(shipped_scenarios()))
def test_every_shipped_scenario_validates_by_name(installed: Installed, name: str) -> None:
    proc = _run([str(installed.simrec), "validate", name], cwd=installed.cwd)
    assert f"name: {name}" in proc.stdout


def test_unknown_name_lists_the_shipped_ones(installed: Installed) -> None:
    proc = subprocess.run([str(installed.simrec), "validate", "quikstart"], cwd=installed.cwd,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in text
    assert "quikstart" in text and "ml100k_compare" in text and "viral" in text


def test_quickstart_runs_by_name_from_the_wheel(installed: Installed) -> None:
    out = installed.cwd / "runs"
    # Hybrid (prompts are read from package data), one LLM-driven user to keep it short.
    cmd = [str(installed.simrec), "run", "quickstart", "--set", "run.steps=1",
           "--set", "policy.llm.llm_users=1", "--out", str(out), "--quiet"]  # fmt: skip
    start = time.perf_counter()
    _run(cmd, cwd=installed.cwd, timeout=600)
    wall = time.perf_counter() - start
    run = out / "quickstart"
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "completed" and manifest["steps_completed"] == 1
    assert manifest["scenario"]["policy"]["name"] == "hybrid"
    assert manifest["llm"]["requests"] >= 1  # page prompts were rendered from the shipped templates
    assert manifest["git"] is None  # the package is not inside a checkout
    archetypes = Path(manifest["scenario"]["environment"]["data"]["archetypes"])
    package_data = installed.site / "simrec" / "resources"
    assert archetypes == package_data / "agents" / "archetypes" / "default.yaml"
    events = pd.read_parquet(run / "events.parquet")
    assert len(events) == manifest["events_rows"] > 0
    texts = pd.read_parquet(run / "texts.parquet")
    assert {"step", "user", "kind", "text"} <= set(texts.columns)
    assert wall < 600, f"simrec run quickstart took {wall:.0f} s"
