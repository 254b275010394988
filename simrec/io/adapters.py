"""Where ``simrec tune`` keeps its adapters, and which one a run uses (``llm.adapter``).

An adapter is keyed by what it learned from — the data (the scenario's
environment and agents blocks, its seed, and the bytes of any data files they
name), the embedded model, the wording of the scored protocol's watch and stars questions and
the ``tune:`` block (less its time budget and thread count) — and lives in ``<cache>/adapters/<key>/`` as ``adapter.gguf``
(llama.cpp's LoRA format) beside ``tune.json`` (settings and validation figures).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

import yaml

from simrec.config.schema import LLMConfig, ScenarioConfig
from simrec.core.errors import ConfigError
from simrec.core.resources import resource_path

log = logging.getLogger(__name__)

ADAPTER_FILE = "adapter.gguf"
META_FILE = "tune.json"
#: Fields of the tune block that change how long tuning may take, not what it learns.
_NOT_KEYED = {"budget_s", "threads"}
#: Fields of the scored template that tuning's examples use (see :func:`tuned_wording`).
TUNED_FIELDS = ("name", "version", "limits", "system", "user", "watch", "stars")


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
    h.update(json.dumps(tuned_wording(cfg.policy.llm.prompt_version), sort_keys=True).encode())
    return h.hexdigest()[:16]


def tuned_wording(version: int | None = None) -> dict[str, Any]:
    """The parts of the ``scored`` prompt template (``version``, default the latest) that tuning's examples are made of.

    The system and user messages, the watch and stars questions and the length limits:
    the wording the adapter learns to answer. The template's other questions (reasons,
    interviews, ...) are not in the adapter's key, so rewording them keeps adapters valid.
    """
    files = {}
    for path in resource_path("agents", "prompts").glob("scored.v*.yaml"):
        m = re.fullmatch(r"scored\.v(\d+)\.yaml", path.name)
        if m:
            files[int(m.group(1))] = path
    if not files:
        raise ConfigError("the scored prompt template is missing from simrec's resources")
    if version is not None and version not in files:
        raise ConfigError(f"no scored prompt template version {version} (have {sorted(files)})")
    raw = yaml.safe_load(files[max(files) if version is None else version].read_text(encoding="utf-8"))
    return {k: raw.get(k) for k in TUNED_FIELDS}


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


#: ``llm_weight`` when nothing chose one (no ``simrec tune`` ran for the scenario).
DEFAULT_LLM_WEIGHT = 1.0


def resolve_weight(cfg: ScenarioConfig) -> ScenarioConfig:
    """``cfg`` with ``policy.llm.llm_weight`` settled to a number.

    ``auto`` takes the weight ``simrec tune`` chose on its validation examples
    (``tune.json``) for the model the run thinks with: the tuned one when the run
    uses the adapter, the untuned one when it does not; :data:`DEFAULT_LLM_WEIGHT`
    when no tuning ran for the scenario or the backend is not llamacpp.
    """
    params = cfg.policy.llm
    if params.llm_weight != "auto":
        return cfg
    weight = DEFAULT_LLM_WEIGHT
    if cfg.llm.backend == "llamacpp":
        adapter = resolve_llm(cfg).adapter
        folder = Path(adapter).parent if adapter != "none" else adapter_dir(cfg)
        fits = (read_meta(folder) or {}).get("llm_weight") or {}
        fit = fits.get("tuned" if adapter != "none" else "untuned")
        if isinstance(fit, dict) and isinstance(fit.get("weight"), (int, float)):
            weight = float(fit["weight"])
    policy = cfg.policy.model_copy(update={"llm": params.model_copy(update={"llm_weight": weight})})
    return cfg.model_copy(update={"policy": policy})


def read_meta(folder: Path) -> dict[str, Any] | None:
    """The ``tune.json`` of an adapter folder, or ``None``."""
    path = folder / META_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
