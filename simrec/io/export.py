"""Export a run folder as RecBole atomic files, CSV or Parquet.

The exported interactions are the real training interactions (``train.parquet``,
``origin == "real"``) followed by the simulated ones (``origin == "sim"``): one
row per ``"click"`` event, carrying the value of the ``"rating"`` event at the
same (run, session, page, position) if there is one, else a missing rating.
Indices are mapped back to the raw ids of ``users.parquet`` / ``items.parquet``.

The RecBole files and their benchmark split are written by :mod:`simrec.io.recbole`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from simrec.core.errors import ConfigError, DataError
from simrec.io.events import EVENT_SCHEMA, EVENTS_DIRNAME, list_parts
from simrec.io.export_rows import export_frame, id_mappers, real_interactions, scalar_columns
from simrec.io.manifest import atomic_path, read_parquet_checked, write_parquet_atomic
from simrec.io.recbole import VALID_FRACTION, benchmark_splits, write_recbole

logger = logging.getLogger(__name__)

#: Export formats :func:`export_run` understands.
EXPORT_FORMATS: tuple[str, ...] = ("recbole", "csv", "parquet")
#: Columns of an exported interaction table, in order.
EXPORT_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "rating", "timestamp", "origin")
#: Files (``events.parquet`` is a folder) an export needs in the run folder.
RUN_FILES: tuple[str, ...] = ("users.parquet", "items.parquet", "train.parquet", EVENTS_DIRNAME)
_EVENT_KEY = ["run", "session", "page", "position"]


def _check_run_folder(run_dir: Path) -> None:
    if not run_dir.is_dir():
        raise DataError(
            f"Run folder {run_dir} does not exist. Pass the folder of a finished run, "
            "e.g. runs/<name>/."
        )
    for name in RUN_FILES:
        if not (run_dir / name).exists():
            raise DataError(
                f"{run_dir / name} is missing, so {run_dir} is not a complete simrec run folder "
                f"(it needs {', '.join(RUN_FILES)}). Point at another run folder, or re-run the "
                "scenario so it writes all its outputs."
            )


def _clicks_and_ratings(run_dir: Path) -> Iterator[pd.DataFrame]:
    """Click and rating rows, one part at a time (memory bounded by one part)."""
    columns = [*_EVENT_KEY, "user", "item", "event", "value", "timestamp"]
    for path in list_parts(run_dir / EVENTS_DIRNAME):
        part = pq.read_table(path, columns=columns).to_pandas()
        yield part.loc[part["event"].astype(str).isin(["click", "rating"])]


def simulated_interactions(events: pd.DataFrame) -> pd.DataFrame:
    """Clicks of an event table with the rating given at the same slot.

    Args:
        events: Event rows (any subset that contains the clicks and ratings).

    Returns:
        Columns ``user``, ``item`` (indices), ``rating`` (``float32``, NaN when the
        click was not rated) and ``timestamp``, in event order.
    """
    kind = events["event"].astype(str)
    clicks = events.loc[kind == "click", [*_EVENT_KEY, "user", "item", "timestamp"]]
    ratings = events.loc[kind == "rating", [*_EVENT_KEY, "value"]]
    ratings = ratings.drop_duplicates(_EVENT_KEY, keep="last").rename(columns={"value": "rating"})
    for frame in (clicks, ratings):
        frame["run"] = frame["run"].astype(str)
    merged = clicks.merge(ratings, how="left", on=_EVENT_KEY, sort=False)
    return pd.DataFrame(
        {
            "user": merged["user"].to_numpy(np.int32),
            "item": merged["item"].to_numpy(np.int32),
            "rating": merged["rating"].to_numpy(np.float32),
            "timestamp": merged["timestamp"].to_numpy(np.int64),
        }
    )


def cap_per_user(sim: pd.DataFrame, max_per_user: int | None) -> pd.DataFrame:
    """Keep at most ``max_per_user`` rows per ``user``: the best rated first, then the earliest.

    Unrated rows (NaN) come after rated ones; the kept rows stay in their input order.
    """
    if max_per_user is None or sim.empty:
        return sim
    rating = np.nan_to_num(sim["rating"].to_numpy(np.float64), nan=-np.inf)
    order = np.lexsort((np.arange(len(sim)), -rating, sim["user"].to_numpy()))
    user = sim["user"].to_numpy()[order]
    first = np.r_[0, np.flatnonzero(np.diff(user)) + 1]
    rank = np.arange(len(user)) - np.repeat(first, np.diff(np.r_[first, len(user)]))
    return sim.iloc[np.sort(order[rank < max_per_user])].reset_index(drop=True)


def build_interactions(
    run_dir: Path, sim_users: np.ndarray | None = None, sim_min_rating: float | None = None,
    sim_max_per_user: int | None = None,
) -> pd.DataFrame:  # fmt: skip
    """The export interaction table of a run: real rows, then simulated rows.

    Args:
        run_dir: A complete run folder.
        sim_users: If given, keep only the simulated rows of these user indices.
        sim_min_rating: If given, keep only simulated rows rated at least this.
        sim_max_per_user: If given, keep at most this many simulated rows per user
            (after the filters above; see :func:`cap_per_user`).

    Returns:
        Columns :data:`EXPORT_COLUMNS`, with raw user and item ids.

    Raises:
        DataError: A run file is missing or inconsistent.
    """
    run_dir = Path(run_dir)
    _check_run_folder(run_dir)
    user_raw, item_raw = id_mappers(run_dir)
    real = real_interactions(run_dir / "train.parquet")
    kept = list(_clicks_and_ratings(run_dir))
    sim = simulated_interactions(pd.concat(kept, ignore_index=True)) if kept else real.iloc[:0]
    if sim_users is not None:
        sim = sim.loc[np.isin(sim["user"].to_numpy(), np.asarray(sim_users, np.int64))]
    if sim_min_rating is not None:
        sim = sim.loc[sim["rating"].to_numpy() >= sim_min_rating]
    sim = cap_per_user(sim, sim_max_per_user)
    frames = [
        export_frame(real, "real", user_raw, item_raw, "train.parquet"),
        export_frame(sim, "sim", user_raw, item_raw, EVENTS_DIRNAME),
    ]
    out = pd.concat(frames, ignore_index=True)
    out["origin"] = out["origin"].astype(str)
    return out


def _write_csv(path: Path, df: pd.DataFrame) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, na_rep="", lineterminator="\n", encoding="utf-8")
    return path


def _export_csv(run_dir: Path, inter: pd.DataFrame, out: Path) -> list[Path]:
    written = [_write_csv(out / "interactions.csv", inter)]
    for name in ("users", "items"):
        path = run_dir / f"{name}.parquet"
        written.append(
            _write_csv(out / f"{name}.csv", scalar_columns(read_parquet_checked(path), path))
        )
    # Part by part, so memory stays bounded by one part however long the run was.
    events_path = out / "events.csv"
    with atomic_path(events_path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(EVENT_SCHEMA.names) + "\n")
        for part in list_parts(run_dir / EVENTS_DIRNAME):
            events = pq.read_table(part).to_pandas()
            events.to_csv(fh, header=False, index=False, na_rep="", lineterminator="\n")
    written.append(events_path)
    return written


#: The note an export of an incomplete run carries beside its files.
INCOMPLETE_NOTE = "INCOMPLETE.txt"


def export_run(
    run_dir: Path,
    formats: Sequence[str] = ("recbole",),
    out_dir: Path | None = None,
    sim_users: np.ndarray | None = None,
    sim_min_rating: float | None = None,
    sim_max_per_user: int | None = None,
    note_incomplete: bool = True,
    valid_fraction: float = VALID_FRACTION,
) -> dict[str, list[Path]]:
    """Export a run's interactions (real, then simulated) and tables.

    * ``"recbole"``: ``<dataset>.inter``, ``.user``, ``.item`` atomic files, where
      ``<dataset>`` is the run folder's name, and the benchmark split
      ``<dataset>.train.inter``, ``.valid.inter``, ``.test.inter`` (:func:`benchmark_splits`;
      not for a run without held-out data); into ``out_dir`` or ``run_dir/"atomic"``.
    * ``"csv"``: ``interactions.csv``, ``users.csv``, ``items.csv``, ``events.csv``;
      into ``out_dir`` or ``run_dir/"export"``.
    * ``"parquet"``: ``interactions.parquet``; into ``out_dir`` or ``run_dir/"export"``.

    Every file is written atomically; missing ratings are empty fields.

    Args:
        run_dir: A complete run folder (``runs/<name>/``).
        formats: Any of :data:`EXPORT_FORMATS`.
        out_dir: Folder for all outputs instead of the defaults above.
        sim_users: If given, export only the simulated rows of these user indices
            (real rows are always all exported).
        sim_min_rating: If given, export only simulated rows rated at least this.
        sim_max_per_user: If given, export at most this many simulated rows per user
            (best rated first, then earliest).
        note_incomplete: Mark the export of an unfinished run (``INCOMPLETE.txt``); the
            runner, exporting its own run just before finishing it, turns it off.
        valid_fraction: Share of each user's real training rows in the RecBole ``valid`` part.

    Returns:
        The files written, per format.

    Raises:
        ConfigError: An unknown format, or ``valid_fraction`` outside ``[0, 1)``.
        DataError: The run folder lacks a file or its files disagree.
    """
    if isinstance(formats, str):
        formats = (formats,)
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown:
        raise ConfigError(
            f"Unknown export format(s) {unknown}; choose from {', '.join(EXPORT_FORMATS)}."
        )
    if not 0.0 <= valid_fraction < 1.0:
        raise ConfigError(
            f"valid_fraction must be at least 0 and below 1, got {valid_fraction}; "
            f"the default is {VALID_FRACTION}."
        )
    run_dir = Path(run_dir)
    partial = _incomplete(run_dir) if note_incomplete else None
    inter = build_interactions(run_dir, sim_users, sim_min_rating, sim_max_per_user)
    dataset = run_dir.resolve().name
    written: dict[str, list[Path]] = {}
    for fmt in dict.fromkeys(formats):
        default = run_dir / ("atomic" if fmt == "recbole" else "export")
        out = Path(out_dir) if out_dir is not None else default
        if fmt == "recbole":
            splits = benchmark_splits(run_dir, inter, valid_fraction)
            written[fmt] = write_recbole(run_dir, inter, out, dataset, splits)
        elif fmt == "csv":
            written[fmt] = _export_csv(run_dir, inter, out)
        else:
            path = out / "interactions.parquet"
            write_parquet_atomic(inter, path)
            written[fmt] = [path]
        if partial is not None:  # marked, beside the files, so nobody mistakes them for a whole run
            note = out / INCOMPLETE_NOTE
            with atomic_path(note) as tmp:
                tmp.write_text(f"Incomplete: {partial}.\n", encoding="utf-8")
            written[fmt].append(note)
            logger.warning("exported an incomplete run: %s", partial)
        logger.info("exported %s as %s into %s", run_dir, fmt, out)
    return written


def _incomplete(run_dir: Path) -> str | None:
    """What is incomplete about the run in ``run_dir`` (``None``: finished, or no manifest)."""
    from simrec.io.manifest_model import Manifest, incomplete

    if not (run_dir / "manifest.json").is_file():
        return None
    try:
        return incomplete(Manifest.read(run_dir))
    except DataError:  # a folder laid out by hand: export what is there
        return None
