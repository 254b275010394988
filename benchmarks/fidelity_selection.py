"""Issue 15: default, previously calibrated and validation-selected agents on held-out data.

For each split seed and split kind (random 80/20, temporal 80/20) of MovieLens 100K:

1. **default** agents (``scenarios/ml100k_compare.yaml``: nothing fitted);
2. **previous calibrated** agents (``scenarios/ml100k_fidelity.yaml`` with the settings
   it had before the selection: fixed picks, fitted on 1:1 lists with uniform negatives,
   natural choice noise);
3. **selected** agents: ``--select-on validation`` (every setting chosen on a validation
   part of the training split, :mod:`simrec.fidelity.select`), then calibrated and scored.

Every row is scored on the held-out split in choice mode at all four ratios with both
kinds of negatives (every eligible user), plus rating fidelity. Nothing printed here
feeds back into any default: the selection sees training data only.

Usage: python benchmarks/fidelity_selection.py [--data ../shared/data/ml-100k] [--seeds 7 11]
       [--splits random temporal]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from simrec.config import load_scenario
from simrec.fidelity.calibrate import calibrate_world
from simrec.fidelity.scorecard import measure_fidelity, select_agents
from simrec.fidelity.select import apply_overrides
from simrec.world.build import build_world

ROOT = Path(__file__).resolve().parents[1]
#: The settings scenarios/ml100k_fidelity.yaml had before issue 15.
PREVIOUS = {"policy.choice.picks": "fixed", "agents.calibration.ratio": "1:1",
            "agents.calibration.negatives": ["uniform"], "agents.calibration.natural_noise": 0.485,
            "agents.calibration.js_budget": 0.04, "agents.taste.ease_reg": None,
            "agents.calibration.contrast": False}  # fmt: skip


def _row(agents: str, seed: int, split: str, fid) -> pd.DataFrame:
    card = fid.scorecard.copy()
    card.insert(0, "agents", agents)
    card.insert(1, "seed", seed)
    card.insert(2, "split", split)
    r = fid.ratings.iloc[0]
    card["rmse"], card["js"] = float(r["rmse"]), float(r["js_divergence"])
    return card


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ml-100k"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 11])
    ap.add_argument("--splits", nargs="+", default=["random", "temporal"])
    ap.add_argument("--out", default="/tmp/fidelity_selection.csv")
    args = ap.parse_args()
    parts, chosen = [], []
    for split in args.splits:
        for seed in args.seeds:
            over = [f"environment.data.path={args.data}", f"environment.data.split.kind={split}", f"seed={seed}"]
            t = time.perf_counter()
            default = load_scenario(ROOT / "scenarios" / "ml100k_compare.yaml", over)
            parts.append(_row("default", seed, split, measure_fidelity(default, simulate_steps=0)))
            cfg = load_scenario(ROOT / "scenarios" / "ml100k_fidelity.yaml", over)
            prev = apply_overrides(cfg, PREVIOUS)
            world = build_world(prev, seed)
            fid = measure_fidelity(prev, simulate_steps=0, world=calibrate_world(prev, world, seed))
            parts.append(_row("previous calibrated", seed, split, fid))
            new, nworld, sel = select_agents(cfg, seed, "validation", None)
            fid = measure_fidelity(new, simulate_steps=0, world=nworld)
            parts.append(_row("selected", seed, split, fid))
            chosen.append({"split": split, "seed": seed, **sel.to_json(), "select_s": round(sel.seconds, 1)})
            print(f"{split} seed {seed}: chose {sel.chosen.name} ({time.perf_counter() - t:.0f} s)", flush=True)
            pd.concat(parts).to_csv(args.out, index=False)
    table = pd.concat(parts)
    wide = table.pivot_table(index=["agents", "split", "seed"], columns=["negatives", "ratio"], values="accuracy")
    pd.set_option("display.width", 250)
    print("\naccuracy (held-out)\n" + wide.round(3).to_string())
    f1 = table.pivot_table(index=["agents", "split", "seed"], columns=["negatives", "ratio"], values="f1")
    print("\nF1 (held-out)\n" + f1.round(3).to_string())
    picked = table.pivot_table(index=["agents", "split", "seed"], columns=["negatives", "ratio"], values="picked")
    print("\npicks of 20 (held-out)\n" + picked.round(1).to_string())
    rat = table.groupby(["agents", "split", "seed"])[["rmse", "js"]].first()
    print("\nratings (held-out)\n" + rat.round(4).to_string())
    spread = table.groupby(["agents", "split", "negatives", "ratio"])["accuracy"].agg(["mean", "min", "max"])
    print("\naccuracy over seeds\n" + spread.round(3).to_string())
    for c in chosen:
        print(f"chosen {c['split']} seed {c['seed']}: {c['chosen']} (validation objective {c['objective_value']:.3f}, "
              f"{c['select_s']} s)")  # fmt: skip


if __name__ == "__main__":
    main()
