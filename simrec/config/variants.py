"""Scenario variants: named changes to one scenario, run side by side and compared.

A scenario may hold ``variants: {name: {nested keys: values}}``; each variant is
the scenario with its mapping merged in (mappings merge, other values replace),
run into ``<run folder>/<name>/``. The echo-chamber scenario, for one, runs the
same population under ``random`` and ``mf`` recommendation this way.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from simrec.config.merge import deep_merge, format_validation_error
from simrec.config.schema import ScenarioConfig
from simrec.core.errors import ConfigError


def variant_configs(cfg: ScenarioConfig, parent: Path | None = None) -> dict[str, ScenarioConfig]:
    """The scenario of each variant, validated.

    Args:
        cfg: A scenario with ``variants``.
        parent: The folder the variants' run folders go into (default: ``cfg``'s own run folder).

    Raises:
        ConfigError: naming the variant whose changes do not validate.
    """
    base = cfg.model_dump(exclude={"variants"})  # python mode keeps secrets as SecretStr
    parent = parent if parent is not None else Path(cfg.run.output_dir) / cfg.run_name
    out: dict[str, ScenarioConfig] = {}
    for name, changes in cfg.variants.items():
        if not isinstance(changes, dict):
            raise ConfigError(f"variant '{name}' must map keys to values, got {type(changes).__name__}.")
        merged = deep_merge(base, changes)
        merged["run"] = {**merged["run"], "output_dir": parent, "name": name, "overwrite": False}
        try:
            out[name] = ScenarioConfig.model_validate(merged)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, f"'{cfg.name}', variant '{name}'")) from None
    return out
