"""Throughput of the default LLM backend (in-process llama.cpp) on this machine.

N page decisions for one user browsing N pages: every prompt is the same long
system prompt and persona followed by a different page of five items, and every
reply is schema-constrained JSON. Runs them with prompt-prefix reuse on and
off, and prints decisions per second, prompt and completion tokens per second,
how many prompt tokens llama.cpp actually evaluated, and the model load time.

Usage: python benchmarks/llm_embedded.py [--n 20] [--model PATH.gguf] [--n-ctx 2048]
       [--threads T] [--max-tokens 96]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


from simrec.llm.base import CallSettings
from simrec.llm.llama_runtime import bundled_model_path, unload_models
from simrec.llm.llamacpp import LlamaCppBackend
from simrec.agents.schemas import page_decision_schema
from simrec.llm.types import LLMRequest

# The reply schema the agents use, bounded to a page of five.
PageDecision = page_decision_schema(5)


SYSTEM = (
    "You simulate one user of a film streaming service for a recommender-system study. "
    "The service shows you a page of five films at a time. Decide as this person would, "
    "given their tastes, mood and history; do not try to be helpful or polite, just be them. "
    "Rules: you may watch any number of the films on the page, including none. You only rate "
    "films you watched, from 1 (hated it) to 5 (loved it). You may leave the service after "
    "this page if nothing appeals or you have watched enough today. "
    "Answer with one JSON object: watch is the list of positions (1-5) you watch, ratings lists "
    "{item, stars} for each film watched, and leave says whether you stop browsing now. "
)
PERSONA = (
    "Persona: Dana, 41, a civil engineer in a mid-sized city, married with two teenagers. "
    "Loves slow-burn thrillers, heist films and well-made documentaries about engineering, "
    "space or nature. Enjoys dry British comedy. Dislikes musicals, horror and romantic "
    "comedies, and gets bored by films over two and a half hours. Watches mostly on weekday "
    "evenings after the children are in bed, rarely more than two films a night. Trusts "
    "friends' recommendations more than the service's. Recently watched and liked: Heat (5), "
    "Apollo 13 (4), Knives Out (4), Free Solo (5), Hot Fuzz (4). Recently disliked: "
    "La La Land (2), The Conjuring (1), Notting Hill (2). Current mood: tired but curious."
)
TITLES = [
    "Ocean's Eleven (heist)", "Mamma Mia! (musical)", "The Martian (sci-fi)", "Hereditary (horror)",
    "Man on Wire (documentary)", "Paddington 2 (comedy)", "Sicario (thriller)", "Love Actually (romcom)",
    "Inside Job (documentary)", "The Italian Job (heist)", "Gravity (sci-fi)", "Shaun of the Dead (comedy)",
    "Zodiac (thriller)", "Cats (musical)", "Planet Earth II (nature)", "Baby Driver (action)",
    "Arrival (sci-fi)", "The Notebook (romance)", "Spotlight (drama)", "Inception (thriller)",
    "Senna (documentary)", "Mean Girls (comedy)", "Gone Girl (thriller)", "Hidden Figures (drama)",
]  # fmt: skip


def pages(n: int, max_tokens: int) -> list[LLMRequest]:
    """``n`` decision requests with the shared system prompt and persona."""
    out = []
    for p in range(n):
        shown = "\n".join(f"{i + 1}. {TITLES[(5 * p + i) % len(TITLES)]}" for i in range(5))
        user = f"{PERSONA}\n\nPage {p + 1} of today's session:\n{shown}\n\nYour decision as JSON:"
        out.append(
            LLMRequest.chat(SYSTEM, user, schema=PageDecision, seed=1000 + p, max_tokens=max_tokens)
        )
    return out


def run(be: LlamaCppBackend, requests: list[LLMRequest]) -> dict[str, float]:
    """Answer ``requests`` one batch; return the figures of one row."""
    be.model.llm.reset()  # start cold: nothing left over from the previous mode
    evaluated0 = be.prompt_tokens_evaluated
    t0 = time.perf_counter()
    replies = be.generate(requests)
    wall = time.perf_counter() - t0
    prompt = sum(r.prompt_tokens for r in replies)
    completion = sum(r.completion_tokens for r in replies)
    return {
        "wall": wall,
        "valid": sum(r.ok for r in replies),
        "prompt": prompt,
        "evaluated": be.prompt_tokens_evaluated - evaluated0,
        "completion": completion,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="page decisions per mode")
    ap.add_argument(
        "--model", type=Path, default=None, help="GGUF file (default: bundled Gemma 3 270M)"
    )
    ap.add_argument("--n-ctx", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--max-tokens", type=int, default=96)
    args = ap.parse_args()

    t0 = time.perf_counter()
    path = args.model or bundled_model_path()
    locate_s = time.perf_counter() - t0
    unload_models()
    settings = CallSettings(
        model="llamacpp", temperature=0.7, max_tokens=args.max_tokens, timeout_s=600.0
    )
    on = LlamaCppBackend(
        settings, path, n_ctx=args.n_ctx, n_threads=args.threads, prefix_cache=True
    )
    off = LlamaCppBackend(
        settings, path, n_ctx=args.n_ctx, n_threads=args.threads, prefix_cache=False
    )
    load_s = on.model.load_s
    requests = pages(args.n, args.max_tokens)
    on.generate(pages(1, 8))  # warm-up: page in the weights, build the grammar

    rows = {"prefix cache off": run(off, requests), "prefix cache on": run(on, requests)}

    print(f"model: {path} ({path.stat().st_size / 2**20:.0f} MiB), n_ctx {args.n_ctx}, "
          f"{on.n_threads} threads, max_tokens {args.max_tokens}, temperature 0.7")  # fmt: skip
    print(f"locate/assemble GGUF    {locate_s:8.2f} s")
    print(f"model load              {load_s:8.2f} s")
    print(f"{args.n} page decisions, each: shared system+persona prefix + a page of 5 items")
    head = f"{'':<18}{'wall s':>8}{'valid':>7}{'dec/s':>8}{'prompt tok':>11}{'evaluated':>10}" \
           f"{'prompt tok/s':>13}{'eval tok/s':>11}{'compl tok':>10}{'compl tok/s':>12}"  # fmt: skip
    print(head)
    for name, r in rows.items():
        w = r["wall"]
        print(f"{name:<18}{w:8.2f}{int(r['valid']):>4}/{args.n:<2}{args.n / w:8.2f}{int(r['prompt']):>11}"
              f"{int(r['evaluated']):>10}{r['prompt'] / w:13.0f}{r['evaluated'] / w:11.0f}"
              f"{int(r['completion']):>10}{r['completion'] / w:12.1f}")  # fmt: skip
    print(
        "prompt tok: prompt tokens of all calls; evaluated: those llama.cpp computed (the rest were reused);"
    )
    print(
        "tok/s figures divide by the whole wall time (prompt evaluation, sampling and grammar together)."
    )
    on.close()
    off.close()


if __name__ == "__main__":
    main()
