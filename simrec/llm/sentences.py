"""Where a generated text's sentences end: the one rule that cutting a text and stopping its generation share.

A sentence ends at ``.``, ``!`` or ``?`` followed by a space (or by the end of the
text), after runs of whitespace are folded into one space and surrounding quotes
are dropped. :func:`first_sentences` keeps the first few sentences of a text;
:func:`has_sentences` tells a backend that is generating a text when those have
ended for sure (a space already follows the last one), so that stopping there gives
the very text that generating on and cutting afterwards would.
"""

from __future__ import annotations

_ENDS = ".!?"


def _normal(text: str | None) -> str:
    return " ".join((text or "").split()).strip().strip('"').strip()


def first_sentences(text: str | None, limit: int = 2) -> str:
    """At most ``limit`` sentences of a generated text (what a token cap cut after them is dropped)."""
    raw = _normal(text)
    out, start = [], 0
    for i, ch in enumerate(raw):
        if ch in _ENDS and (i + 1 == len(raw) or raw[i + 1] == " "):
            out.append(raw[start : i + 1].strip())
            start = i + 1
            if len(out) == limit:
                break
    if not out:
        return raw
    return " ".join(out)


def has_sentences(text: str | None, limit: int) -> bool:
    """Whether ``text`` holds ``limit`` sentences that have ended for sure (each followed by a space).

    Generation may stop once this is true: :func:`first_sentences` of the text so far
    and of any continuation of it are then the same.
    """
    raw = _normal(text)
    done = 0
    for i, ch in enumerate(raw[:-1]):
        if ch in _ENDS and raw[i + 1] == " ":
            done += 1
            if done >= limit:
                return True
    return False
