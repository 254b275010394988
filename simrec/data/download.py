"""Download, verify and unpack the MovieLens releases from GroupLens.

GroupLens publishes MD5 digests of its zip files, not SHA-256. We therefore
verify the published MD5 of each zip where one exists (ml-100k, ml-1m), check
the SHA-256 of the extracted ml-100k content files against digests computed
from the official release, and pin the SHA-256 of every zip we download in
``<cache>/movielens/checksums.json`` on first download ("trust on first use").
A later re-download must match the pinned digest. The "latest" releases change
over time, so they have no published digest; when GroupLens publishes a new
one, delete its entry from ``checksums.json`` to accept it.

Nothing here touches the network or the disk at import time.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import shutil
import stat
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from simrec.core.errors import DataError

logger = logging.getLogger(__name__)

_BASE_URL = "https://files.grouplens.org/datasets/movielens"
_CHUNK = 1 << 20
_MANUAL = (
    "download the file by hand (in a browser or with curl), unzip it, and set "
    "environment.data.path to the unzipped folder."
)
_MANUAL_FIX = _MANUAL[0].upper() + _MANUAL[1:]

#: SHA-256 of the content files of the official ml-100k release.
ML100K_SHA256: Mapping[str, str] = {
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
}


@dataclass(frozen=True)
class MovieLensRelease:
    """Where one MovieLens variant comes from and how to check it.

    Attributes:
        variant: Short name (``"100k"``, ``"1m"``, ``"latest-small"``, ``"latest"``).
        url: Official download URL of the zip.
        folder: Name of the folder inside the zip (and in the cache).
        files: Files that a complete copy of the folder holds.
        md5: MD5 of the zip as published by GroupLens, if any.
        content_sha256: SHA-256 of extracted files, by file name.
    """

    variant: str
    url: str
    folder: str
    files: tuple[str, ...]
    md5: str | None = None
    content_sha256: Mapping[str, str] = field(default_factory=dict)

    @property
    def zip_name(self) -> str:
        """File name of the zip (the last part of :attr:`url`)."""
        return self.url.rsplit("/", 1)[-1]


MOVIELENS_RELEASES: Mapping[str, MovieLensRelease] = {
    "100k": MovieLensRelease(
        "100k",
        f"{_BASE_URL}/ml-100k.zip",
        "ml-100k",
        ("u.data", "u.item", "u.user"),
        md5="0e33842e24a9c977be4e0107933c0723",
        content_sha256=ML100K_SHA256,
    ),
    "1m": MovieLensRelease(
        "1m",
        f"{_BASE_URL}/ml-1m.zip",
        "ml-1m",
        ("ratings.dat", "movies.dat", "users.dat"),
        md5="c4d9eecfca2ab87c1945afe126590906",
    ),
    "latest-small": MovieLensRelease(
        "latest-small",
        f"{_BASE_URL}/ml-latest-small.zip",
        "ml-latest-small",
        ("ratings.csv", "movies.csv"),
    ),
    "latest": MovieLensRelease(
        "latest", f"{_BASE_URL}/ml-latest.zip", "ml-latest", ("ratings.csv", "movies.csv")
    ),
}


class ChecksumError(DataError):
    """A downloaded or cached file does not have the expected digest."""


def movielens_release(variant: str) -> MovieLensRelease:
    """Look up a release by variant, accepting ``"ml-"``-prefixed names such as ``"ml-1m"``.

    Raises:
        DataError: if the variant is unknown.
    """
    key = variant.strip().lower()
    key = key.removeprefix("ml-")
    if key not in MOVIELENS_RELEASES:
        raise DataError(
            f"Unknown MovieLens variant '{variant}'. Use one of "
            f"{', '.join(repr(v) for v in MOVIELENS_RELEASES)} in environment.data.variant."
        )
    return MOVIELENS_RELEASES[key]


def default_cache_dir() -> Path:
    """The default download cache, ``~/.cache/simrec`` (the CLI may override it)."""
    return Path.home() / ".cache" / "simrec"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    timeout: float = 60,
    progress: bool = False,
) -> Path:
    """Download ``url`` to ``dest``, verifying digests before the file appears.

    The body streams to ``dest`` + ``".part"``, which is renamed onto ``dest``
    only once every given digest matches, so ``dest`` never holds a partial or
    corrupt file.

    Args:
        url: What to download.
        dest: Where to put it; its folder is created if needed.
        sha256: Expected hex SHA-256, or None to skip the check.
        md5: Expected hex MD5, or None to skip the check.
        timeout: Socket timeout in seconds.
        progress: Write a progress line to stderr.

    Returns:
        ``dest``.

    Raises:
        DataError: if the download fails or a digest does not match
            (:class:`ChecksumError`); no partial file is left behind.
    """
    _fetch(url, dest, sha256=sha256, md5=md5, timeout=timeout, progress=progress)
    return dest


def _fetch(
    url: str, dest: Path, *, sha256: str | None, md5: str | None, timeout: float, progress: bool
) -> str:
    """Download like :func:`download_file`; return the SHA-256 of the file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")
    h_sha, h_md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    logger.info("Downloading %s to %s", url, dest)
    try:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    h_sha.update(chunk)
                    h_md5.update(chunk)
                    done += len(chunk)
                    if progress:
                        _report(url, done, total)
        except urllib.error.HTTPError as exc:
            raise DataError(
                f"Downloading {url} failed: the server answered HTTP {exc.code} ({exc.reason}). {_MANUAL_FIX}"
            ) from exc
        # URLError, timeouts and resets are OSErrors; a cut-off body is an HTTPException
        except (OSError, ValueError, http.client.HTTPException) as exc:
            if isinstance(exc, OSError) and exc.filename is not None:
                raise DataError(
                    f"Cannot write the download of {url} to {exc.filename}: {exc.strerror}. "
                    "Check that the cache folder is writable, or point it elsewhere."
                ) from exc
            reason = getattr(exc, "reason", exc)
            raise DataError(
                f"Cannot download {url}: {reason}. Check the network connection or proxy settings. "
                f"{_MANUAL_FIX}"
            ) from exc
        if progress:
            sys.stderr.write("\n")
        for algo, expected, actual in (
            ("SHA-256", sha256, h_sha.hexdigest()),
            ("MD5", md5, h_md5.hexdigest()),
        ):
            if expected is not None and expected.lower() != actual:
                raise ChecksumError(
                    f"The download of {url} is corrupt or not the expected file: its {algo} is {actual}, "
                    f"expected {expected}. The partial file was deleted; try again, or {_MANUAL}"
                )
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return h_sha.hexdigest()


def _report(url: str, done: int, total: int) -> None:
    name = url.rsplit("/", 1)[-1]
    if total:
        sys.stderr.write(f"\r{name}: {done / total:6.1%} of {total / 1e6:.1f} MB")
    else:
        sys.stderr.write(f"\r{name}: {done / 1e6:.1f} MB")
    sys.stderr.flush()


def ensure_movielens(
    variant: str,
    cache_dir: Path | None = None,
    *,
    base_url: str | None = None,
    release: MovieLensRelease | None = None,
    download: bool = True,
    timeout: float = 60,
    progress: bool = False,
) -> Path:
    """Return the folder of a MovieLens release, downloading it once if needed.

    A complete, verified copy under ``cache_dir / "movielens"`` is returned
    without touching the network. Otherwise the zip is downloaded, checked
    against the published MD5 and the pinned SHA-256 (recorded on first
    download in ``checksums.json``), unpacked safely, and for ml-100k the
    content files are checked against their known SHA-256.

    Args:
        variant: ``"100k"``, ``"1m"``, ``"latest-small"`` or ``"latest"``.
        cache_dir: Cache root; :func:`default_cache_dir` if None.
        base_url: Fetch the zip from this URL prefix instead of GroupLens
            (a mirror, or a local server in tests).
        release: Use this release entry instead of ``MOVIELENS_RELEASES[variant]``
            (e.g. with other expected digests).
        download: If False, raise instead of downloading a missing copy.
        timeout: Socket timeout in seconds.
        progress: Write download progress to stderr.

    Returns:
        The folder holding the release's files.

    Raises:
        DataError: if the copy is missing and cannot be downloaded or verified.
    """
    rel = release if release is not None else movielens_release(variant)
    root = (
        Path(cache_dir if cache_dir is not None else default_cache_dir()).expanduser() / "movielens"
    )
    target = root / rel.folder
    if _is_complete(target, rel):
        return target
    if not download:
        raise DataError(
            f"MovieLens {rel.variant} is not in the cache at {target} and downloading is switched off. "
            f"Point environment.data.path at the folder that holds {rel.files[0]}, or allow the download."
        )
    url = f"{base_url.rstrip('/')}/{rel.zip_name}" if base_url else rel.url
    checksums_path = root / "checksums.json"
    pinned = _read_checksums(checksums_path).get(rel.zip_name)
    zip_path = root / rel.zip_name
    try:
        try:
            actual = _fetch(
                url, zip_path, sha256=pinned, md5=rel.md5, timeout=timeout, progress=progress
            )
        except ChecksumError as exc:
            if pinned is None:
                raise
            raise ChecksumError(
                f"{exc} If GroupLens has published a new release of {rel.zip_name}, delete its entry "
                f"from {checksums_path} to accept it."
            ) from exc
        _install(zip_path, target, rel)
    finally:
        zip_path.unlink(missing_ok=True)
    if pinned is None:
        checksums = _read_checksums(checksums_path)
        checksums[rel.zip_name] = actual
        tmp = checksums_path.with_suffix(".json.part")
        tmp.write_text(json.dumps(checksums, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, checksums_path)
    return target


def _is_complete(folder: Path, rel: MovieLensRelease) -> bool:
    if not all((folder / name).is_file() for name in rel.files):
        return False
    bad = _content_mismatches(folder, rel)
    if bad:
        logger.warning(
            "Cached MovieLens files %s in %s are damaged; downloading again.", bad, folder
        )
    return not bad


def _content_mismatches(folder: Path, rel: MovieLensRelease) -> list[str]:
    return [
        name
        for name, digest in rel.content_sha256.items()
        if not (folder / name).is_file() or file_sha256(folder / name) != digest
    ]


def _read_checksums(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(
            f"Cannot read the pinned checksums in {path}: {exc}. Delete the file to start afresh."
        ) from exc
    if not isinstance(data, dict):
        raise DataError(
            f"{path} is not a JSON object of file -> SHA-256. Delete it to start afresh."
        )
    return {str(k): str(v) for k, v in data.items()}


def _install(zip_path: Path, target: Path, rel: MovieLensRelease) -> None:
    """Unpack ``zip_path`` into a temporary folder, verify it, and move it onto ``target``."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{rel.folder}-", dir=target.parent))
    try:
        extract_zip(zip_path, tmp)
        unpacked = tmp / rel.folder
        missing = [name for name in rel.files if not (unpacked / name).is_file()]
        if missing:
            raise DataError(
                f"The zip {zip_path.name} does not hold {', '.join(f'{rel.folder}/{m}' for m in missing)}. "
                f"It is not the expected MovieLens release; {_MANUAL}"
            )
        bad = _content_mismatches(unpacked, rel)
        if bad:
            raise ChecksumError(
                f"The files {', '.join(bad)} unpacked from {zip_path.name} differ from the official "
                f"MovieLens {rel.variant} release (SHA-256 mismatch). {_MANUAL_FIX}"
            )
        if target.exists():
            shutil.rmtree(target)
        os.replace(unpacked, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def extract_zip(zip_path: Path, dest: Path) -> None:
    """Extract a zip into ``dest``, refusing members that would land outside it.

    Raises:
        DataError: if the zip is unreadable or holds an absolute path, a ``..``
            component or a symbolic link.
    """
    root = dest.resolve()
    try:
        with zipfile.ZipFile(zip_path) as zf:
            for info in zf.infolist():
                name = PurePosixPath(info.filename.replace("\\", "/"))
                out = (root / name).resolve()
                is_link = stat.S_ISLNK(info.external_attr >> 16)
                if (
                    name.is_absolute()
                    or ".." in name.parts
                    or is_link
                    or not out.is_relative_to(root)
                ):
                    raise DataError(
                        f"The zip {zip_path} holds an unsafe entry '{info.filename}' (absolute path, '..' "
                        f"or link); refusing to unpack it. {_MANUAL_FIX}"
                    )
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise DataError(f"{zip_path} is not a readable zip file ({exc}). {_MANUAL_FIX}") from exc
