"""Downloads against a local HTTP server serving a zip built from the shared ml-100k files."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import json
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from simrec.core.errors import DataError
from simrec.data.download import (
    ML100K_SHA256,
    MOVIELENS_RELEASES,
    MovieLensRelease,
    default_cache_dir,
    download_file,
    ensure_movielens,
    extract_zip,
    file_sha256,
)
from simrec.data.movielens import load_movielens


@dataclasses.dataclass
class Server:
    url: str
    root: Path
    requests: list[str]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ml100k_dir: Path) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("www")
    with zipfile.ZipFile(root / "ml-100k.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("u.data", "u.item", "u.user", "u.genre"):
            zf.write(ml100k_dir / name, f"ml-100k/{name}")
    with zipfile.ZipFile(root / "evil.zip", "w") as zf:
        zf.writestr("ml-100k/u.data", "1\t1\t1\t1\n")
        zf.writestr("../escaped.txt", "gotcha")
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", root, requests)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _digest(path: Path, algo: str) -> str:
    return hashlib.new(algo, path.read_bytes()).hexdigest()


def _release(server: Server) -> MovieLensRelease:
    """The ml-100k entry with the MD5 of the test zip instead of GroupLens's."""
    return dataclasses.replace(
        MOVIELENS_RELEASES["100k"], md5=_digest(server.root / "ml-100k.zip", "md5")
    )


def test_release_table() -> None:
    assert (
        MOVIELENS_RELEASES["100k"].url
        == "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    )
    assert MOVIELENS_RELEASES["100k"].md5 == "0e33842e24a9c977be4e0107933c0723"
    assert MOVIELENS_RELEASES["1m"].md5 == "c4d9eecfca2ab87c1945afe126590906"
    assert MOVIELENS_RELEASES["latest"].md5 is None
    assert MOVIELENS_RELEASES["latest-small"].folder == "ml-latest-small"


def test_content_digests_match_official_files(ml100k_dir: Path) -> None:
    for name, digest in ML100K_SHA256.items():
        assert file_sha256(ml100k_dir / name) == digest


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "simrec"


def test_download_file_verifies(server: Server, tmp_path: Path) -> None:
    src = server.root / "ml-100k.zip"
    dest = download_file(
        f"{server.url}/ml-100k.zip",
        tmp_path / "a" / "x.zip",
        sha256=_digest(src, "sha256"),
        md5=_digest(src, "md5"),
    )
    assert dest.read_bytes() == src.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["x.zip"]


@pytest.mark.parametrize("algo", ["md5", "sha256"])
def test_download_file_mismatch_leaves_nothing(server: Server, tmp_path: Path, algo: str) -> None:
    wrong = "0" * (32 if algo == "md5" else 64)
    actual = _digest(server.root / "ml-100k.zip", algo)
    with pytest.raises(DataError) as info:
        download_file(f"{server.url}/ml-100k.zip", tmp_path / "x.zip", **{algo: wrong})
    assert wrong in str(info.value) and actual in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_download_unreachable_names_url(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/ml-100k.zip"
    with pytest.raises(DataError, match="environment.data.path") as info:
        download_file(url, tmp_path / "x.zip", timeout=5)
    assert url in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_download_http_error_names_url(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="404") as info:
        download_file(f"{server.url}/missing.zip", tmp_path / "x.zip")
    assert f"{server.url}/missing.zip" in str(info.value)


def test_ensure_movielens_downloads_once(server: Server, tmp_path: Path) -> None:
    release = _release(server)
    folder = ensure_movielens("100k", tmp_path, base_url=server.url, release=release)
    assert folder == tmp_path / "movielens" / "ml-100k"
    assert (folder / "u.data").is_file()
    pinned = json.loads((tmp_path / "movielens" / "checksums.json").read_text())
    assert pinned == {"ml-100k.zip": _digest(server.root / "ml-100k.zip", "sha256")}
    assert sorted(p.name for p in (tmp_path / "movielens").iterdir()) == [
        "checksums.json",
        "ml-100k",
    ]

    n_requests = len(server.requests)
    assert ensure_movielens("100k", tmp_path, base_url=server.url, release=release) == folder
    assert load_movielens("100k", cache_dir=tmp_path, download=False).n_users == 943
    assert len(server.requests) == n_requests  # served from the cache


def test_ensure_movielens_repairs_damaged_cache(server: Server, tmp_path: Path) -> None:
    release = _release(server)
    folder = ensure_movielens("100k", tmp_path, base_url=server.url, release=release)
    (folder / "u.data").write_text("1\t1\t1\t1\n")
    n_requests = len(server.requests)
    ensure_movielens("100k", tmp_path, base_url=server.url, release=release)
    assert len(server.requests) == n_requests + 1
    assert file_sha256(folder / "u.data") == ML100K_SHA256["u.data"]


def test_ensure_movielens_md5_mismatch(server: Server, tmp_path: Path) -> None:
    # the published GroupLens MD5 does not match the zip built by this test
    with pytest.raises(DataError, match=MOVIELENS_RELEASES["100k"].md5 or ""):
        ensure_movielens("100k", tmp_path, base_url=server.url)
    assert [p.name for p in (tmp_path / "movielens").iterdir()] == []


def test_ensure_movielens_pinned_sha_mismatch(server: Server, tmp_path: Path) -> None:
    root = tmp_path / "movielens"
    root.mkdir()
    (root / "checksums.json").write_text(json.dumps({"ml-100k.zip": "f" * 64}))
    with pytest.raises(DataError, match="checksums.json"):
        ensure_movielens("100k", tmp_path, base_url=server.url, release=_release(server))
    assert [p.name for p in root.iterdir()] == ["checksums.json"]


def test_ensure_movielens_content_mismatch(server: Server, tmp_path: Path) -> None:
    release = dataclasses.replace(_release(server), content_sha256={"u.data": "0" * 64})
    with pytest.raises(DataError, match="u.data"):
        ensure_movielens("100k", tmp_path, base_url=server.url, release=release)
    assert [p.name for p in (tmp_path / "movielens").iterdir()] == []


def test_ensure_movielens_unsafe_zip(server: Server, tmp_path: Path) -> None:
    release = dataclasses.replace(
        _release(server), url="https://example.invalid/evil.zip", md5=None, content_sha256={}
    )
    with pytest.raises(DataError, match="unsafe"):
        ensure_movielens("100k", tmp_path, base_url=server.url, release=release)
    assert not (tmp_path / "escaped.txt").exists()
    assert [p.name for p in (tmp_path / "movielens").iterdir()] == []


def test_extract_zip_rejects_absolute_paths(tmp_path: Path) -> None:
    zpath = tmp_path / "abs.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("/etc/x", "no")
    with pytest.raises(DataError, match="unsafe"):
        extract_zip(zpath, tmp_path / "out")


def test_ensure_movielens_unreachable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DataError, match=f"127.0.0.1:{port}/ml-1m.zip"):
        ensure_movielens("1m", tmp_path, base_url=f"http://127.0.0.1:{port}", timeout=5)
