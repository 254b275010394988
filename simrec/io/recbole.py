"""RecBole atomic files of a run: ``.inter``, ``.user``, ``.item`` and the benchmark split.

The benchmark split (:func:`benchmark_splits`) is for RecBole's
``benchmark_filename: [train, valid, test]``: ``test`` is the real held-out data
(``heldout.parquet``), ``valid`` a seeded share of each user's real training
interactions, chosen the way the run's data split chose its held-out part, and
``train`` everything else of the plain export (real training and simulated rows).
:func:`read_recbole_inter` reads any atomic file back by its typed header.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from simrec.core.errors import DataError
from simrec.data.split import split_random, split_temporal
from simrec.data.types import Interactions
from simrec.io.export_rows import export_frame, id_mappers, real_interactions, scalar_columns
from simrec.io.manifest import atomic_path, read_parquet_checked

logger = logging.getLogger(__name__)

#: Parts of a RecBole benchmark split, in the order ``benchmark_filename`` lists them.
BENCHMARK_PARTS: tuple[str, ...] = ("train", "valid", "test")
#: Share of each user's real training interactions the ``valid`` part holds.
VALID_FRACTION = 0.1
_VALID_STREAM = 0x7A11D  # seeds the valid choice apart from the data split's own draws

_RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")
_INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\torigin:token"
_LINE_BREAKS = re.compile(r"[\t\r\n]+")
_SPACES = re.compile(r"\s+")


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
        inter: Its export table (:func:`simrec.io.export.build_interactions`, any of its filters).
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
    heldout = real_interactions(path)
    if heldout.empty:
        logger.warning("%s holds no interactions out: no RecBole benchmark split", run_dir)
        return None
    user_raw, item_raw = id_mappers(run_dir)
    test = export_frame(heldout, "real", user_raw, item_raw, "heldout.parquet")
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


def _write_tsv(path: Path, header: str, body: pd.DataFrame) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(header + "\n")
        body.to_csv(fh, sep="\t", header=False, index=False, na_rep="", lineterminator="\n")
    return path


def _recbole_name(column: str) -> str:
    return re.sub(r"[\s:]+", "_", str(column))


def _inter_body(inter: pd.DataFrame) -> pd.DataFrame:
    body = inter.copy()
    for col in ("user_id", "item_id", "origin"):
        body[col] = _clean(body[col])
    return body


def write_recbole(
    run_dir: Path, inter: pd.DataFrame, out: Path, dataset: str,
    splits: dict[str, pd.DataFrame] | None,
) -> list[Path]:  # fmt: skip
    """Write ``<dataset>.inter``, ``.user``, ``.item`` (and the ``splits`` parts) into ``out``.

    Args:
        run_dir: A complete run folder (its ``users.parquet`` and ``items.parquet``).
        inter: Its export table.
        out: Folder for the atomic files.
        dataset: RecBole dataset name, the files' stem.
        splits: Benchmark parts (:func:`benchmark_splits`), or ``None`` for none.

    Returns:
        The files written.
    """
    users = scalar_columns(
        read_parquet_checked(run_dir / "users.parquet"), run_dir / "users.parquet"
    )
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
