"""Where ``simrec tune`` keeps its adapters, and which one a run uses (``llm.adapter``).

An adapter is keyed by what it learned from — the data (the scenario's
environment and agents blocks, its seed, and the bytes of any data files they
name), the embedded model, the wording of the scored protocol's questions and
the ``tune:`` block (less its time budget and thread count) — and lives in ``<cache>/adapters/<key>/`` as ``adapter.gguf``
(llama.cpp's LoRA format) beside ``tune.json`` (settings and validation figures).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from simrec.config.schema import LLMConfig, ScenarioConfig
from simrec.core.errors import ConfigError
from simrec.core.resources import resource_path

log = logging.getLogger(__name__)

ADAPTER_FILE = "adapter.gguf"
META_FILE = "tune.json"
#: Fields of the tune block that change how long tuning may take, not what it learns.
_NOT_KEYED = {"budget_s", "threads"}


def adapters_root(cfg: LLMConfig) -> Path:
    """``<cache>/adapters``: beside the models folder (``llm.cache_dir``, default ``~/.cache/simrec/models``)."""
    models = Path(cfg.cache_dir).expanduser() if cfg.cache_dir is not None else Path.home() / ".cache" / "simrec" / "models"
    return models.parent / "adapters"


def _file_digest(path: Path, h: Any) -> None:
    if path.is_file():
        h.update(path.name.encode())
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    elif path.is_dir():
        for child in sorted(path.iterdir()):
            if child.is_file() and child.stat().st_size < 256 << 20:
                _file_digest(child, h)


def _paths(value: Any) -> list[Path]:
    if isinstance(value, dict):
        return [p for v in value.values() for p in _paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in _paths(v)]
    if isinstance(value, Path):
        return [value]
    return []


def adapter_key(cfg: ScenarioConfig) -> str:
    """The 16-hex-digit key of the adapter ``simrec tune`` makes for ``cfg``."""
    h = hashlib.sha256()
    env = cfg.environment.model_dump()
    payload = {
        "environment": env,
        "agents": cfg.agents.model_dump(),
        "seed": cfg.seed,
        "model": cfg.llm.model or "smollm2-135m",
        "tune": {k: v for k, v in cfg.tune.model_dump().items() if k not in _NOT_KEYED},
    }
    h.update(json.dumps(payload, sort_keys=True, default=str).encode())
    for path in _paths(cfg.environment.data.model_dump()):
        _file_digest(Path(path).expanduser(), h)
    for path in sorted(resource_path("agents", "prompts").glob("scored.v*.yaml")):
        _file_digest(path, h)  # the questions' wording is what the adapter learns to answer
    return h.hexdigest()[:16]


def adapter_dir(cfg: ScenarioConfig) -> Path:
    """The folder of ``cfg``'s adapter (it may not exist yet)."""
    return adapters_root(cfg.llm) / adapter_key(cfg)


def resolve_llm(cfg: ScenarioConfig) -> LLMConfig:
    """``cfg.llm`` with ``adapter`` settled to a file path or ``"none"``.

    ``auto`` takes the adapter ``simrec tune`` made for this scenario when there is
    one (and the backend is llamacpp), else the untuned model; a path must exist.

    Raises:
        ConfigError: if ``llm.adapter`` names a file that does not exist, or is set
            for a backend that cannot load adapters.
    """
    llm = cfg.llm
    choice = llm.adapter
    if choice == "none":
        return llm
    if choice == "auto":
        if llm.backend != "llamacpp":
            return llm.model_copy(update={"adapter": "none"})
        path = adapter_dir(cfg) / ADAPTER_FILE
        if path.is_file():
            log.info("using the tuned adapter %s", path)
            return llm.model_copy(update={"adapter": str(path)})
        return llm.model_copy(update={"adapter": "none"})
    if llm.backend != "llamacpp":
        raise ConfigError(f"llm.adapter is set ({choice}), but only the llamacpp backend loads adapters.")
    path = Path(choice).expanduser()
    if not path.is_file():
        raise ConfigError(f"llm.adapter: {path} does not exist; run `simrec tune SCENARIO`, or use auto or none.")
    return llm.model_copy(update={"adapter": str(path)})


def read_meta(folder: Path) -> dict[str, Any] | None:
    """The ``tune.json`` of an adapter folder, or ``None``."""
    path = folder / META_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
