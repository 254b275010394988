"""Scenarios shipped with the package, and turning a scenario argument into a file.

A scenario argument (``simrec run X``, ``simrec bench --scenario X``, a bench
spec's ``scenarios:`` entry) is a path when a file exists there; otherwise a bare
name such as ``quickstart`` or ``quickstart.yaml`` names a scenario shipped in
``simrec/resources/scenarios`` (listed by ``simrec list``).
"""

from __future__ import annotations

from pathlib import Path

from simrec.core.errors import ConfigError
from simrec.core.resources import resource_path

_SUFFIXES = (".yaml", ".yml")


def shipped_scenarios() -> dict[str, Path]:
    """The shipped scenarios, by name (the file name without ``.yaml``), sorted by name."""
    folder = resource_path("scenarios")
    if not folder.is_dir():
        return {}
    found = (p for p in folder.iterdir() if p.suffix in _SUFFIXES and p.is_file())
    return {p.stem: p for p in sorted(found, key=lambda p: p.stem)}


def shipped_scenario(name: str) -> Path | None:
    """The shipped scenario called ``name`` (``"quickstart"`` or ``"quickstart.yaml"``), if any.

    Only a bare name matches: anything with a folder part (``scenarios/quickstart.yaml``)
    is a path, not a name.
    """
    if not name or name in (".", "..") or any(sep in name for sep in ("/", "\\")):
        return None
    p = Path(name)
    return shipped_scenarios().get(p.stem if p.suffix in _SUFFIXES else p.name)


def scenario_path(value: str | Path, base: Path | None = None) -> Path:
    """The scenario file that a scenario argument means.

    Args:
        value: A path to a scenario YAML file, or the name of a shipped scenario.
        base: Folder a relative ``value`` is taken against (default: the current
            directory), as a bench spec's entries are taken against the spec's folder.

    Returns:
        ``value`` (joined to ``base``) when a file exists there, else the shipped
        scenario of that name.

    Raises:
        ConfigError: if neither a file nor a shipped scenario matches; the message
            lists the shipped names.
    """
    p = Path(value).expanduser()
    candidate = p if base is None or p.is_absolute() else Path(base) / p
    if candidate.is_file():
        return candidate
    shipped = shipped_scenario(str(value))
    if shipped is not None:
        return shipped
    names = ", ".join(shipped_scenarios()) or "none"
    hint = ""
    if shipped_scenario(p.name) is not None:
        stem = p.stem if p.suffix in _SUFFIXES else p.name
        hint = f" A shipped scenario has that name: run it by name ({stem})."
    raise ConfigError(
        f"Scenario file not found: {candidate} does not exist, and '{value}' is not the name of a "
        f"shipped scenario.{hint} Give the path of a scenario YAML file or one of the shipped "
        f"names: {names}."
    )
