"""Sharded populations on Ray (issue 17): throughput per shard count, and the identity check.

Runs one choice-mode synthetic scenario (default 200,000 users × 10,000 items, pages of
10, most-popular recommender, 3 steps, ``run.log: events``) unsharded with per-user
random streams, then with ``run.shards`` = 1, 2 and 3 on one Ray instance, and prints
for each: wall time of the simulated steps, impressions per second, and whether its
files equal the unsharded run's (``metrics.parquet``, ``users.parquet`` and
``train.parquet`` byte for byte; the event table row for row once put in canonical
order, :func:`simrec.env.shards.canonical_events`, since each shard writes parts of
its own).

On one small machine expect no gain: the shards share its cores, and every step ships
each shard's slates and states through Ray's object store; the figures show that
overhead. On a cluster, start Ray there (``ray start --head`` on one node, ``ray start
--address=HEAD:6379`` on the others) and pass ``--ray-address auto`` (from a node of the
cluster) or ``ray://HEAD:10001`` (from outside, through Ray Client): the shards then run
one per CPU slot wherever Ray places them; the same setting is ``run.ray_address`` in a
scenario.

Usage: python benchmarks/shards.py [--users 200000] [--items 10000] [--steps 3]
       [--shards 1 2 3] [--ray-address ADDRESS] [--log events|interactions|aggregates]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from simrec.config import load_scenario
from simrec.env.runner import run_scenario
from simrec.env.shards import canonical_events
from simrec.io.events import read_events

ROOT = Path(__file__).resolve().parents[1]
SAME_FILES = ("metrics.parquet", "users.parquet", "train.parquet")


def scenario(args: argparse.Namespace, out: Path, shards: int) -> object:
    overrides = [
        f"environment.data.n_users={args.users}", f"environment.data.n_items={args.items}",
        "environment.page_size=10", "recommender.name=most_popular", f"run.steps={args.steps}",
        f"run.output_dir={out / f'shards{shards}'}", "run.export=[]", "run.report=false", f"run.log={args.log}",
        "run.random_streams=per_user", f"run.shards={shards}",  # one run name: it is in the event table
    ]  # fmt: skip
    if args.ray_address:
        overrides.append(f"run.ray_address={args.ray_address}")
    return load_scenario(
        data={"name": "bench_shards", "seed": 1, "environment": {"from": str(ROOT / "environments/synthetic_large.yaml")}},
        overrides=overrides,
    )


def same_as(a: Path, b: Path, log: str) -> bool:
    files = all((a / n).read_bytes() == (b / n).read_bytes() for n in SAME_FILES)
    if log == "aggregates":
        return files
    ea, eb = canonical_events(read_events(a)), canonical_events(read_events(b))
    return files and list(ea.columns) == list(eb.columns) and all(same_column(ea[c], eb[c]) for c in ea.columns)


def same_column(x: pd.Series, y: pd.Series) -> bool:
    """Equal values (categoricals by category and code, NaN equal to NaN), at numpy speed."""
    if isinstance(x.dtype, pd.CategoricalDtype) or isinstance(y.dtype, pd.CategoricalDtype):
        x, y = x.astype("category"), y.astype("category")
        return list(x.cat.categories) == list(y.cat.categories) and np.array_equal(x.cat.codes, y.cat.codes)
    u, v = x.to_numpy(), y.to_numpy()
    return u.shape == v.shape and bool(np.array_equal(u, v, equal_nan=u.dtype.kind == "f"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--shards", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--ray-address", default=None, help="a running Ray cluster (auto, ray://HOST:10001); default: local")
    ap.add_argument("--log", choices=("events", "interactions", "aggregates"), default="events")
    args = ap.parse_args()

    import ray

    kwargs: dict[str, object] = {"include_dashboard": False, "log_to_driver": False}
    if args.ray_address:
        kwargs["address"] = args.ray_address
    else:
        kwargs["num_cpus"] = max(max(args.shards), os.cpu_count() or 1)
    t0 = time.perf_counter()
    ray.init(**kwargs)
    print(f"Ray: {ray.cluster_resources().get('CPU', 0):.0f} CPU slots, started in {time.perf_counter() - t0:.1f} s "
          f"({'cluster ' + args.ray_address if args.ray_address else 'local instance'}); this machine has "
          f"{os.cpu_count()} cores")  # fmt: skip
    print(f"world: {args.users:,} users x {args.items:,} items, page 10, {args.steps} steps, most_popular, "
          f"choice policy, per-user streams, run.log={args.log}")  # fmt: skip
    print(f"{'run':<12} {'simulate s':>10} {'impressions':>13} {'impressions/s':>14} {'per shard/s':>12}  same files")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        ref = run_scenario(scenario(args, out, 0))
        imp = ref.totals["impressions"]
        sim = ref.timings["simulate"]
        print(f"{'unsharded':<12} {sim:10.2f} {imp:13,} {imp / sim:14,.0f} {'':>12}  (reference)")
        for n in args.shards:
            res = run_scenario(scenario(args, out, n))
            sim = res.timings["simulate"]
            same = same_as(ref.run_dir, res.run_dir, args.log)
            print(f"{f'{n} shard' + ('s' if n > 1 else ''):<12} {sim:10.2f} {res.totals['impressions']:13,} "
                  f"{res.totals['impressions'] / sim:14,.0f} {res.totals['impressions'] / sim / n:12,.0f}  "
                  f"{'yes' if same else 'NO'}")  # fmt: skip
    ray.shutdown()


if __name__ == "__main__":
    main()
