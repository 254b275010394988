"""Launching the dashboard: the launch, the generated app file, URLs and ports."""

from __future__ import annotations

import runpy
import socket
from pathlib import Path

import pytest
import reacton.core

from simrec.core.errors import ConfigError
from simrec.dashboard.server import Launch, free_port, local_url, server_command, write_app
from tests.helpers import ROOT


def test_a_launch_without_out_dir_uses_a_temporary_folder(tmp_path: Path) -> None:
    launch = Launch.create("echo_chamber", ["run.steps=3"])
    try:
        assert launch.temporary and Path(launch.out_dir).is_dir() and "simrec-dashboard-" in launch.out_dir
        cfg = launch.load()
        assert cfg.run.output_dir == Path(launch.out_dir) and cfg.run.steps == 3 and cfg.run.report is False
    finally:
        Path(launch.out_dir).rmdir()


def test_a_launch_with_out_dir_keeps_the_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my.yaml").write_text((ROOT / "scenarios" / "echo_chamber.yaml").read_text().replace(
        "../environments", str(ROOT / "environments")).replace("../agents", str(ROOT / "agents")))  # fmt: skip
    launch = Launch.create("my.yaml", [], "mf", Path("runs"))
    assert launch.scenario == str(tmp_path / "my.yaml") and launch.out_dir == str(tmp_path / "runs")
    assert not launch.temporary and launch.load().run.report is True
    assert Launch.from_json(launch.to_json()) == launch


def test_check_gives_the_first_runs_errors(tmp_path: Path) -> None:
    small = ["environment.data.n_users=200", "environment.data.n_items=300"]
    first = Launch.create("echo_chamber", small, "mf", tmp_path).check()
    assert first.run_name == "mf" and first.recommender.name == "mf"
    with pytest.raises(ConfigError, match="no variant 'nope'"):
        Launch.create("echo_chamber", [], "nope", tmp_path).check()
    with pytest.raises(ConfigError, match="Unknown recommender 'nope'"):
        Launch.create("quickstart", ["recommender.name=nope"], None, tmp_path).check()


def test_the_app_file_builds_the_page_of_its_launch(tmp_path: Path) -> None:
    launch = Launch.create("echo_chamber", ["run.steps=2"], None, tmp_path / "runs")
    app = write_app(launch, tmp_path)
    page = runpy.run_path(str(app))["Page"]  # solara run executes the file and takes its Page
    assert isinstance(page, reacton.core.Component)
    command = server_command(app, "127.0.0.1", 8765)
    assert command[1:4] == ["-m", "solara", "run"] and "--no-open" in command and "--production" in command


def test_urls_and_free_ports() -> None:
    assert local_url("127.0.0.1", 8765) == "http://localhost:8765/"
    assert local_url("0.0.0.0", 80) == "http://localhost:80/"
    assert local_url("10.1.2.3", 8000) == "http://10.1.2.3:8000/"
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # it was free
