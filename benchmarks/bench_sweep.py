"""Wall time of an interactive benchmark sweep (issue: simrec bench).

5 recommenders × 3 seeds on MovieLens 100K: all 943 users, 5 pages of 10 items a
day for 5 days, choice mode, every recommender refitting in the loop every 2 days,
cells in local processes (one per core). Prints the wall time of every cell, the
sweep's total (target: under 3 minutes on 2 cores) and the leaderboard.

Usage: python benchmarks/bench_sweep.py [--data ../shared/data/ml-100k]
       [--recs most_popular item_knn mf lightgcn sasrec] [--seeds 3] [--steps 5] [--executor local]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from simrec.bench.leaderboard import format_ci
from simrec.bench.runner import run_bench
from simrec.bench.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ml-100k"))
    ap.add_argument("--recs", nargs="+", default=["most_popular", "item_knn", "mf", "lightgcn", "sasrec"])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--executor", default="local")
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = load_spec(
            None,
            name="sweep",
            scenarios=[str(ROOT / "scenarios" / "ml100k_compare.yaml")],
            recommenders=args.recs,
            seeds=args.seeds,
            steps=args.steps,
            retrain_every=2,
            executor=args.executor,
            workers=args.workers,
            output_dir=tmp,
            overrides=[f"environment.data.path={args.data}", "environment.page_size=10",
                       "environment.pages_per_session=5", "policy.name=choice"],  # fmt: skip
        )
        start = time.perf_counter()
        result = run_bench(spec)
        wall = time.perf_counter() - start
    cells = result.cells.sort_values(["recommender", "seed"])
    print(f"{len(cells)} cells ({len(args.recs)} recommenders × {args.seeds} seeds), ml-100k, 943 users, "
          f"{args.steps} days × 5 pages of 10, refit every 2 days, executor {args.executor}")  # fmt: skip
    print(f"{'recommender':<14} {'seed':>4} {'wall s':>7} {'click rate':>10} {'recall':>7}")
    for r in cells.itertuples():
        print(f"{r.recommender:<14} {r.seed:>4} {r.wall_s:>7.1f} {r.click_rate:>10.3f} {r.recall:>7.3f}")
    print(f"sum of cell times {cells['wall_s'].sum():.1f} s; sweep wall time {wall:.1f} s (target < 180 s)")
    print("leaderboard (mean ± 95% CI):")
    for r in result.leaderboard.to_dict("records"):
        print(f"  {r['rank']}. {r['recommender']:<14} click rate {format_ci(r['click_rate'], r['click_rate_ci95'])}"
              f"  recall {format_ci(r['recall'], r['recall_ci95'])}  coverage {format_ci(r['coverage'], r['coverage_ci95'])}")  # fmt: skip


if __name__ == "__main__":
    main()
