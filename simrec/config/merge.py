"""Merging scenario mappings, and readable messages for what fails to validate.

Shared by the loader and the variants (which merge a variant into its scenario
and validate the result), so neither imports the other.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from simrec.config.schema import ScenarioConfig


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated recursively by ``over`` (mappings merge, other values replace)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes an annotation may hold (through Optional, Annotated, unions, lists)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, dict, tuple):
        return [m for a in typing.get_args(annotation) for m in _unwrap(a)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Walk the schema along an error location to the model that owns its last key."""
    model: type[BaseModel] | None = ScenarioConfig
    i = 0
    while i < len(loc) - 1 and model is not None:
        field = model.model_fields.get(str(loc[i]))
        if field is None:
            return None
        candidates = _unwrap(field.annotation)
        i += 1
        if len(candidates) > 1 and i < len(loc) - 1:
            # A discriminated union puts the tag into the location.
            tagged = [c for c in candidates if c.model_fields.get("source") and c.model_fields["source"].default == loc[i]]
            if tagged:
                candidates = tagged
                i += 1
        model = candidates[0] if candidates else None
    return model


_DATA_TAGS = ("synthetic", "movielens", "file")


def _loc_text(loc: tuple[Any, ...]) -> str:
    # Drop the discriminator tag pydantic inserts after a tagged union ("data.movielens.path").
    parts = [p for i, p in enumerate(loc) if not (i and loc[i - 1] == "data" and p in _DATA_TAGS)]
    return ".".join(str(p) for p in parts)


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One readable paragraph per problem, naming key, file and allowed values."""
    lines = [f"Invalid scenario {source}:"]
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = _loc_text(loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            model = _model_at(loc)
            parent = _loc_text(loc[:-1]) or "the top level"
            allowed = ", ".join(model.model_fields) if model is not None else "?"
            lines.append(f"  - unknown key '{where}'. Allowed keys under {parent}: {allowed}.")
        elif err["type"] == "missing":
            lines.append(f"  - '{where}' is required but missing.")
        else:
            got = err.get("input")
            got_text = f" (got {got!r})" if not isinstance(got, dict) else ""
            lines.append(f"  - '{where}': {err['msg']}{got_text}.")
    lines.append("Fix the file or the --set override and run again; `simrec list` shows registered names.")
    return "\n".join(lines)
