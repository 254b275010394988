"""``Manifest``: the ``manifest.json`` of every folder simrec writes, as one pydantic model.

Run, variants, bench, fidelity and augment folders share the common fields
(kind, name, status, seed, times, scenario, versions, git, error, timings); the
fields only one kind writes are optional and checked against the kind. On disk
the format version is written under the kind's historical key (``simrec_run``
for runs and variants, ``simrec_bench``, ``simrec_fidelity``, ``simrec_augment``)
and fields that are ``None`` are left out, except ``git`` (``null`` outside a
checkout), so the JSON keeps the keys earlier versions wrote.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from simrec.core.errors import DataError
from simrec.io.manifest import git_revision, package_versions, write_json_atomic

Kind = Literal["run", "variants", "bench", "fidelity", "augment"]
Status = Literal["running", "completed", "stopped", "failed", "interrupted", "crashed"]

#: The key the format version is written under, per kind.
VERSION_KEYS: dict[str, str] = {
    "run": "simrec_run",
    "variants": "simrec_run",
    "bench": "simrec_bench",
    "fidelity": "simrec_fidelity",
    "augment": "simrec_augment",
}

#: Fields each kind must have.
REQUIRED: dict[str, tuple[str, ...]] = {
    "run": ("status", "seed", "scenario", "started_at"),
    "variants": ("status", "seed", "scenario", "started_at", "variants"),
    "bench": ("status", "spec", "cells", "started_at"),
    "fidelity": ("seed", "scenario", "options"),
    "augment": ("scenario", "options"),
}

#: Kind-specific fields and the kinds that may carry them (the other fields are common).
ONLY_FOR: dict[str, tuple[str, ...]] = {
    "stop_reason": ("run",),
    "llm": ("run",),
    "social": ("run",),
    "phase_timings_s": ("run",),
    "totals": ("run",),
    "steps_completed": ("run",),
    "events_rows": ("run",),
    "process": ("run",),
    "resumes": ("run",),
    "checkpoint": ("run",),
    "variants": ("variants",),
    "spec": ("bench",),
    "cells": ("bench",),
    "wall_s": ("bench",),
    "cells_done": ("bench",),
    "robustness": ("bench",),
    "cells_missing": ("bench",),
    "failures": ("bench",),
    "options": ("fidelity", "augment"),
    "summary": ("augment",),
    "data": ("augment",),
}

#: Fields written even when ``None``.
_KEEP_NONE = frozenset({"git"})


def this_process() -> dict[str, Any]:
    """The running process as a run manifest records it (``process``): pid and host."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def process_alive(process: dict[str, Any] | None) -> bool | None:
    """Whether the recorded process still runs (``None``: unknown, e.g. another host)."""
    if not process or process.get("host") != socket.gethostname():
        return None
    try:
        os.kill(int(process["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, KeyError, TypeError, ValueError):
        return None
    return True


def observed_status(manifest: Manifest) -> Status | None:
    """The manifest's status, except that a ``running`` run whose process is gone is ``crashed``."""
    if manifest.status == "running" and process_alive(manifest.process) is False:
        return "crashed"
    return manifest.status


def incomplete(manifest: Manifest) -> str | None:
    """A sentence saying a run folder is incomplete (``None`` for a finished run or another kind)."""
    status = observed_status(manifest)
    if manifest.kind != "run" or status in ("completed", "stopped"):
        return None
    steps = ((manifest.scenario or {}).get("run") or {}).get("steps", "?")
    how = "is still running" if status == "running" else f"{status}"
    return (
        f"run {manifest.name} {how} after {manifest.steps_completed or 0} of {steps} steps: the files hold what "
        "it wrote so far" + ("" if status == "running" else "; `simrec run --resume <run folder>` continues it")
    )


def now() -> str:
    """The current UTC time as the manifests write it (ISO 8601, seconds)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class VariantEntry(BaseModel):
    """One variant of a variants folder: its sub-folder and status."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    run_dir: str
    status: Status


class Manifest(BaseModel):
    """A folder's ``manifest.json``.

    Build one with :meth:`start` (status ``running``, versions and git filled in),
    change fields by assignment (validated), save it with :meth:`write` and read
    one back with :meth:`read`.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    version: int = 1
    kind: Kind
    name: str
    status: Status | None = None
    seed: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    scenario: dict[str, Any] | None = None
    spec: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    cells: int | None = None
    variants: dict[str, VariantEntry] | None = None
    versions: dict[str, str]
    git: dict[str, Any] | None = None
    error: str | None = None
    stop_reason: str | None = None
    llm: dict[str, Any] | None = None
    timings_s: dict[str, float] | None = None
    social: dict[str, Any] | None = None
    phase_timings_s: dict[str, float] | None = None
    totals: dict[str, int] | None = None
    steps_completed: int | None = None
    events_rows: int | None = None
    wall_s: float | None = None
    cells_done: int | None = None
    cells_missing: list[str] | None = None
    failures: dict[str, str] | None = None
    summary: list[dict[str, Any]] | None = None
    data: dict[str, list[str]] | None = None
    rating_scale: dict[str, float | int] | None = None
    report_error: str | None = None
    process: dict[str, Any] | None = None
    resumes: list[dict[str, Any]] | None = None
    checkpoint: dict[str, Any] | None = None
    robustness: dict[str, Any] | None = None

    @classmethod
    def start(cls, kind: Kind, name: str, **fields: Any) -> Manifest:
        """A new manifest: status ``running``, ``started_at`` now, package versions, git revision.

        Args:
            kind: What the folder holds.
            name: The folder's name.
            **fields: Further fields (``seed``, ``scenario``, ...).
        """
        base: dict[str, Any] = {"status": "running", "started_at": now()}
        return cls.of(kind, name, **{**base, **fields})

    @classmethod
    def of(cls, kind: Kind, name: str, **fields: Any) -> Manifest:
        """A manifest with package versions and git revision filled in (no status or times).

        Args:
            kind: What the folder holds.
            name: The folder's name.
            **fields: The other fields.
        """
        return cls(kind=kind, name=name, versions=package_versions(), git=git_revision(), **fields)

    def finish(self, status: Status, **fields: Any) -> Manifest:
        """Set ``status``, ``finished_at`` (now) and ``fields``; returns ``self``."""
        self.status = status
        self.finished_at = now()
        for key, value in fields.items():
            setattr(self, key, value)
        return self

    def write(self, path: Path) -> None:
        """Write the manifest to ``path`` atomically (see :func:`write_json_atomic`)."""
        write_json_atomic(Path(path), self.model_dump())

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """Read a ``manifest.json`` back.

        Args:
            path: The manifest file, or the folder that holds it.

        Raises:
            DataError: if the file is missing, is not JSON, or is not a valid manifest
                (the message names the file and the offending fields).
        """
        path = Path(path)
        if path.is_dir():
            path = path / "manifest.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(
                f"{path} does not exist: {path.parent} is not a simrec folder."
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError(f"Cannot read {path}: {err}. The manifest is damaged.") from err
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
                for e in err.errors()
            )
            raise DataError(f"{path} is not a valid simrec manifest: {problems}.") from err

    @model_validator(mode="before")
    @classmethod
    def _from_file(cls, data: Any) -> Any:
        """Accept the on-disk form: the version under its kind's key; old files imply ``kind``."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        found = [key for key in dict.fromkeys(VERSION_KEYS.values()) if key in data]
        if len(found) > 1:
            raise ValueError(f"more than one format version key: {found}")
        if found:
            key = found[0]
            data["version"] = data.pop(key)
            if "kind" not in data:
                family = key.removeprefix("simrec_")
                data["kind"] = "variants" if family == "run" and "variants" in data else family
            elif (expected := VERSION_KEYS.get(data["kind"], key)) != key:
                raise ValueError(f"kind {data['kind']!r} is written with {expected!r}, not {key!r}")
        return data

    @model_validator(mode="after")
    def _check_kind(self) -> Manifest:
        missing = [f for f in REQUIRED[self.kind] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.kind} manifest needs {', '.join(missing)}")
        stray = [
            f
            for f, kinds in ONLY_FOR.items()
            if self.kind not in kinds and getattr(self, f) is not None
        ]
        if stray:
            raise ValueError(f"a {self.kind} manifest has no {', '.join(stray)}")
        return self

    @model_serializer(mode="wrap")
    def _to_file(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The on-disk form: version key first, ``None`` fields left out (``git`` kept)."""
        out: dict[str, Any] = handler(self)
        body = {
            k: v for k, v in out.items() if k != "version" and (v is not None or k in _KEEP_NONE)
        }
        return {VERSION_KEYS[self.kind]: out["version"], **body}
