"""notebooks/*.ipynb: each runs top to bottom in a fresh python3 kernel, and is saved without outputs.

Each notebook runs with ``cwd = notebooks/`` (as Jupyter runs it), one thread per math library,
``TMPDIR`` in the test's own folder (the notebooks write into ``tempfile`` folders) and
``SIMREC_ML100K`` set to the MovieLens copy the tests read. Its wall time is printed and recorded
as the test's ``seconds`` property (``pytest -s`` or ``--junitxml`` shows it).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient import NotebookClient

from tests.conftest import ml100k_path
from tests.helpers import ROOT

NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
#: The walkthroughs this harness was written with (the glob may find more: those run too).
EXPECTED = {
    "01_first_run.ipynb",
    "02_your_own_recommender.ipynb",
    "03_fidelity_scorecard.ipynb",
    "04_social_dynamics.ipynb",
    "05_rl_stable_baselines3.ipynb",
    "06_llm_agents.ipynb",
}
KERNEL = "python3"
#: Seconds one cell may take before the notebook fails (a whole notebook should take well under a minute).
CELL_TIMEOUT = 240
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_the_walkthroughs_are_there() -> None:
    found = {p.name for p in NOTEBOOKS}
    assert EXPECTED <= found, f"missing notebooks in {NOTEBOOK_DIR}: {sorted(EXPECTED - found)}"


def unstripped(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of the code cells of ``nb`` saved with outputs or an execution count."""
    return [
        i for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]  # fmt: skip


def test_the_stripped_check_catches_a_saved_run() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("1")])
    assert unstripped(nb) == []
    nb.cells[1].execution_count = 1
    assert unstripped(nb) == [1]
    nb.cells[1].execution_count = None
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    assert unstripped(nb) == [1]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_saved_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = unstripped(nb)
    assert not dirty, (
        f"{path.name}: code cells {dirty} were saved with outputs or execution counts; clear them "
        f"(Jupyter: Edit > Clear Outputs of All Cells, or "
        f"`jupyter nbconvert --clear-output --inplace {path.relative_to(ROOT)}`)"
    )
    assert nb.metadata.get("kernelspec", {}).get("name") == KERNEL, f"{path.name}: kernel must be {KERNEL}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_runs_without_errors(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None],
) -> None:
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        pytest.fail(f"no '{KERNEL}' Jupyter kernel: install ipykernel (`pip install -e \".[dev]\"`) "
                    f"or run `{sys.executable} -m ipykernel install --user`")  # fmt: skip
    assert spec.language == "python"
    for var in _THREAD_VARS:
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the kernel's tempfile folders land here
    monkeypatch.setenv("SIMREC_ML100K", str(ml100k_path()))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name=KERNEL, resources={"metadata": {"path": str(NOTEBOOK_DIR)}}
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on the first error
    seconds = time.perf_counter() - start
    record_property("seconds", round(seconds, 1))
    print(f"{path.name}: {seconds:.1f} s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    ran = [c for c in nb.cells if c.cell_type == "code"]
    assert ran and all(c.execution_count is not None for c in ran), "every code cell ran"
