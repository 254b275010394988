"""What a checkpoint costs: its size and write time, on ml-100k (MF in the loop) and on 100,000 synthetic users.

Builds each scenario's model as a run does, plays --steps steps, writes a checkpoint after
each and prints its size and time, the step time, and the cost per step at the default
run.checkpoint_every.

Usage: python benchmarks/checkpoint_cost.py [--ml100k PATH] [--users 100000] [--steps 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from simrec.config import load_scenario
from simrec.config.schema import RunConfig
from simrec.env.checkpoint import save_checkpoint
from simrec.env.runner import Parts, build_parts
from simrec.io.run_folder import RunFolder

ROOT = Path(__file__).resolve().parents[1]


def measure(label: str, scenario: Path | str, sets: list[str], steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_scenario(scenario, [*sets, f"run.output_dir={tmp}", "run.report=false", "run.export=[]"])
        folder = RunFolder.create(cfg)
        parts = Parts()
        model = build_parts(cfg, folder, None, parts, {})
        step_s, ck_s, size = [], [], 0
        for s in range(1, steps + 1):
            t = time.perf_counter()
            model.step()
            step_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            written = save_checkpoint(model, folder.path, s)
            ck_s.append(time.perf_counter() - t)
            size = written.path.stat().st_size
        parts.close(folder)
        every = RunConfig().checkpoint_every
        mean_ck, mean_step = sum(ck_s) / len(ck_s), sum(step_s) / len(step_s)
        print(f"{label:<28} checkpoint {size / 2**20:7.1f} MiB, {mean_ck:6.2f} s to write "
              f"(step {mean_step:6.2f} s; every {every} steps: +{mean_ck / every / mean_step:.1%} a step)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ml100k", default=str(ROOT.parent / "shared" / "data" / "ml-100k"))
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    measure("ml-100k, MF in the loop", ROOT / "scenarios" / "ml100k_mf.yaml",
            [f"environment.data.path={args.ml100k}"], args.steps)  # fmt: skip
    measure(f"{args.users:,} synthetic users", ROOT / "scenarios" / "quickstart.yaml",
            ["policy.name=choice", f"environment.data.n_users={args.users}", "environment.data.n_items=5000"],
            args.steps)  # fmt: skip


if __name__ == "__main__":
    main()
