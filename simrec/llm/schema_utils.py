"""Helpers for reply schemas and chat messages shared by several backends."""

from __future__ import annotations

from typing import Any

_MAX_ENUM_RANGE = 256


def bounded_int_enums(node: Any) -> Any:
    """A JSON schema with small bounded integer ranges spelled out as enums.

    llama-cpp-python's schema-to-grammar converter (used in-process and by
    ``llama_cpp.server``) ignores ``minimum`` and ``maximum``; an enum keeps
    positions and star ratings in range by construction. The result accepts
    exactly the same integers.
    """
    if isinstance(node, list):
        return [bounded_int_enums(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: bounded_int_enums(v) for k, v in node.items()}
    if out.get("type") == "integer" and "enum" not in out:
        lo = out.get("minimum", out["exclusiveMinimum"] + 1 if "exclusiveMinimum" in out else None)
        hi = out.get("maximum", out["exclusiveMaximum"] - 1 if "exclusiveMaximum" in out else None)
        if isinstance(lo, int) and isinstance(hi, int) and 0 <= hi - lo < _MAX_ENUM_RANGE:
            out["enum"] = list(range(lo, hi + 1))
    return out


def merge_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Fold system messages into the first user turn, for templates without a system role."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if not system:
        return rest
    for m in rest:
        if m["role"] == "user":
            m["content"] = f"{system}\n\n{m['content']}"
            return rest
    return [{"role": "user", "content": system}, *rest]
