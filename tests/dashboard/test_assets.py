"""Solara's front-end files: which the page needs, and fetching them with npm."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import ipyvue

from simrec.dashboard import assets


def test_the_page_needs_one_bundle_requirejs_and_font_awesome() -> None:
    needed = assets.needed()
    vue3 = ipyvue.__version__.startswith("3")
    bundle = "@widgetti/solara-vuetify3-app@" if vue3 else "@widgetti/solara-vuetify-app@"
    assert [p for p in needed if p.startswith("@widgetti/solara-vuetify")] == [p for p in needed if p.startswith(bundle)]
    assert len([p for p in needed if p.startswith(bundle)]) == 1
    assert any(p.startswith("requirejs@") for p in needed) and any(p.startswith("font-awesome@") for p in needed)


def test_missing_lists_what_the_cache_lacks(tmp_path: Path) -> None:
    assert assets.missing(tmp_path) == assets.needed()
    for p in assets.needed():
        (tmp_path / p).mkdir(parents=True)
    assert assets.missing(tmp_path) == []


def test_unpack_strips_the_package_folder(tmp_path: Path) -> None:
    tgz = tmp_path / "pkg.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        data = b"define({});"
        info = tarfile.TarInfo("package/dist/x.js")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    dest = assets.unpack(tgz, tmp_path / "cache" / "@scope" / "pkg@1.0.0")
    assert (dest / "dist" / "x.js").read_bytes() == b"define({});"
    assert not list((tmp_path / "cache" / "@scope").glob(".*"))  # no staging folder left


def test_fetch_with_npm_from_the_registry(tmp_path: Path) -> None:
    (written,) = assets.fetch(["requirejs@2.3.6"], tmp_path)
    assert written == tmp_path / "requirejs@2.3.6" and (written / "require.js").stat().st_size > 50_000
