"""The full fuzzing budget: ≥ 1,000 scenario mutations and ≥ 10,000 LLM replies (CI runs fewer).

Runs tests/test_fuzz_scenarios.py (two base scenarios × --scenarios mutations, each through
`simrec validate` and `simrec run`) and tests/test_fuzz_llm.py (--replies replies through the
parsers and both page protocols), seeded, and prints the counts and the outcome.

Usage: python benchmarks/fuzz.py [--scenarios 500] [--replies 10000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", type=int, default=500, help="mutations per base scenario (two bases)")
    ap.add_argument("--replies", type=int, default=10_000, help="LLM replies in all")
    args = ap.parse_args()
    env = {**os.environ, "SIMREC_FUZZ_SCENARIOS": str(args.scenarios), "SIMREC_FUZZ_REPLIES": str(args.replies)}
    for name, what in (("tests/test_fuzz_scenarios.py", f"{2 * args.scenarios:,} scenario mutations"),
                       ("tests/test_fuzz_llm.py", f"{args.replies:,} LLM replies")):  # fmt: skip
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:warnings", name], cwd=ROOT, env=env,
                              capture_output=True, text=True)  # fmt: skip
        tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
        print(f"{what:>28}: {'ok' if proc.returncode == 0 else 'FAILED'} in {time.perf_counter() - t:,.0f} s ({tail})")
        if proc.returncode:
            print(proc.stdout[-4000:])


if __name__ == "__main__":
    main()
