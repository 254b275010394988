"""Build the configured backend with its cache, accounting and budget."""

from __future__ import annotations

from pathlib import Path

from simrec.config.schema import LLMConfig
from simrec.core.errors import ConfigError
from simrec.core.rng import child_rng
from simrec.llm.base import BACKENDS, BaseBackend, CallSettings
from simrec.llm.cache import ReplayCache
from simrec.llm.usage import Budget, Prices, Usage


def call_settings(cfg: LLMConfig, seed: int, model: str | None = None) -> CallSettings:
    """Sampling defaults and shared-layer behaviour from the ``llm:`` block.

    The sampling seed defaults to the ``"llm"`` child of the scenario seed.
    """
    llm_seed = cfg.seed if cfg.seed is not None else int(child_rng(seed, "llm").integers(2**31 - 1))
    return CallSettings(
        model=model or cfg.model or cfg.backend,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        max_tokens=cfg.max_tokens,
        seed=llm_seed,
        concurrency=cfg.concurrency,
        timeout_s=cfg.timeout_s,
        retries=cfg.retries,
        backoff_s=cfg.backoff_s,
    )


def backend_class(name: str) -> type[BaseBackend]:
    """The registered (or ``package.module:Class``) backend class ``name``, checked to be a backend."""
    cls = BACKENDS.get(name)
    if not (isinstance(cls, type) and issubclass(cls, BaseBackend)):
        raise ConfigError(
            f"llm.backend '{name}' is not a simrec LLM backend: subclass "
            "simrec.llm.base.BaseBackend and implement `async _complete(call)`."
        )
    return cls


def build_backend(cfg: LLMConfig, seed: int, output_dir: Path | None = None) -> BaseBackend:
    """Instantiate ``cfg.backend`` with a replay cache and budgeted accounting.

    Args:
        cfg: The ``llm:`` block.
        seed: The scenario's root seed.
        output_dir: Where the default cache file lives (``<output_dir>/llm-cache.sqlite``).
    """
    cls = backend_class(cfg.backend)
    cache = None
    if cfg.cache.enabled:
        path = cfg.cache.path or (Path(output_dir or "runs") / "llm-cache.sqlite")
        cache = ReplayCache(path)
    usage = Usage(
        prices=Prices(cfg.prices.prompt_per_1k, cfg.prices.completion_per_1k),
        budget=Budget(cfg.budget.max_calls, cfg.budget.max_tokens, cfg.budget.max_cost),
    )
    return cls.from_config(cfg, call_settings(cfg, seed), cache, usage)
