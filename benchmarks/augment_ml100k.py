"""Augmentation lift on MovieLens 100K cold-start users (issue 7, ``simrec augment``).

Every user's training data is down-sampled to at most 5 interactions
(``split.max_train=5``, ``cold_share=1``: all 943 users are cold; ``--cold-share
0.3`` cuts a seeded 30%); held-out (20% of each user's ratings) is untouched. The
agents (built from that training data only) are simulated for ``--steps`` (1)
under ``--loop-rec`` (``most_popular``; ``scenario``: the scenario's own); the
cold users' watches are added to the real training data, and MF trained on
real-only, real + synthetic, real + popularity control (same rows per user,
unseen items drawn in proportion to popularity) and real + top-popular control
(the user's most popular unseen items) is scored with Recall@10 / NDCG@10 on the
real held-out interactions, next to a plain most-popular ranking. Prints the
table (mean over seeds, lifts with 95% t-interval and paired t-test p-value).

Measured (5 seeds, cold users, Recall@10): all users cut, scenario MF (32
factors, reg 0.05, alpha 10): real-only 0.0609, real+synthetic 0.0734 (lift
+0.0125 ± 0.0053, p 0.003), control 0.0443, top-popular 0.0703 (lift over it
+0.0031 ± 0.0032, p 0.058), most-popular 0.0826. ``--cold-share 0.3``: 0.0907 ->
0.0968 (+0.0061 ± 0.0020, p 0.001; over top-popular +0.0069 ± 0.0045, p 0.013;
most-popular 0.0838). A regularised MF (``--rec-param factors=8 --rec-param
reg=10 --rec-param alpha=1``) beats most-popular on real data alone and loses
with every augmentation tried (see README).

Usage: python benchmarks/augment_ml100k.py [--data ../shared/data/ml-100k] [--seeds 5]
       [--steps 1] [--loop-rec most_popular] [--max-train 5] [--cold-share 1.0] [--users cold]
       [--rec mf] [--rec-param k=v ...] [--min-rating R] [--max-per-user N]
       [--scenario scenarios/ml100k_mf.yaml] [--set k=v ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from simrec.augment.study import run_augment
from simrec.augment.writers import SUMMARY_HEADER, summary_rows
from simrec.config import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ml-100k"))
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "ml100k_mf.yaml"))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--max-train", type=int, default=5)
    ap.add_argument("--cold-share", type=float, default=1.0)
    ap.add_argument("--users", default="cold")
    ap.add_argument("--rec", default="mf")
    ap.add_argument(
        "--min-rating", type=float, default=None, help="keep synthetic watches rated at least this"
    )
    ap.add_argument("--loop-rec", default="most_popular",
                    help="recommender the agents are simulated under ('scenario': the scenario's own)")
    ap.add_argument("--max-per-user", type=int, default=None, help="keep at most N synthetic watches per user")
    ap.add_argument("--rec-param", dest="rec_params", action="append", default=[],
                    help="k=v parameter of the evaluated recommender (repeatable)")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument(
        "--out", default=None, help="keep the study folder here (default: a temporary folder)"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        overrides = [f"environment.data.path={args.data}", f"run.output_dir={args.out or tmp}",
                     f"environment.data.split.max_train={args.max_train}",
                     f"environment.data.split.cold_share={args.cold_share}", *args.sets]  # fmt: skip
        cfg = load_scenario(Path(args.scenario), overrides)
        start = time.perf_counter()
        study = run_augment(
            cfg,
            users=args.users,
            seeds=args.seeds,
            steps=args.steps,
            rec=args.rec,
            rec_params={k: yaml.safe_load(v) for k, _, v in (p.partition("=") for p in args.rec_params)} or None,
            min_rating=args.min_rating,
            loop_rec=None if args.loop_rec == "scenario" else args.loop_rec,
            max_per_user=args.max_per_user,
        )
        wall = time.perf_counter() - start
        print(f"{cfg.name}: max_train={args.max_train}, cold_share={args.cold_share}, users={args.users}, "
              f"steps={args.steps}, seeds={args.seeds}, rec={args.rec}, rec_params={args.rec_params}, "
              f"min_rating={args.min_rating}, loop_rec={args.loop_rec}, max_per_user={args.max_per_user}, sets={args.sets}")  # fmt: skip
        print(study.lift.to_string(index=False))
        print("| " + " | ".join(SUMMARY_HEADER) + " |")
        for row in summary_rows(study.summary):
            print("| " + " | ".join(str(c) for c in row) + " |")
        print(f"wall time {wall:.1f} s")


if __name__ == "__main__":
    main()
