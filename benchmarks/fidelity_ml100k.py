"""The fidelity scorecard on MovieLens 100K (issue: simrec fidelity).

Choice mode on every eligible user, uniform and popularity-matched negatives, all
four ratios, rating RMSE/MAE/JS on all held-out rated items and a 3-step
simulation; then, unless ``--llm-users 0``, hybrid mode on the embedded model
with that many LLM-driven users (1:1 only, both negative kinds), with its wall
time. Targets (issue 7): 1:1 accuracy >= 0.80, RMSE <= 0.95, JS <= 0.05.

Usage: python benchmarks/fidelity_ml100k.py [--data ../shared/data/ml-100k] [--llm-users 10] [--set k=v ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from simrec.config import load_scenario
from simrec.fidelity.scorecard import run_fidelity

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ml-100k"))
    ap.add_argument("--llm-users", type=int, default=10)
    ap.add_argument("--set", nargs="*", default=[], dest="overrides")
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    with tempfile.TemporaryDirectory() as tmp:
        over = [f"environment.data.path={Path(args.data).resolve()}", f"run.output_dir={tmp}", *args.overrides]
        cfg = load_scenario(ROOT / "scenarios" / "ml100k_compare.yaml", over)
        runs = [("choice", {})]
        if args.llm_users:
            runs.append(("hybrid", {"ratios": ("1:1",), "llm_users": args.llm_users, "simulate_steps": 0}))
        for mode, kw in runs:
            start = time.perf_counter()
            table = run_fidelity(cfg, modes=(mode,), **kw)
            print(f"\n== {mode} ({time.perf_counter() - start:.1f} s)")
            print(table.drop(columns=["llm_users", "accuracy_llm", "llm_fallbacks"] if mode == "choice" else []).to_string(index=False))
            print(pd.DataFrame(table.attrs["ratings"]).iloc[:, :6].to_string(index=False))
            md = (Path(table.attrs["folder"]) / "scorecard.md").read_text()
            if "## Simulated behaviour" in md:
                print(md[md.index("## Simulated behaviour") :])


if __name__ == "__main__":
    main()
