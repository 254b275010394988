"""The package's layers (import-linter contracts in pyproject.toml) and zero import circles."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grimp
import networkx as nx

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_are_kept() -> None:
    exe = shutil.which("lint-imports")
    assert exe is not None, "lint-imports is missing: pip install -e '.[dev]' installs import-linter"
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_no_module_imports_itself_through_a_circle() -> None:
    graph = grimp.build_graph("simrec", include_external_packages=False)
    g = nx.DiGraph()
    for module in graph.modules:
        g.add_node(module)
        g.add_edges_from((module, dep) for dep in graph.find_modules_directly_imported_by(module))
    circles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert circles == [], f"import circles (type-checking imports count too): {circles}"
