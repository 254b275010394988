"""Agent memory at scale: ChromaDB writes, batched retrieval, reopen time.

10,000 agents x 100 memories ("watched <title>, rated <r>: <reason>"), hashing
embedder, a persistent ChromaMemoryStore in a temporary folder. The run is
written the way a simulation writes it: one step = one memory per agent, one
``flush()`` per step. Chroma writes stop once ``--write-budget-s`` is spent;
the remaining steps go into the in-process mirror only (retrieval never reads
Chroma), and write and reopen figures for the full size are extrapolated and
labelled so. Then one batched ``query`` for all agents (k=5), peak RSS, and
the time to reopen the store (mirror loaded back from Chroma).

Usage: python benchmarks/memory.py [--agents 10000] [--per-agent 100] [--write-budget-s 200]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from simrec.memory.base import MemoryRecord
from simrec.memory.chroma import ChromaMemoryStore
from simrec.memory.embedders import HashingEmbedder

ADJ = (
    "dark",
    "silent",
    "golden",
    "lost",
    "broken",
    "hidden",
    "last",
    "wild",
    "frozen",
    "electric",
    "crimson",
    "distant",
    "quiet",
    "burning",
    "secret",
    "endless",
    "little",
    "iron",
    "hollow",
    "bright",
)
NOUN = (
    "river",
    "empire",
    "garden",
    "signal",
    "harbor",
    "mirror",
    "planet",
    "forest",
    "machine",
    "kingdom",
    "winter",
    "shadow",
    "voyage",
    "circus",
    "orchard",
    "frontier",
    "lantern",
    "canyon",
    "island",
    "station",
)
REASON = (
    "great acting",
    "too slow",
    "loved the soundtrack",
    "predictable plot",
    "funny and warm",
    "beautiful photography",
    "confusing ending",
    "tense from start to end",
    "boring middle part",
    "my friends recommended it",
    "strong characters",
    "weak dialogue",
    "felt too long",
    "surprisingly moving",
    "silly but fun",
    "not my genre",
)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_records(rng: np.random.Generator, agents: int, step: int) -> list[MemoryRecord]:
    """One memory per agent for ``step``."""
    adj, noun = rng.integers(0, len(ADJ), agents), rng.integers(0, len(NOUN), agents)
    rating, reason = rng.integers(1, 6, agents), rng.integers(0, len(REASON), agents)
    imp = np.round(rng.uniform(0.05, 1.0, agents), 3)
    return [
        MemoryRecord(
            a,
            step,
            "rating",
            f"watched The {ADJ[adj[a]].title()} {NOUN[noun[a]].title()}, "
            f"rated {rating[a]}: {REASON[reason[a]]}",
            float(imp[a]),
        )
        for a in range(agents)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=10_000)
    ap.add_argument("--per-agent", type=int, default=100)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument(
        "--write-budget-s",
        type=float,
        default=200.0,
        help="stop writing to Chroma after this many seconds of flushes",
    )
    args = ap.parse_args()
    n_total = args.agents * args.per_agent
    rng = np.random.default_rng(0)
    embedder = HashingEmbedder(dim=256)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "memory"
        store = ChromaMemoryStore(path, "bench", embedder)
        print(
            f"memory benchmark: {args.agents:,} agents x {args.per_agent} memories = {n_total:,} records, "
            f"hashing dim 256, Chroma batch {store.batch_size}"
        )
        written_steps = 0
        t_flush = 0.0
        mirror_only_embed_s = 0.0
        for step in range(args.per_agent):
            recs = step_records(rng, args.agents, step)
            if t_flush < args.write_budget_s:
                t0 = time.perf_counter()
                store.add(recs)
                store.flush()
                t_flush += time.perf_counter() - t0
                written_steps += 1
            else:  # budget spent: only the mirror (all that retrieval reads) gets the rest
                t0 = time.perf_counter()
                vecs = embedder.embed([r.text for r in recs])
                mirror_only_embed_s += time.perf_counter() - t0
                store.mirror.append(recs, vecs)
        written = int(store.stats["written"])
        embed_s, write_s = store.stats["embed_s"], store.stats["write_s"]
        print("\nwrite (one flush per step, 1 memory per agent per step)")
        print(
            f"  written to Chroma      {written:>12,} records in {written_steps} steps "
            f"({t_flush:.1f} s of flushes)"
        )
        print(
            f"  embedding (hashing)    {store.stats['embedded'] / embed_s:>12,.0f} records/s "
            f"({store.stats['embedded']:,} texts, {embed_s:.1f} s; "
            f"+{mirror_only_embed_s:.1f} s for the mirror-only rest)"
        )
        print(f"  Chroma add             {written / write_s:>12,.0f} records/s ({write_s:.1f} s)")
        print(
            f"  flush per step         {t_flush / written_steps:>12.2f} s for {args.agents:,} records"
        )
        if written < n_total:
            first = write_s / written
            est = n_total * first
            print(
                f"  EXTRAPOLATED: Chroma add of all {n_total:,} records ~ {est:,.0f} s ({est / 60:.1f} min) at "
                "the measured mean rate (the rate drops as the collection grows: a lower bound)"
            )

        queries = [
            f"a {REASON[i % len(REASON)]} film like The {ADJ[i % len(ADJ)].title()}"
            for i in range(args.agents)
        ]
        agents = list(range(args.agents))
        store.query(agents[:10], queries[:10], args.k, args.per_agent)  # builds the agent index
        e0 = store.stats["embed_s"]
        t0 = time.perf_counter()
        hits = store.query(agents, queries, args.k, args.per_agent)
        dt = time.perf_counter() - t0
        q_embed = store.stats["embed_s"] - e0
        assert all(len(h) == args.k for h in hits)
        print(
            f"\nretrieval: one batched query, {args.agents:,} agents, k={args.k}, mirror of {store.mirror.n:,} records"
        )
        print(
            f"  total                  {dt:>12.2f} s  ({1000 * dt / args.agents:.3f} ms per agent; target < 2 ms)"
        )
        print(f"    of which embedding   {q_embed:>12.2f} s")
        print(f"  peak RSS so far        {peak_rss_mb():>12,.0f} MB")

        del hits
        store.close()  # nothing left to write: mirror-only records were never queued for Chroma
        del store  # frees the mirror before the reopened store loads its own
        t0 = time.perf_counter()
        reopened = ChromaMemoryStore(path, "bench", embedder)
        dt = time.perf_counter() - t0
        n = reopened.mirror.n
        print(
            f"\nreopen: {n:,} records loaded into the mirror in {dt:.1f} s ({n / dt:,.0f} records/s)"
        )
        if n < n_total:
            print(
                f"  EXTRAPOLATED: reopening {n_total:,} records ~ {n_total / (n / dt):,.0f} s (linear)"
            )
        reopened.close()
        print(f"  peak RSS               {peak_rss_mb():>12,.0f} MB")
        du = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        print(f"  on disk                {du / 2**20:>12,.0f} MB for {n:,} records")


if __name__ == "__main__":
    main()
