"""The "What agents wrote" section of ``report.html``: texts of LLM-driven agents, and the guard.

It reads what a run with LLM-driven agents leaves in its folder: ``texts.parquet``
(reasons, reviews, share messages, reflections, one row per text that passed the
text guard), ``item_profiles.parquet`` (item agents' rewritten profiles), the
manifest's ``totals`` (``texts_dropped`` and ``texts_dropped_<reason>``: what the
guard dropped, by reason) and its ``llm`` block (replies that were invalid,
repaired by a retry, or fell back to the choice model).

Examples are chosen without randomness: per kind, the distinct texts in run order
(step, session, page, user, item), then :data:`EXAMPLES` of them evenly spaced from
the first to the last, so the same run always shows the same examples.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simrec.core.errors import DataError
from simrec.io.manifest import read_parquet_checked
from simrec.io.texts import TEXT_KINDS, read_texts

#: Examples shown per kind of text.
EXAMPLES = 5
#: Item profiles shown (their latest versions).
PROFILES = 3
#: Characters of a text shown in an example (longer ones end in "…").
MAX_CHARS = 400
#: Kinds always listed in the counts table, even when a run wrote none of them.
LISTED_KINDS = ("reason", "review", "share", "reflection")
#: The manifest's ``totals`` keys of the guard's drops by reason start with this.
DROPPED_PREFIX = "texts_dropped_"
#: Reply counters of the manifest's ``llm`` block shown with the guard's counts.
REPLY_COUNTERS = (
    ("invalid", "replies that did not parse or fit the schema"),
    ("repaired", "replies repaired by a retry"),
    ("fallbacks", "decisions that fell back to the choice model"),
)
_TITLES = {
    "reason": "Reasons (why a user rated an item as they did)",
    "review": "Reviews",
    "share": "Share messages",
    "reflection": "Reflections (insights remembered from recent memories)",
    "answer": "Interview answers",
}
_ORDER = ("step", "session", "page", "user", "item", "text")

Table = Callable[[Sequence[str], Sequence[Sequence[Any]]], str]


def has_llm_agents(run_dir: Path, manifest: Mapping[str, Any]) -> bool:
    """Whether the run had LLM-driven agents (it has ``texts.parquet`` or counted guard drops)."""
    totals = manifest.get("totals") or {}
    return (Path(run_dir) / "texts.parquet").is_dir() or "texts_dropped" in totals


def pick_examples(
    texts: pd.DataFrame, k: int = EXAMPLES, order: Sequence[str] = _ORDER
) -> pd.DataFrame:
    """Up to ``k`` distinct texts of ``texts`` (one kind), evenly spaced over the run's order.

    Args:
        texts: Rows with a ``text`` column and the ``order`` columns.
        k: How many at most.
        order: The columns that put the rows in run order (ties keep their order).
    """
    if texts.empty or k <= 0:
        return texts.iloc[:0]
    ordered = texts.sort_values(list(order), kind="stable").drop_duplicates("text", keep="first")
    at = np.unique(np.linspace(0, len(ordered) - 1, min(k, len(ordered))).round().astype(int))
    return ordered.iloc[at]


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1].rstrip() + "…"


def _column_map(path: Path, key: str, cols: Sequence[str]) -> pd.DataFrame | None:
    """``cols`` of the table at ``path`` indexed by ``key`` (``None`` when it is missing)."""
    if not path.is_file():
        return None
    frame = read_parquet_checked(path)
    return frame.set_index(key)[list(cols)] if {key, *cols} <= set(frame.columns) else None


@dataclass(frozen=True)
class Names:
    """How examples name users (raw user id) and items (title and raw item id).

    Attributes:
        users: User index → raw user id (``users.parquet``).
        items: Item index → ``"<title> (id <raw id>)"`` (``items.parquet``).
    """

    users: Mapping[int, Any]
    items: Mapping[int, str]

    @classmethod
    def read(cls, run_dir: Path) -> Names:
        """From the run folder's ``users.parquet`` and ``items.parquet`` (indices where missing)."""
        users = _column_map(Path(run_dir) / "users.parquet", "user", ["user_id"])
        items = _column_map(Path(run_dir) / "items.parquet", "item", ["item_id", "title"])
        user_ids = {} if users is None else dict(zip(users.index, users["user_id"], strict=True))
        labels = (
            {}
            if items is None
            else {
                i: f"{t} (id {r})"
                for i, r, t in zip(items.index, items["item_id"], items["title"], strict=True)
            }
        )
        return cls(user_ids, labels)

    def user(self, index: int) -> Any:
        """The raw id of user ``index``."""
        return self.users.get(int(index), int(index))

    def item(self, index: int) -> Any:
        """Title and raw id of item ``index`` (``–`` for -1: a text about no item)."""
        return "–" if index < 0 else self.items.get(int(index), int(index))


def _kinds(texts: pd.DataFrame) -> list[str]:
    present = set(texts["kind"].astype(str))
    known = [k for k in TEXT_KINDS if k in LISTED_KINDS or k in present]
    return known + sorted(present - set(known))


def _counts(texts: pd.DataFrame, kinds: Sequence[str]) -> list[tuple[Any, ...]]:
    rows = []
    for kind in kinds:
        g = texts[texts["kind"] == kind]
        words = g["text"].astype(str).str.split().str.len()
        median = float(words.median()) if len(g) else float("nan")
        users, steps = int(g["user"].nunique()), int(g["step"].nunique())
        rows.append((kind, len(g), int(g["text"].nunique()), users, steps, median))
    return rows


def _guard_rows(manifest: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """(what, count, meaning) rows of the guard's drops and the LLM's reply repairs."""
    totals = manifest.get("totals") or {}
    rows: list[tuple[str, Any, str]] = []
    if "texts_dropped" in totals:
        rows.append(("texts dropped", totals["texts_dropped"], "failed the guard; never stored"))
        cut = len(DROPPED_PREFIX)
        by_reason = sorted(
            ((k[cut:], v) for k, v in totals.items() if k.startswith(DROPPED_PREFIX)),
            key=lambda kv: (-int(kv[1]), kv[0]),
        )
        rows += [(f"dropped: {why}", n, "guard reason") for why, n in by_reason]
    llm = manifest.get("llm") or {}
    rows += [(key, llm[key], meaning) for key, meaning in REPLY_COUNTERS if key in llm]
    reasons = llm.get("fallback_reasons") or {}
    if isinstance(reasons, Mapping):
        ordered = sorted(reasons.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
        rows += [(f"fallback: {why}", n, "why a decision fell back") for why, n in ordered]
    return rows


def _examples(kind: str, examples: pd.DataFrame, names: Names, table: Table) -> str:
    """A table of one kind's examples: step, user, item (where texts name one), stars (reasons)."""
    with_item = bool((examples["item"] >= 0).any())
    stars = kind == "reason"
    header = ["step", "user", *(["item"] if with_item else []), *(["stars"] if stars else [])]
    rows = []
    for r in examples.to_dict("records"):
        row: list[Any] = [int(r["step"]), names.user(r["user"])]
        if with_item:
            row.append(names.item(int(r["item"])))
        if stars:
            row.append(float(r["stars"]) if float(r["stars"]) else float("nan"))
        rows.append((*row, _short(r["text"])))
    return table([*header, "text"], rows)


def _profiles(run_dir: Path, names: Names, table: Table) -> list[str]:
    path = Path(run_dir) / "item_profiles.parquet"
    if not path.is_file():
        return []
    profiles = read_parquet_checked(path)
    if profiles.empty or not {"item", "step", "version", "text"} <= set(profiles.columns):
        return []
    latest = profiles.sort_values(["item", "version"], kind="stable").groupby("item").tail(1)
    shown = pick_examples(latest, PROFILES, order=("step", "item", "version", "text"))
    which = "each" if len(shown) == len(latest) else f"{len(shown)} of them"
    return [
        "<h3>Item profiles</h3>",
        (
            f'<p class="desc">{len(profiles)} profile versions of {len(latest)} items '
            f"(item_profiles.parquet); the latest version of {which}:</p>"
        ),
        table(
            ["item", "step", "version", "profile"],
            [
                (names.item(int(r["item"])), int(r["step"]), int(r["version"]), _short(r["text"]))
                for r in shown.to_dict("records")
            ],
        ),
    ]


def texts_section(run_dir: Path, manifest: Mapping[str, Any], table: Table) -> list[str]:
    """The HTML of the "What agents wrote" section (one line when no agent was LLM-driven).

    Args:
        run_dir: The run folder.
        manifest: Its ``manifest.json`` content.
        table: Renders a header and rows as an HTML table (values escaped).

    Raises:
        DataError: A part of ``texts.parquet`` (or ``items.parquet``, ``users.parquet``,
            ``item_profiles.parquet``) is damaged.
    """
    heading = "<h2>What agents wrote</h2>"
    if not has_llm_agents(run_dir, manifest):
        return [heading, '<p class="desc">No LLM-driven agents in this run: nothing written.</p>']
    try:
        texts = read_texts(run_dir)
    except (OSError, ValueError) as err:  # pyarrow's errors are ValueErrors
        raise DataError(
            f"Cannot read {Path(run_dir) / 'texts.parquet'}: {err}. A part is damaged; "
            "delete that part-NNNNN.parquet to report the rest, or re-run the scenario."
        ) from err
    kinds = _kinds(texts)
    out = [
        heading,
        (
            f'<p class="desc">{len(texts)} texts that passed the text guard, by '
            f"{texts['user'].nunique()} users over {texts['step'].nunique()} steps "
            f"(texts.parquet). Examples: up to {EXAMPLES} distinct texts per kind, evenly spaced "
            "over the run; users and items by their raw ids.</p>"
        ),
        table(
            ["kind", "texts", "distinct", "users", "steps", "median words"], _counts(texts, kinds)
        ),
    ]
    if guard := _guard_rows(manifest):
        out += ["<h3>Text guard and reply repair</h3>", table(["count", "value", "meaning"], guard)]
    names = Names.read(run_dir)
    for kind in kinds:
        examples = pick_examples(texts[texts["kind"] == kind])
        if examples.empty:
            continue
        out += [
            f"<h3>{html.escape(_TITLES.get(kind, kind))}</h3>",
            _examples(kind, examples, names, table),
        ]
    return out + _profiles(run_dir, names, table)
