"""Load a scenario YAML, resolve referenced files, apply ``--set`` overrides, validate.

A scenario's ``environment`` and ``agents`` blocks may be inline mappings, a
path to a YAML file (``environment: ../environments/ml100k.yaml``), or a mapping
with a ``from:`` key naming such a file plus keys that override it. Relative
paths inside a file resolve against that file's folder; paths given with
``--set`` resolve against the current directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from simrec.config.merge import deep_merge, format_validation_error
from simrec.config.schema import ScenarioConfig
from simrec.config.shipped import scenario_path
from simrec.core.errors import ConfigError

__all__ = ["deep_merge", "format_validation_error", "load_scenario", "parse_overrides"]

# Keys (relative to an environment or agents block) that hold file paths.
_ENV_PATH_KEYS = (("data", "path"), ("data", "cache_dir"), ("data", "archetypes"), ("data", "items_path"), ("social", "path"))
_BLOCK_PATH_KEYS = {"environment": _ENV_PATH_KEYS, "agents": ()}


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"File not found: {path}. Check the path.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of keys to values, not {type(data).__name__}.")
    return data


def _resolve_paths(block: dict[str, Any], base: Path, keys: tuple[tuple[str, ...], ...]) -> None:
    for key in keys:
        node: Any = block
        for part in key[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(key[-1]), str):
            p = Path(node[key[-1]]).expanduser()
            node[key[-1]] = str(p if p.is_absolute() else (base / p).resolve())


def _load_block(value: Any, name: str, base: Path) -> Any:
    keys = _BLOCK_PATH_KEYS[name]
    if isinstance(value, str):
        value = {"from": value}
    if not isinstance(value, dict):
        return value
    value = dict(value)
    _resolve_paths(value, base, keys)
    ref = value.pop("from", None)
    if ref is None:
        return value
    ref_path = Path(ref).expanduser()
    ref_path = ref_path if ref_path.is_absolute() else (base / ref_path)
    if not ref_path.is_file():
        raise ConfigError(
            f"The {name} file '{ref}' (resolved to {ref_path}) does not exist. "
            f"Give a path relative to the scenario file, or define the {name} block inline."
        )
    loaded = _read_yaml(ref_path)
    _resolve_paths(loaded, ref_path.parent, keys)
    return deep_merge(loaded, value)


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Turn ``["run.steps=5", "recommender.name=mf"]`` into a nested mapping.

    Values are parsed as YAML, so ``5`` is an int, ``true`` a bool, ``[a, b]`` a list.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not p for p in key.split(".")):
            raise ConfigError(f"Override '{item}' is not of the form path.to.key=value (e.g. run.steps=5).")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"Override '{item}' conflicts with another override of '{part}'.")
        node[parts[-1]] = value
    return out


def load_scenario(
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    data: dict[str, Any] | None = None,
) -> ScenarioConfig:
    """Load and validate a scenario.

    Args:
        path: The scenario YAML file, or the name of a shipped scenario such as
            ``"quickstart"`` when no file exists at that path (or None when ``data``
            is given); see :func:`simrec.config.shipped.scenario_path`.
        overrides: ``path.to.key=value`` strings applied after loading.
        data: A scenario as a mapping instead of a file (its relative paths
            resolve against the current directory).

    Raises:
        ConfigError: naming the file, the offending keys and the allowed values.
    """
    if path is not None:
        p = scenario_path(path)
        source, raw, base = str(p), _read_yaml(p), p.resolve().parent
        raw.setdefault("name", p.stem)
    else:
        source, raw, base = "<inline scenario>", dict(data or {}), Path.cwd()
        raw.setdefault("name", "scenario")
    for block in ("environment", "agents"):
        if block in raw:
            raw[block] = _load_block(raw[block], block, base)
    if overrides:
        raw = deep_merge(raw, parse_overrides(overrides))
    try:
        cfg = ScenarioConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None
    if cfg.llm.api_key is None and os.environ.get(cfg.llm.api_key_env):
        # The key stays a SecretStr: manifests and logs show it as '**********'.
        cfg.llm.api_key = SecretStr(os.environ[cfg.llm.api_key_env])
    if cfg.variants:
        from simrec.config.variants import variant_configs

        variant_configs(cfg)  # each variant must validate before anything runs
    return cfg
