"""OpenAIBackend against a real OpenAI-compatible server: llama-cpp-python's
``llama_cpp.server`` serving the default model (SmolLM2-135M-Instruct) on a free local port:
structured calls, scoring calls (top_logprobs), and a hybrid run and the fidelity
scorecard in llm mode end to end through it, at concurrency 4.

Integration tests: the server starts once for the module (a few seconds) and
is stopped at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx
import pytest

from simrec.llm.base import CallSettings
from simrec.llm.bundled import bundled_model_path
from simrec.llm.openai_compat import OpenAIBackend
from simrec.llm.types import LLMRequest, LLMUnavailable

API_KEY = "sk-simrec-test-9f3c2e71"
START_TIMEOUT_S = 60.0

from tests.llm.decision_schema import PageDecision, Position, Rating  # noqa: F401


PERSONA = (
    "You are Sam, 52, a teacher who likes documentaries and comedies and avoids horror. For each "
    "page, say which items you watch (by position), rate each from 1 to 5 stars, and whether you leave."
)
ITEMS = ["Alien", "Titanic", "Heat", "Up", "Jaws", "Amélie", "Se7en", "Coco"]


def page(n: int) -> LLMRequest:
    shown = "\n".join(f"{i + 1}. {ITEMS[(n + i) % len(ITEMS)]}" for i in range(5))
    return LLMRequest.chat(
        PERSONA, f"Page {n}:\n{shown}\nReply in JSON.", schema=PageDecision, seed=n
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings(**kw) -> CallSettings:
    base = {
        "model": "smollm2-135m",
        "max_tokens": 128,
        "concurrency": 4,
        "timeout_s": 120.0,
        "retries": 1,
    }
    base.update(kw)
    return CallSettings(**base)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free port; yields its base URL (with /v1)."""
    gguf = bundled_model_path()
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    threads = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "1024", "--n_threads", str(threads),
        # scoring calls read the first token's top_logprobs, which need every position's logits
        "--logits_all", "true",
        "--api_key", API_KEY,
    ]  # fmt: skip
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: a full pipe would block the server
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)

        def output() -> str:
            log.seek(0)
            return log.read().decode("utf-8", "replace")[-4000:]

        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"llama_cpp.server exited with code {proc.returncode}:\n{output()}")
                try:
                    r = httpx.get(
                        f"{url}/models", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=2.0
                    )
                    if r.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"llama_cpp.server did not answer within {START_TIMEOUT_S:g} s:\n{output()}"
                    )
                time.sleep(0.25)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_health_check_passes(server: str) -> None:
    OpenAIBackend(settings(), server, API_KEY).health_check()


@pytest.mark.parametrize("transport", ["sdk", "aiohttp", "lean"])
def test_batch_of_structured_requests(server: str, transport: str) -> None:
    be = OpenAIBackend(settings(), server, API_KEY, transport=transport)
    try:
        replies = be.generate([page(n) for n in range(4)])
    finally:
        be.close()
    for r in replies:
        assert r.status == "ok", (r.reason, r.error, r.attempts)
        assert isinstance(r.parsed, PageDecision)
        assert r.prompt_tokens > 0 and r.completion_tokens > 0
    # llama_cpp.server refuses "json_schema"; "auto" switched to its json_object style once
    assert be.format_style == "json_object"
    c = be.usage.counters
    assert (c["calls"], c["retries"], c["errors"], c["fallbacks"]) == (4, 0, 0, 0)


@pytest.mark.parametrize("transport", ["sdk", "aiohttp", "lean"])
def test_a_refused_response_format_is_a_clear_error(server: str, transport: str) -> None:
    be = OpenAIBackend(settings(retries=3), server, API_KEY, response_format="json_schema", transport=transport)
    [r] = be.generate([page(0)])
    assert r.status == "fallback" and r.reason == "error"
    assert "does not accept response_format 'json_schema'" in r.error
    assert be.usage.counters["retries"] == 0  # not worth retrying


def test_wrong_api_key_fails_the_health_check(server: str) -> None:
    with pytest.raises(LLMUnavailable, match="refused the API key") as info:
        OpenAIBackend(settings(), server, "sk-wrong-key").health_check()
    assert "sk-wrong-key" not in str(info.value)


def test_closed_port_fails_the_health_check_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with pytest.raises(LLMUnavailable, match=f"Cannot reach .* at {url}"):
        OpenAIBackend(settings(), url).health_check()


def test_api_key_never_shows(server: str) -> None:
    be = OpenAIBackend(settings(), server, API_KEY)
    assert API_KEY not in repr(be) and API_KEY not in str(be) and API_KEY not in be.describe()
    assert server in be.describe() and server in repr(be)


def ask(film: str) -> LLMRequest:
    return LLMRequest.chat(
        "You are a person using a movie app. You love comedies and hate horror.",
        f"Would you watch {film}? Answer yes or no.", choices=("yes", "no"),
    )  # fmt: skip


@pytest.mark.parametrize("transport", ["sdk", "aiohttp", "lean"])
def test_scoring_calls_read_the_first_tokens_log_probabilities(server: str, transport: str) -> None:
    import math

    be = OpenAIBackend(settings(), server, API_KEY, transport=transport)
    try:
        replies = be.generate([ask(f) for f in ("Airplane! (Comedy)", "Halloween (Horror)", "Up (Animation)")])
    finally:
        be.close()
    for r in replies:
        assert r.status == "ok", (r.reason, r.error)
        assert math.isclose(sum(math.exp(v) for v in r.scores), 1.0, rel_tol=1e-4)
    assert len({round(r.scores[0], 3) for r in replies}) > 1


def _served_scenario(tmp_path, server: str, **over):
    from tests.helpers import small_scenario

    return small_scenario(tmp_path, **{
        "llm.backend": "openai", "llm.base_url": server, "llm.api_key": API_KEY, "llm.concurrency": 4,
        "llm.model": "smollm2-135m", "llm.timeout_s": 120, "policy.llm.protocol": "scored", **over,
    })  # fmt: skip


def test_a_hybrid_run_end_to_end_through_the_server(tmp_path, server: str) -> None:
    from simrec.env.runner import run_scenario
    from simrec.io.events import read_events
    from simrec.io.texts import read_texts

    cfg = _served_scenario(tmp_path, server, **{"policy.name": "hybrid", "policy.llm.llm_users": 4,
                                                "run.steps": 2, "policy.llm.reason_rate": 0.5})  # fmt: skip
    result = run_scenario(cfg)
    events = read_events(result.run_dir)
    assert (events["policy"] == "llm").any() and not (events["policy"] == "fallback").any()
    import json

    usage = json.loads((result.run_dir / "manifest.json").read_text())["llm"]
    assert usage["calls"] > 0 and usage["fallbacks"] == 0 and usage["errors"] == 0
    assert usage["target"].startswith(server)
    assert result.metrics["llm_decisions"].sum() > 0
    assert len(read_texts(result.run_dir)) + result.metrics["texts_dropped"].sum() > 0


def test_fidelity_in_llm_mode_through_the_server(tmp_path, server: str) -> None:
    from simrec.fidelity.scorecard import run_fidelity

    cfg = _served_scenario(tmp_path, server)
    table = run_fidelity(cfg, modes=("llm",), ratios=("1:1",), negatives=("uniform",), users=12, simulate_steps=0)
    row = table.iloc[0]
    assert row["mode"] == "llm" and row["llm_users"] > 0 and 0.0 <= row["accuracy"] <= 1.0
    assert row["llm_fallbacks"] == 0
