"""`simrec dashboard` as a user meets it before any server starts: help and clean errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT


def simrec(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp)}  # the dashboard's temporary folders go here
    return subprocess.run([sys.executable, "-m", "simrec", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip


def test_help_names_the_options(tmp_path: Path) -> None:
    proc = simrec("dashboard", "--help", tmp=tmp_path)
    assert proc.returncode == 0
    for option in ("--port", "--host", "--out", "--variant", "--set", "--fetch-assets"):
        assert option in proc.stdout, option


def test_a_bad_variant_is_one_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    proc = simrec("dashboard", "echo_chamber", "--variant", "nope", tmp=tmp_path)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in text
    assert "no variant 'nope'; it has random, mf" in text
    assert not list(tmp_path.glob("simrec-dashboard-*"))  # the temporary run folder is gone


def test_a_bad_override_is_rejected_before_any_server(tmp_path: Path) -> None:
    proc = simrec("dashboard", "quickstart", "--set", "run.steps=-1", tmp=tmp_path)
    assert proc.returncode == 2 and "run.steps" in proc.stdout + proc.stderr
    assert "dashboard:" not in proc.stdout


def test_a_taken_port_is_one_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = simrec("dashboard", "echo_chamber", "--port", str(port), tmp=tmp_path)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in text and f"Port {port} on 127.0.0.1 is in use" in text
    assert not list(tmp_path.glob("simrec-dashboard-*"))
