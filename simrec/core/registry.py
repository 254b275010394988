"""Registries: implementations looked up by name, lazily imported.

A registry maps short names to ``"package.module:Attribute"`` targets, so listing
what is available imports nothing and a scenario refers to implementations as
strings. Any name containing ``":"`` is imported directly, which is how a user's
own class plugs in (``"mypkg.recs:MyRecommender"``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

from simrec.core.errors import RegistryError

T = TypeVar("T")


def import_target(target: str) -> Any:
    """Import ``"package.module:Attribute"`` and return the attribute.

    Raises:
        RegistryError: if the module or attribute cannot be imported.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise RegistryError(
            f"'{target}' is not of the form 'package.module:ClassName'. "
            "Use a registered name or a full import path with a colon."
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RegistryError(
            f"Cannot import module '{module_name}' for '{target}': {exc}. "
            "Check the spelling and that the package is installed in this environment."
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise RegistryError(
                f"Module '{module_name}' has no attribute '{attr}' (from '{target}')."
            ) from exc
    return obj


class Registry(Generic[T]):
    """Names of implementations of one extension point.

    Args:
        kind: What is registered, used in messages (e.g. ``"recommender"``).
        entries: Initial ``name -> "package.module:Attribute"`` table.
    """

    def __init__(self, kind: str, entries: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, str] = dict(entries or {})

    def register(self, name: str, target: str) -> None:
        """Register ``target`` (an import path) under ``name``."""
        if ":" in name:
            raise RegistryError(f"A {self.kind} name may not contain ':' (got '{name}').")
        self._entries[name] = target

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def target(self, name: str) -> str:
        """Return the import path behind ``name`` (or ``name`` itself if it is a path)."""
        if ":" in name:
            return name
        try:
            return self._entries[name]
        except KeyError:
            allowed = ", ".join(self.names())
            raise RegistryError(
                f"Unknown {self.kind} '{name}'. Allowed: {allowed}; "
                "or give your own as 'package.module:ClassName'."
            ) from None

    def get(self, name: str) -> T:
        """Resolve ``name`` to the registered object (usually a class)."""
        return import_target(self.target(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._entries or ":" in name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
