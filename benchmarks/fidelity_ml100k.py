"""The fidelity scorecard on MovieLens 100K (issue 7: simrec fidelity).

Prints, for ``scenarios/ml100k_fidelity.yaml`` (calibrated agents, every
eligible user, uniform and popularity-matched negatives, all four ratios):

1. the uncalibrated baseline (``ml100k_compare.yaml``, default agents), choice mode;
2. the calibrated scorecard in choice mode, with ratings and a short simulation;
3. hybrid mode on the embedded model with ``--llm-users`` LLM-driven users
   (1:1, both negative kinds; the LLM-driven users' own accuracy separately);
4. LLM-driven rows (``--llm-rows N``): the same N users in ``llm`` mode and in ``hybrid``
   mode with every user LLM-driven, on the untuned embedded model and, when
   ``simrec tune`` made an adapter for the scenario, the tuned one; 1:1 and 1:9 with
   uniform negatives (``--llm-negatives`` adds popularity-matched ones), next to choice mode on those users (texts off: the protocol
   scores decisions, and the rows time decisions, not prose); ``llm`` mode once per
   ``--llm-temperatures`` value (``policy.llm.watch_temperature``: 1 draws watches from
   the model's probabilities, 0 answers greedily). The rows of one model share a replay
   cache, so only the first row of a model is timed cold;
5. how 1:1 accuracy moves with ``choice_noise`` (the one parameter calibration
   cannot fit from choices; it takes it from users' own rating inconsistency);
6. the error / star-distribution trade-off of the star cut-points: cut-points
   fitted out of fold on training for several JS budgets, scored on held-out.

Targets (issue 7): 1:1 accuracy >= 0.80, held-out RMSE <= 0.95, JS <= 0.05 in
choice and hybrid modes.

Usage: python benchmarks/fidelity_ml100k.py [--data ../shared/data/ml-100k] [--llm-users 10]
       [--llm-rows 200] [--only-llm-rows] [--llm-models untuned tuned] [--llm-temperatures 1 0]
       [--set k=v ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from simrec.agents.policies.choice import ChoicePolicy
from simrec.config import load_scenario
from simrec.fidelity import ratings as rf
from simrec.fidelity.calibrate import calibrate_world, fit_star_cuts
from simrec.fidelity.protocol import build_lists, run_protocol, score_choices
from simrec.fidelity.scorecard import measure_fidelity
from simrec.world.build import build_world

ROOT = Path(__file__).resolve().parents[1]
_HIDE = ["llm_users", "accuracy_llm", "llm_fallbacks", "skipped"]


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _show(title: str, fid, seconds: float, hide: list[str]) -> None:
    print(f"\n== {title} ({seconds:.1f} s)")
    print(fid.scorecard.drop(columns=[c for c in hide if c in fid.scorecard]).round(3).to_string(index=False))
    cols = ["mode", "rmse", "mae", "n_rated", "js_divergence", "rmse_llm", "n_rated_llm"]
    cols += [c for c in fid.ratings if c.startswith("sim_")]
    print(fid.ratings[cols].round(4).to_string(index=False))
    if fid.behaviour:
        b = fid.behaviour
        print(f"simulation {b['steps']} steps: popularity Spearman {b['spearman']:.3f}, Pearson {b['pearson']:.3f}, "
              f"mean pages/session {b['mean_pages']:.2f}")  # fmt: skip


def _llm_rows(cfg, world, tmp: Path, users: int, over: list[str], ratios=("1:1", "1:9"), modes=("llm", "hybrid"),
             models=("untuned", "tuned"), temperatures=(1.0,), negs=("uniform",)) -> None:  # noqa: ANN001
    from simrec.io.adapters import resolve_llm

    quiet = ["policy.llm.reason_rate=0", "policy.llm.review_rate=0", "agents.memory.reflect_every=0",
             "policy.llm.llm_share=1.0"]  # fmt: skip
    start = time.perf_counter()
    fid = measure_fidelity(cfg, modes=("choice",), ratios=ratios, negatives=negs, users=users, simulate_steps=0,
                           folder=_mkdir(tmp / "rows-choice"), world=world)  # fmt: skip
    _show(f"choice mode, the same {users} users", fid, time.perf_counter() - start, _HIDE)
    tuned = resolve_llm(cfg).adapter
    runs = [("untuned", "none")] + ([("tuned", tuned)] if tuned != "none" else [])
    for name, adapter in [(n, a) for n, a in runs if n in models]:
        shared = [f"llm.adapter={adapter}", f"llm.cache.path={tmp / f'cache-{name}.sqlite'}", *quiet]
        rows = [(m, t) for m in modes for t in (temperatures if m == "llm" else (1.0,))]
        for mode, temp in rows:
            c = load_scenario(ROOT / "scenarios" / "ml100k_fidelity.yaml",
                              [*over, *shared, f"policy.llm.watch_temperature={temp}"])  # fmt: skip
            start = time.perf_counter()
            fid = measure_fidelity(c, modes=(mode,), ratios=ratios, negatives=negs, users=users, simulate_steps=0,
                                   folder=_mkdir(tmp / f"rows-{name}-{mode}-{temp:g}"), world=world)  # fmt: skip
            label = f"{mode} mode" + (f" (watch_temperature {temp:g})" if mode == "llm" else "")
            _show(f"{label}, {name} SmolLM2-135M ({adapter}), {users} users", fid, time.perf_counter() - start,
                  ["skipped"])  # fmt: skip
    if tuned != "none":
        from simrec.io.adapters import read_meta

        meta = read_meta(Path(tuned).parent)
        if meta:
            r = meta["result"]
            print(f"tuning: {r['steps_done']} steps, {r['train_seconds']:.0f} s training, {r['seconds']:.0f} s in all "
                  f"on {r['threads']} threads ({r['precision']}); validation AUC {r['valid_auc']}; "
                  f"watch accuracy {r.get('valid_watch_accuracy')}")  # fmt: skip


def _noise_sweep(cfg, world) -> None:
    params = world.calibration.apply(cfg.policy.choice)
    lists = build_lists(world, "1:1", np.random.default_rng(1))
    print(f"\n== 1:1 uniform accuracy by choice_noise (calibrated: {params.choice_noise:.3f})")
    for noise in (1.0, 0.8, params.choice_noise, 0.4, 0.2, 0.0):
        p = params.model_copy(update={"choice_noise": noise})
        policy = ChoicePolicy(p, world.catalog, world.population, world.taste, np.random.default_rng(2))
        s = score_choices(run_protocol(policy, world, lists).clicks, lists.labels).means()
        print(f"choice_noise {noise:.3f}: accuracy {s['accuracy']:.3f}  F1 {s['f1']:.3f}  picked {s['picked']:.2f}")


def _cut_frontier(world) -> None:
    pred, real = world.taste.rating_oof
    h = world.heldout
    rated = np.isfinite(h.rating)
    hp = world.taste.rating.predict(h.user[rated], h.item[rated])
    hr = h.rating[rated]
    q = rf.star_distribution(hr)
    print(f"\n== star cut-points by JS budget (fitted on {len(real)} out-of-fold training predictions; held-out scores)")
    print(f"continuous held-out RMSE {np.sqrt(np.mean((hp - hr) ** 2)):.4f}; rounded: "
          f"RMSE {np.sqrt(np.mean((np.clip(np.rint(hp), 1, 5) - hr) ** 2)):.4f}, "
          f"JS {rf.js_divergence(rf.star_distribution(np.clip(np.rint(hp), 1, 5)), q):.4f}")  # fmt: skip
    for budget in (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 1.0):
        cuts, fit = fit_star_cuts(pred, real, budget)
        stars = 1 + (hp[:, None] > np.asarray(cuts)).sum(axis=1)
        print(f"budget {budget:.2f}: cuts {', '.join(f'{c:.2f}' for c in cuts)} | training OOF RMSE {fit['rmse']:.4f} "
              f"JS {fit['js_divergence']:.4f} | held-out RMSE {np.sqrt(np.mean((stars - hr) ** 2)):.4f} "
              f"JS {rf.js_divergence(rf.star_distribution(stars), q):.4f}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ml-100k"))
    ap.add_argument("--llm-users", type=int, default=10)
    ap.add_argument("--llm-rows", type=int, default=200, help="users of the LLM-driven rows (0: none)")
    ap.add_argument("--only-llm-rows", action="store_true", help="build the calibrated world, print the LLM rows only")
    ap.add_argument("--llm-ratios", nargs="*", default=["1:1", "1:9"], help="ratios of the LLM-driven rows")
    ap.add_argument("--llm-modes", nargs="*", default=["llm", "hybrid"], help="modes of the LLM-driven rows")
    ap.add_argument("--llm-models", nargs="*", default=["untuned", "tuned"], help="models of the LLM-driven rows")
    ap.add_argument("--llm-temperatures", nargs="*", type=float, default=[1.0, 0.0],
                    help="policy.llm.watch_temperature of the llm-mode rows")
    ap.add_argument("--llm-negatives", nargs="*", default=["uniform"], choices=["uniform", "popularity"],
                    help="negatives of the LLM-driven rows' lists")
    ap.add_argument("--set", nargs="*", default=[], dest="overrides")
    args = ap.parse_args()
    pd.set_option("display.width", 220)
    with tempfile.TemporaryDirectory() as tmp:
        over = [f"environment.data.path={Path(args.data).resolve()}", f"run.output_dir={tmp}", *args.overrides]
        cfg = load_scenario(ROOT / "scenarios" / "ml100k_fidelity.yaml", over)
        start = time.perf_counter()
        world = calibrate_world(cfg, build_world(cfg))
        print(f"\ncalibrated world built in {time.perf_counter() - start:.1f} s; fitted: "
              + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in world.calibration.params.items()))  # fmt: skip
        if args.only_llm_rows:
            _llm_rows(cfg, world, Path(tmp), args.llm_rows, over, tuple(args.llm_ratios), tuple(args.llm_modes),
                      tuple(args.llm_models), tuple(args.llm_temperatures), tuple(args.llm_negatives))
            return
        base = load_scenario(ROOT / "scenarios" / "ml100k_compare.yaml", over)
        start = time.perf_counter()
        _show("baseline: default agents, choice mode", measure_fidelity(base), time.perf_counter() - start, _HIDE)
        start = time.perf_counter()
        fid = measure_fidelity(cfg, simulate_steps=3, folder=Path(tmp), world=world)
        _show("calibrated agents, choice mode", fid, time.perf_counter() - start, _HIDE)
        if args.llm_users:
            start = time.perf_counter()
            hyb = measure_fidelity(cfg, modes=("hybrid",), ratios=("1:1",), llm_users=args.llm_users,
                                   folder=_mkdir(Path(tmp) / "hybrid"), world=world)  # fmt: skip
            _show(f"calibrated agents, hybrid mode, {args.llm_users} LLM-driven users (embedded model)", hyb,
                  time.perf_counter() - start, ["skipped"])  # fmt: skip
        if args.llm_rows:
            _llm_rows(cfg, world, Path(tmp), args.llm_rows, over, tuple(args.llm_ratios), tuple(args.llm_modes),
                      tuple(args.llm_models), tuple(args.llm_temperatures), tuple(args.llm_negatives))
        _noise_sweep(cfg, world)
        _cut_frontier(world)


if __name__ == "__main__":
    main()
