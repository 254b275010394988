"""Tokens per page decision of LLM-driven agents (issue: agent minds).

Runs short `llm` and `hybrid` simulations on MovieLens 100K with the default
embedded backend (bundled Gemma 3 270M via llama.cpp), pages of 5 items, and
prints the LLM layer's own accounting: prompt and completion tokens per page
decision (first attempts and repairs included), calls per decision, validity,
and decisions per second. Target: at most 500 tokens (prompt + completion) per
page decision of 5 items on average (Agent4Rec spends about 2,000).

Usage: python benchmarks/llm_tokens.py [--data ../shared/data/ml-100k] [--users 6] [--steps 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pandas as pd

from simrec.config import load_scenario
from simrec.env.runner import run_scenario

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ml-100k"))
    ap.add_argument("--users", type=int, default=6, help="LLM-driven users")
    ap.add_argument("--steps", type=int, default=2)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("llm", "hybrid"):
            over = [
                f"environment.data.path={args.data}",
                "environment.page_size=5",
                "environment.pages_per_session=3",
                "environment.social.builder=none",
                f"policy.name={mode}",
                f"policy.llm.llm_users={args.users}",
                f"run.steps={args.steps}",
                f"run.output_dir={tmp}",
                f"run.name={mode}",
                "run.export=[]",
                "llm.cache.enabled=false",
                "agents.memory.reflect_every=0",
            ]
            if mode == "llm":
                over.append(f"environment.data.max_users={args.users}")
            cfg = load_scenario(ROOT / "scenarios" / "ml100k_compare.yaml", over)
            result = run_scenario(cfg)
            m = pd.read_parquet(result.run_dir / "metrics.parquet")
            llm = json.loads((result.run_dir / "manifest.json").read_text())["llm"]
            decisions = int(m["llm_decisions"].sum() + m["llm_fallbacks"].sum())
            prompt, completion = llm["prompt_tokens"], llm["completion_tokens"]
            rows.append(
                {
                    "mode": mode,
                    "page decisions": decisions,
                    "calls": llm["calls"],
                    "valid": int(m["llm_decisions"].sum()),
                    "fallbacks": int(m["llm_fallbacks"].sum()),
                    "prompt tok/decision": round(prompt / decisions, 1),
                    "completion tok/decision": round(completion / decisions, 1),
                    "total tok/decision": round((prompt + completion) / decisions, 1),
                    "decisions/s": round(decisions / result.timings["simulate"], 2),
                }
            )
    print("MovieLens 100K, pages of 5 items, embedded Gemma 3 270M (llama.cpp, 2 threads)")
    print(pd.DataFrame(rows).to_string(index=False))
    print("target: total tokens per page decision <= 500 on average (Agent4Rec: about 2,000)")


if __name__ == "__main__":
    main()
