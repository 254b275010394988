"""Solara's front-end files (JavaScript, CSS, fonts) for machines that cannot reach the CDN.

The dashboard page loads Solara's front end through the Solara server, which fetches
each file from the jsDelivr CDN the first time a browser asks for it and caches it in
``solara.server.settings.assets.proxy_cache_dir`` (by default
``<python prefix>/share/solara/cdn``; ``SOLARA_ASSETS_PROXY_CACHE_DIR`` moves it).
jsDelivr serves npm packages file by file, so the same files can be put in that cache
from the npm registry: :func:`fetch` runs ``npm pack`` for the packages the installed
Solara's page template names (:func:`needed`) and unpacks each into
``<cache>/<name>@<version>/`` (``simrec dashboard --fetch-assets``; CI does this).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from simrec.core.errors import DataError

__all__ = ["cache_dir", "fetch", "missing", "needed"]

#: ``{{cdn}}/<npm package>@<version>/`` in Solara's page template.
_CDN_PACKAGE = re.compile(r"\{\{\s*cdn\s*\}\}/((?:@[\w.-]+/)?[\w.-]+@\d[\w.+-]*)/")
#: The front-end bundles of Solara's two widget generations (ipyvue 3: Vue 3; else Vue 2).
_APPS = {True: "@widgetti/solara-vuetify3-app@", False: "@widgetti/solara-vuetify-app@"}


def cache_dir() -> Path:
    """Where the Solara server looks for (and caches) CDN files."""
    from solara.server import settings

    return Path(settings.assets.proxy_cache_dir)


def needed() -> list[str]:
    """The npm packages (``name@version``) the page of the installed Solara loads from the CDN.

    Read from Solara's page template: the front-end bundle of the installed widget
    generation, require.js, and the Font Awesome CSS Solara's settings name.
    """
    import ipyvue
    import solara.server
    from solara.server import settings

    template = Path(solara.server.__file__).parent / "templates" / "solara.html.j2"
    found = set(_CDN_PACKAGE.findall(template.read_text(encoding="utf-8")))
    vue3 = str(ipyvue.__version__).startswith("3")  # as solara.server.server decides
    found = {p for p in found if not p.startswith(_APPS[not vue3])}
    fontawesome = settings.assets.fontawesome_path.strip("/").split("/")
    if settings.assets.fontawesome_enabled and fontawesome:
        found.add("/".join(fontawesome[:2]) if fontawesome[0].startswith("@") else fontawesome[0])
    return sorted(found)


def missing(cache: Path | None = None) -> list[str]:
    """The :func:`needed` packages not in ``cache`` (default :func:`cache_dir`)."""
    cache = cache_dir() if cache is None else Path(cache)
    return [p for p in needed() if not (cache / p).is_dir()]


def fetch(packages: list[str], cache: Path | None = None, npm: str = "npm") -> list[Path]:
    """``npm pack`` each of ``packages`` and unpack it into ``<cache>/<name>@<version>/``.

    Args:
        packages: ``name@version`` of each npm package (e.g. ``requirejs@2.3.6``).
        cache: The Solara CDN cache (default :func:`cache_dir`).
        npm: The npm command.

    Returns:
        The folders written, in the order of ``packages``.

    Raises:
        DataError: npm is missing, or could not fetch a package.
    """
    cache = cache_dir() if cache is None else Path(cache)
    if not packages:
        return []
    if shutil.which(npm) is None:
        raise DataError(
            f"'{npm}' is not installed: install Node.js's npm (Debian: apt-get install npm) to fetch Solara's "
            "front-end files, or let the Solara server fetch them from the jsDelivr CDN."
        )
    written = []
    with tempfile.TemporaryDirectory(prefix="simrec-npm-") as tmp:
        proc = subprocess.run(
            [npm, "pack", "--silent", *packages], cwd=tmp, capture_output=True, text=True, check=False
        )
        tarballs = [line.strip() for line in proc.stdout.splitlines() if line.strip().endswith(".tgz")]
        if proc.returncode != 0 or len(tarballs) != len(packages):
            raise DataError(f"npm pack {' '.join(packages)} failed (exit {proc.returncode}): "
                            f"{(proc.stderr or proc.stdout).strip()[-600:]}")  # fmt: skip
        for package, tarball in zip(packages, tarballs, strict=True):
            written.append(unpack(Path(tmp) / tarball, cache / package))
    return written


def unpack(tarball: Path, dest: Path) -> Path:
    """Unpack an npm tarball's ``package/`` folder as ``dest`` (replacing it whole)."""
    staging = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(tarball, "r:gz") as tar:
        members = []
        for m in tar.getmembers():
            _, _, rest = m.name.partition("/")  # npm tarballs hold one top folder, normally package/
            if rest:
                m.name = rest
                members.append(m)
        tar.extractall(staging, members=members, filter="data")
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return dest
