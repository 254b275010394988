"""report.html's "What agents wrote" section, on hand-made run folders parsed as HTML."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simrec.core.errors import DataError
from simrec.io.report import write_run_report
from simrec.io.report_texts import EXAMPLES, pick_examples
from simrec.io.texts import TextRow, TextSink

EVIL = '<script>alert("x")</script> & <b>bold</b>'


class _Tree(HTMLParser):
    """The page as nested ``[tag, attrs, children]`` lists (text children are strings)."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: list = ["root", {}, []]
        self._stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = [tag, dict(attrs), []]
        self._stack[-1][2].append(node)
        if tag not in self.VOID:
            self._stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert self._stack[-1][0] == tag, f"</{tag}> closes <{self._stack[-1][0]}>"
        self._stack.pop()

    def handle_data(self, data: str) -> None:
        self._stack[-1][2].append(data)


def parse(html: str) -> list:
    tree = _Tree()
    tree.feed(html)
    tree.close()
    assert len(tree._stack) == 1, "unclosed tags"
    return tree.root


def text_of(node: list | str) -> str:
    return node if isinstance(node, str) else "".join(text_of(c) for c in node[2])


def section(root: list, title: str) -> list[list]:
    """The element nodes of ``body`` from ``<h2>title</h2>`` to the next ``<h2>``."""
    page = next(n for n in root[2] if isinstance(n, list) and n[0] == "html")
    body = next(n for n in page[2] if isinstance(n, list) and n[0] == "body")
    nodes = [n for n in body[2] if isinstance(n, list)]
    start = next(i for i, n in enumerate(nodes) if n[0] == "h2" and text_of(n) == title)
    end = next((i for i in range(start + 1, len(nodes)) if nodes[i][0] == "h2"), len(nodes))
    return nodes[start:end]


def rows(div: list) -> list[list[str]]:
    """The cell texts of the table in a ``<div class="wide">``, header row first."""
    assert div[0] == "div" and div[1].get("class") == "wide"
    (table,) = [n for n in div[2] if isinstance(n, list)]
    return [[text_of(c) for c in tr[2] if isinstance(c, list)] for tr in table[2]]


def tables_after(nodes: list[list], heading: str) -> list[list[str]]:
    at = next(i for i, n in enumerate(nodes) if n[0] == "h3" and text_of(n).startswith(heading))
    return rows(next(n for n in nodes[at + 1 :] if n[0] == "div"))


def _texts() -> list[TextRow]:
    out = []
    for step in range(4):
        for user in (3, 8):
            item = 10 * step + user
            out.append(
                TextRow(
                    step,
                    100 * step + user,
                    0,
                    user,
                    item,
                    "reason",
                    3.5,
                    f"reason {step} by {user}",
                )
            )
            out.append(
                TextRow(
                    step, 100 * step + user, 0, user, item, "review", 0, f"a fine film {step}{user}"
                )
            )
        out.append(
            TextRow(step, -1, -1, 3, -1, "reflection", 0, f"I like quiet dramas, step {step}")
        )
    out.append(TextRow(1, 108, 0, 8, 18, "share", 0, EVIL))
    out.append(TextRow(2, 208, 0, 8, 28, "share", 0, EVIL))  # the same message again
    return out


def _llm_run(path: Path) -> Path:
    path.mkdir(parents=True)
    manifest = {
        "name": path.name, "status": "completed", "seed": 3, "steps_completed": 4,
        "scenario": {"name": "t", "policy": {"name": "hybrid"}, "recommender": {"name": "mf"}},
        "totals": {"sessions": 8, "texts_dropped": 7, "texts_dropped_markup": 5,
                   "texts_dropped_too_short": 2},
        "llm": {"backend": "llamacpp", "calls": 30, "invalid": 4, "repaired": 3, "fallbacks": 1,
                "fallback_reasons": {"invalid": 1}},
    }  # fmt: skip
    (path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    sink = TextSink(path / "texts.parquet")
    rows = _texts()
    sink.add(rows[:9])
    sink.flush()
    sink.add(rows[9:])
    sink.close()
    index = np.arange(40, dtype=np.int32)
    items = pd.DataFrame(
        {"item": index, "item_id": 1000 + index, "title": [f"Film <{i}>" for i in index]}
    )
    items.to_parquet(path / "items.parquet")
    pd.DataFrame({"user": index[:10], "user_id": 500 + index[:10]}).to_parquet(
        path / "users.parquet"
    )
    profiles = pd.DataFrame(
        {"item": [11, 11, 13], "step": [0, 1, 0], "version": [1, 2, 1],
         "text": ["Film 11, watched by 1", "Film 11, watched by 2", "Film 13, watched by 1"]}
    )  # fmt: skip
    profiles.to_parquet(path / "item_profiles.parquet")
    return path


def test_section_counts_examples_and_guard(tmp_path: Path) -> None:
    html = write_run_report(_llm_run(tmp_path / "llm")).read_text(encoding="utf-8")
    assert "<script>" not in html and "<b>bold" not in html
    nodes = section(parse(html), "What agents wrote")
    counts = rows(next(n for n in nodes if n[0] == "div"))
    assert counts[0] == ["kind", "texts", "distinct", "users", "steps", "median words"]
    by_kind = {r[0]: r[1:] for r in counts[1:]}
    assert list(by_kind) == ["reason", "review", "share", "reflection"]
    assert by_kind["reason"][:4] == ["8", "8", "2", "4"]
    assert by_kind["share"][:4] == ["2", "1", "1", "2"]
    assert by_kind["reflection"][:4] == ["4", "4", "1", "4"]

    guard = {r[0]: r[1] for r in tables_after(nodes, "Text guard")[1:]}
    assert guard["texts dropped"] == "7"
    assert guard["dropped: markup"] == "5" and guard["dropped: too_short"] == "2"
    assert guard["invalid"] == "4" and guard["repaired"] == "3" and guard["fallbacks"] == "1"
    assert guard["fallback: invalid"] == "1"

    reasons = tables_after(nodes, "Reasons")
    assert reasons[0] == ["step", "user", "item", "stars", "text"]
    # 8 distinct reasons in run order, 5 evenly spaced: positions 0, 2, 4, 5, 7
    assert [r[4] for r in reasons[1:]] == [
        "reason 0 by 3", "reason 1 by 3", "reason 2 by 3", "reason 2 by 8", "reason 3 by 8"
    ]  # fmt: skip
    assert reasons[1][1:4] == [
        "503",
        "Film <3> (id 1003)",
        "3.5",
    ]  # raw ids, as users.parquet has them
    shares = tables_after(nodes, "Share messages")
    assert [r[-1] for r in shares[1:]] == [EVIL]  # once, unescaped back by the parser
    reflections = tables_after(nodes, "Reflections")
    assert reflections[0] == ["step", "user", "text"] and len(reflections) == 1 + 4
    profiles = tables_after(nodes, "Item profiles")
    assert [r[-1] for r in profiles[1:]] == ["Film 13, watched by 1", "Film 11, watched by 2"]
    assert profiles[1][:3] == ["Film <13> (id 1013)", "0", "1"]


def test_section_is_one_line_without_llm_agents(tmp_path: Path) -> None:
    run = tmp_path / "plain"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"name": "plain", "totals": {"sessions": 3}}))
    nodes = section(parse(write_run_report(run).read_text(encoding="utf-8")), "What agents wrote")
    assert [n[0] for n in nodes] == ["h2", "p"]
    assert text_of(nodes[1]) == "No LLM-driven agents in this run: nothing written."


def test_section_of_llm_run_that_wrote_nothing(tmp_path: Path) -> None:
    run = tmp_path / "mute"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"name": "mute", "totals": {"texts_dropped": 2}}))
    TextSink(run / "texts.parquet").close()
    nodes = section(parse(write_run_report(run).read_text(encoding="utf-8")), "What agents wrote")
    counts = rows(nodes[2])
    assert [r[:2] for r in counts[1:]] == [
        ["reason", "0"],
        ["review", "0"],
        ["share", "0"],
        ["reflection", "0"],
    ]
    assert {r[0]: r[1] for r in tables_after(nodes, "Text guard")[1:]} == {"texts dropped": "2"}
    assert not [n for n in nodes if n[0] == "h3" and not text_of(n).startswith("Text guard")]


def test_examples_do_not_depend_on_row_order() -> None:
    frame = pd.DataFrame([r.__dict__ for r in _texts() if r.kind == "review"])
    shuffled = frame.sample(frac=1.0, random_state=np.random.default_rng(5))
    a, b = pick_examples(frame), pick_examples(shuffled)
    assert len(a) == EXAMPLES and a["text"].tolist() == b["text"].tolist()
    assert a["text"].is_unique and pick_examples(frame.iloc[:2])["text"].tolist() == [
        "a fine film 03",
        "a fine film 08",
    ]


def test_a_damaged_texts_part_names_the_file(tmp_path: Path) -> None:
    run = _llm_run(tmp_path / "bad")
    (run / "texts.parquet" / "part-00001.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="texts.parquet"):
        write_run_report(run)
