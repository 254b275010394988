"""Where the package's own data files are: ``simrec/resources`` via :mod:`importlib.resources`.

Every file simrec reads at run time without being told a path (prompt templates,
persona archetypes, shipped scenarios, environments and agent settings) is found
here, so an installed wheel works the same as a source checkout.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from simrec.core.errors import ConfigError

#: The package that holds the data files.
RESOURCES_PACKAGE = "simrec.resources"


def resource_path(*parts: str) -> Path:
    """The file-system path of a file or folder inside ``simrec/resources``.

    Shipped YAML files refer to each other by relative paths (a scenario's
    ``../environments/x.yaml``), so the data must be real files on disk, as
    pip installs a wheel; simrec imported from a zip archive is not supported.

    Args:
        parts: Path components below ``simrec/resources``, e.g. ``("agents", "prompts")``.

    Returns:
        The path (whether or not anything exists there).

    Raises:
        ConfigError: if the package data does not live on the file system.
    """
    node = files(RESOURCES_PACKAGE).joinpath(*parts)
    if not isinstance(node, Path):
        raise ConfigError(
            f"simrec's package data ({RESOURCES_PACKAGE}) is not on the file system ({node!r}); "
            "install simrec as a regular package (pip install simrec), not from a zip archive."
        )
    return node
