"""Export a run folder as RecBole atomic files, CSV or Parquet.

The exported interactions are the real training interactions (``train.parquet``,
``origin == "real"``) followed by the simulated ones (``origin == "sim"``): one
row per ``"click"`` event, carrying the value of the ``"rating"`` event at the
same (run, session, page, position) if there is one, else a missing rating.
Indices are mapped back to the raw ids of ``users.parquet`` / ``items.parquet``.

The RecBole export also writes a benchmark split (:func:`benchmark_splits`) for
RecBole's ``benchmark_filename: [train, valid, test]``: ``test`` is the real held-out
data (``heldout.parquet``), ``valid`` a seeded share of each user's real training
interactions, chosen the way the run's data split chose its held-out part, and
``train`` everything else of the plain export (real training and simulated rows).
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from simrec.core.errors import ConfigError, DataError
from simrec.data.split import split_random, split_temporal
from simrec.data.types import Interactions
from simrec.io.events import EVENT_SCHEMA, EVENTS_DIRNAME, list_parts
from simrec.io.manifest import atomic_path, read_parquet_checked, write_parquet_atomic

logger = logging.getLogger(__name__)

#: Export formats :func:`export_run` understands.
EXPORT_FORMATS: tuple[str, ...] = ("recbole", "csv", "parquet")
#: Columns of an exported interaction table, in order.
EXPORT_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "rating", "timestamp", "origin")
#: Files (``events.parquet`` is a folder) an export needs in the run folder.
RUN_FILES: tuple[str, ...] = ("users.parquet", "items.parquet", "train.parquet", EVENTS_DIRNAME)

#: Parts of a RecBole benchmark split, in the order ``benchmark_filename`` lists them.
BENCHMARK_PARTS: tuple[str, ...] = ("train", "valid", "test")
#: Share of each user's real training interactions the ``valid`` part holds.
VALID_FRACTION = 0.1
_VALID_STREAM = 0x7A11D  # seeds the valid choice apart from the data split's own draws

_RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")
_INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\torigin:token"
_LINE_BREAKS = re.compile(r"[\t\r\n]+")
_SPACES = re.compile(r"\s+")
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


def _id_mapper(
    table: pd.DataFrame, index_col: str, id_col: str, path: Path
) -> Callable[[np.ndarray, str], np.ndarray]:
    """Return ``f(indices) -> raw ids`` for a users/items table."""
    if id_col not in table:
        raise DataError(f"{path} lacks the column '{id_col}'; it was not written by simrec.")
    index = table[index_col].to_numpy(np.int64) if index_col in table else np.arange(len(table))
    raw = table[id_col].to_numpy()
    if len(index) and (index.min() < 0 or len(np.unique(index)) != len(index)):
        raise DataError(f"{path}: column '{index_col}' must hold distinct non-negative indices.")
    pos = np.full(int(index.max()) + 1 if len(index) else 0, -1, np.int64)
    pos[index] = np.arange(len(index))

    def to_raw(codes: np.ndarray, source: str) -> np.ndarray:
        codes = np.asarray(codes, np.int64)
        bad = (codes < 0) | (codes >= len(pos))
        found = np.where(bad, -1, pos[np.where(bad, 0, codes)])
        if (found < 0).any():
            first = int(codes[np.argmax(found < 0)])
            raise DataError(
                f"{source} refers to {index_col} index {first}, which {path.name} does not list. "
                "The run folder mixes files of different runs; re-run the scenario."
            )
        return raw[found]

    return to_raw


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
    user_raw, item_raw = _id_mappers(run_dir)
    real = _real_interactions(run_dir / "train.parquet")
    kept = list(_clicks_and_ratings(run_dir))
    sim = simulated_interactions(pd.concat(kept, ignore_index=True)) if kept else real.iloc[:0]
    if sim_users is not None:
        sim = sim.loc[np.isin(sim["user"].to_numpy(), np.asarray(sim_users, np.int64))]
    if sim_min_rating is not None:
        sim = sim.loc[sim["rating"].to_numpy() >= sim_min_rating]
    sim = cap_per_user(sim, sim_max_per_user)
    frames = [
        _export_frame(real, "real", user_raw, item_raw, "train.parquet"),
        _export_frame(sim, "sim", user_raw, item_raw, EVENTS_DIRNAME),
    ]
    out = pd.concat(frames, ignore_index=True)
    out["origin"] = out["origin"].astype(str)
    return out


_Mapper = Callable[[np.ndarray, str], np.ndarray]


def _id_mappers(run_dir: Path) -> tuple[_Mapper, _Mapper]:
    """Index → raw id mappers of a run's users and items."""
    users = read_parquet_checked(run_dir / "users.parquet")
    items = read_parquet_checked(run_dir / "items.parquet")
    return (
        _id_mapper(users, "user", "user_id", run_dir / "users.parquet"),
        _id_mapper(items, "item", "item_id", run_dir / "items.parquet"),
    )


def _real_interactions(path: Path) -> pd.DataFrame:
    """``train.parquet`` / ``heldout.parquet`` as ``user``, ``item``, ``rating``, ``timestamp``."""
    table = read_parquet_checked(path)
    if not {"user", "item"} <= set(table.columns):
        raise DataError(
            f"{path} lacks the 'user' and 'item' index columns; "
            "it was not written by simrec. Re-run the scenario."
        )
    return Interactions.from_frame(table).to_frame()


def _export_frame(
    table: pd.DataFrame, origin: str, user_raw: _Mapper, item_raw: _Mapper, source: str
) -> pd.DataFrame:
    """Index rows as :data:`EXPORT_COLUMNS` rows, with raw ids and ``origin``."""
    return pd.DataFrame(
        {
            "user_id": user_raw(table["user"].to_numpy(), source),
            "item_id": item_raw(table["item"].to_numpy(), source),
            "rating": table["rating"].to_numpy(np.float32),
            "timestamp": table["timestamp"].to_numpy(np.int64),
            "origin": np.full(len(table), origin, dtype=object),
        }
    )


def _split_rule(run_dir: Path) -> tuple[str, int]:
    """The run's data split kind (``random`` unless the manifest says otherwise) and seed."""
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    data = ((manifest.get("scenario") or {}).get("environment") or {}).get("data") or {}
    kind = (data.get("split") or {}).get("kind") or "random"
    seed = manifest.get("seed")
    return str(kind), int(seed) if isinstance(seed, int) else 0


def valid_rows(
    user: np.ndarray, timestamp: np.ndarray, kind: str, fraction: float, seed: int
) -> np.ndarray:
    """Which real training rows form the ``valid`` part: a boolean mask over the rows.

    Each user gives ``round(fraction * n)`` of their ``n`` rows (halves up, never the
    last one), chosen like the data split chose the held-out part: the latest by time
    for ``kind == "temporal"``, else uniformly at random from a generator seeded with
    ``seed`` (its own stream: not the data split's draws).

    Args:
        user: Any per-user code of each row (raw ids or indices).
        timestamp: Each row's time.
        kind: The run's ``environment.data.split.kind``.
        fraction: Share of each user's rows, in ``[0, 1]``.
        seed: The run's seed.
    """
    codes = pd.factorize(pd.Series(user), sort=False)[0].astype(np.int32)
    # the row number rides in ``item``, so the split's held-out part names the chosen rows
    rows = Interactions.from_arrays(codes, np.arange(len(codes)), timestamp=timestamp)
    if kind == "temporal":
        held = split_temporal(rows, fraction).heldout
    else:
        held = split_random(rows, fraction, np.random.default_rng([seed, _VALID_STREAM])).heldout
    mask = np.zeros(len(codes), bool)
    mask[held.item] = True
    return mask


def benchmark_splits(
    run_dir: Path, inter: pd.DataFrame, valid_fraction: float = VALID_FRACTION
) -> dict[str, pd.DataFrame] | None:
    """A run's export cut into RecBole's benchmark parts :data:`BENCHMARK_PARTS`.

    * ``test``: the real held-out interactions (``heldout.parquet``), raw ids, ``origin`` real.
    * ``valid``: per user, ``valid_fraction`` of the real training rows of ``inter``, chosen
      like the run's data split chose ``test`` (:func:`valid_rows`), so that early stopping
      and model selection on ``valid`` judge what ``test`` will.
    * ``train``: every other row of ``inter`` (the rest of the real training rows, then the
      simulated rows), in order.

    Held-out rows are never in ``train`` or ``valid``; simulated rows only in ``train``.

    Args:
        run_dir: A complete run folder.
        inter: Its export table (:func:`build_interactions`, any of its filters).
        valid_fraction: Share of each user's real training rows in ``valid``.

    Returns:
        The parts in :data:`BENCHMARK_PARTS` order, or ``None`` when the run holds nothing
        out (no or an empty ``heldout.parquet``, e.g. ``split.kind: none``).
    """
    run_dir = Path(run_dir)
    path = run_dir / "heldout.parquet"
    if not path.is_file():
        logger.warning("%s has no heldout.parquet: no RecBole benchmark split", run_dir)
        return None
    heldout = _real_interactions(path)
    if heldout.empty:
        logger.warning("%s holds no interactions out: no RecBole benchmark split", run_dir)
        return None
    user_raw, item_raw = _id_mappers(run_dir)
    test = _export_frame(heldout, "real", user_raw, item_raw, "heldout.parquet")
    test["origin"] = test["origin"].astype(str)
    real = (inter["origin"] == "real").to_numpy()
    kind, seed = _split_rule(run_dir)
    valid = np.zeros(len(inter), bool)
    valid[real] = valid_rows(
        inter["user_id"].to_numpy()[real], inter["timestamp"].to_numpy()[real], kind,
        valid_fraction, seed,
    )  # fmt: skip
    pairs = ["user_id", "item_id"]
    guessed = pd.MultiIndex.from_frame(test[pairs]).isin(
        pd.MultiIndex.from_frame(inter.loc[~real, pairs])
    )
    logger.info("%d of %d held-out rows are (user, item) pairs the simulation watched too",
                int(guessed.sum()), len(test))  # fmt: skip
    return {
        "train": inter.loc[~valid].reset_index(drop=True),
        "valid": inter.loc[valid].reset_index(drop=True),
        "test": test,
    }


def _clean(values: pd.Series) -> pd.Series:
    """Strings with tabs and line breaks replaced by a space (TSV-safe); missing → ''."""
    text = values.astype(object).where(values.notna(), "").astype(str)
    return text.str.replace(_LINE_BREAKS, " ", regex=True)


def _genre_seq(genres: pd.Series) -> pd.Series:
    """``"Film Noir|Drama"`` → ``"Film_Noir Drama"`` (one token per genre)."""

    def convert(text: str) -> str:
        names = (_SPACES.sub("_", g.strip()) for g in text.split("|"))
        return " ".join(n for n in names if n)

    return _clean(genres).map(convert)


def _is_scalar(values: pd.Series) -> bool:
    if values.dtype != object:
        return True
    sample = values.dropna()
    nested = list | tuple | dict | set | np.ndarray | bytes
    return sample.empty or not isinstance(sample.iloc[0], nested)


def _scalar_columns(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    skipped = [c for c in df.columns if not _is_scalar(df[c])]
    if skipped:
        logger.warning("export skips non-scalar columns %s of %s", skipped, path.name)
    return df.drop(columns=skipped)


def _write_tsv(path: Path, header: str, body: pd.DataFrame) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(header + "\n")
        body.to_csv(fh, sep="\t", header=False, index=False, na_rep="", lineterminator="\n")
    return path


def _write_csv(path: Path, df: pd.DataFrame) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, na_rep="", lineterminator="\n", encoding="utf-8")
    return path


def _recbole_name(column: str) -> str:
    return re.sub(r"[\s:]+", "_", str(column))


def _inter_body(inter: pd.DataFrame) -> pd.DataFrame:
    body = inter.copy()
    for col in ("user_id", "item_id", "origin"):
        body[col] = _clean(body[col])
    return body


def _export_recbole(
    run_dir: Path, inter: pd.DataFrame, out: Path, dataset: str,
    splits: dict[str, pd.DataFrame] | None,
) -> list[Path]:  # fmt: skip
    users = _scalar_columns(read_parquet_checked(run_dir / "users.parquet"), run_dir / "users.parquet")
    items = read_parquet_checked(run_dir / "items.parquet")

    written = [_write_tsv(out / f"{dataset}.inter", _INTER_HEADER, _inter_body(inter))]

    user_cols = ["user_id", *[c for c in users.columns if c not in ("user", "user_id")]]
    user_body, user_head = pd.DataFrame(index=users.index), []
    for col in user_cols:
        values = users[col]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if numeric and col != "user_id":
            user_body[col], kind = values, "float"
        else:
            user_body[col], kind = _clean(values), "token"
        user_head.append(f"{_recbole_name(col)}:{kind}")
    written.append(_write_tsv(out / f"{dataset}.user", "\t".join(user_head), user_body))

    item_body = pd.DataFrame({"item_id": _clean(items["item_id"])})
    item_head = ["item_id:token"]
    if "title" in items:
        item_body["title"] = _clean(items["title"])
        item_head.append("title:token_seq")
    if "genres" in items:
        item_body["genre"] = _genre_seq(items["genres"])
        item_head.append("genre:token_seq")
    if "popularity" in items:
        item_body["popularity"] = items["popularity"].to_numpy(np.float64)
        item_head.append("popularity:float")
    written.append(_write_tsv(out / f"{dataset}.item", "\t".join(item_head), item_body))
    for part, frame in (splits or {}).items():
        path = out / f"{dataset}.{part}.inter"
        written.append(_write_tsv(path, _INTER_HEADER, _inter_body(frame)))
    return written


def _export_csv(run_dir: Path, inter: pd.DataFrame, out: Path) -> list[Path]:
    written = [_write_csv(out / "interactions.csv", inter)]
    for name in ("users", "items"):
        path = run_dir / f"{name}.parquet"
        written.append(_write_csv(out / f"{name}.csv", _scalar_columns(read_parquet_checked(path), path)))
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
            written[fmt] = _export_recbole(run_dir, inter, out, dataset, splits)
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


def read_recbole_inter(path: Path) -> pd.DataFrame:
    """Read a RecBole atomic file (``.inter``, ``.user`` or ``.item``) by its typed header.

    Args:
        path: The atomic file.

    Returns:
        Columns named without their type suffix; ``float`` columns as ``float64``
        (empty fields as NaN), all others (tokens, sequences) as strings.

    Raises:
        DataError: The file is missing or its header is not a RecBole header.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"RecBole atomic file {path} does not exist; export the run first.")
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\r\n")
    names, kinds = [], []
    for field in header.split("\t"):
        name, _, kind = field.rpartition(":")
        if not name or kind not in _RECBOLE_TYPES:
            raise DataError(
                f"{path}: header field {field!r} is not 'name:type' with a type among "
                f"{', '.join(_RECBOLE_TYPES)}; the file is not a RecBole atomic file."
            )
        names.append(name)
        kinds.append(kind)
    df = pd.read_csv(
        path,
        sep="\t",
        header=0,
        names=names,
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        quoting=csv.QUOTE_MINIMAL,
        encoding="utf-8",
    )
    for name, kind in zip(names, kinds, strict=True):
        if kind == "float":
            df[name] = pd.to_numeric(df[name].replace("", np.nan)).astype(np.float64)
    return df
