"""Package data: where simrec finds its own files, and the checkout's links to them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import simrec
from simrec.agents.prompts import PROMPTS_DIR, load_template
from simrec.core.resources import resource_path
from simrec.data.synthetic import default_archetypes_path, load_archetypes
from tests.helpers import ROOT

PACKAGE_DATA = Path(simrec.__file__).resolve().parent / "resources"


def test_resource_path_is_inside_the_package() -> None:
    assert resource_path() == PACKAGE_DATA
    assert resource_path("agents", "prompts") == PACKAGE_DATA / "agents" / "prompts"
    assert (resource_path("scenarios") / "quickstart.yaml").is_file()
    assert not resource_path("no-such-file.yaml").exists()  # a path, whether or not it exists


@pytest.mark.parametrize("name", ["scenarios", "environments", "agents"])
def test_checkout_folders_are_relative_links_to_package_data(name: str) -> None:
    link = ROOT / name
    assert link.is_symlink(), f"{name}/ must link to simrec/resources/{name}, not be a copy"
    assert not Path(os.readlink(link)).is_absolute()  # survives moving the checkout
    assert link.resolve() == resource_path(name)


def test_prompts_and_archetypes_come_from_package_data() -> None:
    assert PROMPTS_DIR == resource_path("agents", "prompts")
    tmpl = load_template("page_decision")
    assert tmpl.path is not None and tmpl.path.parent == PROMPTS_DIR
    assert default_archetypes_path() == resource_path("agents", "archetypes", "default.yaml")
    shipped = load_archetypes()
    assert shipped == load_archetypes(ROOT / "agents" / "archetypes" / "default.yaml")
    assert {a["name"] for a in shipped} >= {"blockbuster fan", "cinephile"}
