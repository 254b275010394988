"""The text guard: what an LLM-driven agent writes must read like a person, or it is dropped.

Every generated text (a reason, a review, a share message, a reflection, an
interview answer) is checked before it is stored, shown or remembered. A text
fails when it is

* ``empty`` — nothing but spaces and punctuation, or a placeholder ("n/a", "none",
  "shared with friends", ...);
* ``too_short`` — fewer words than its kind needs (a reflection or a review says
  something; a reason may be one word);
* ``garbled`` — characters no one types: control characters (other than tab and
  newline), lone surrogates, private-use or unassigned code points (a model or a server
  emitting bytes, not words);
* ``markup`` — template or markup fragments: braces, brackets, angle brackets or
  their guillemet stand-ins (so our data-block markers too), JSON keys, chat-template
  tokens and role labels, code fences, links;
* ``repetition`` — one word or short phrase over and over ("Loading... Loading...");
* ``prompt_copy`` — a run of ``copy_words`` (default 8) or more words copied from the
  prompt that produced it (instructions or persona echoed back);
* ``title_only`` — nothing but the title of an item of the catalog (when the guard
  knows the titles);
* ``unfinished`` — cut off by the token cap: it ends on a comma, hyphen, colon,
  semicolon, slash or opening bracket, or on a quote mark that leaves a quote open.

A failing text is dropped and counted by reason (:attr:`TextGuard.dropped`); the
decision it came with stands.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

#: Words a text of each kind needs at least (kinds not listed: 1).
MIN_WORDS = {"review": 3, "reflection": 3, "answer": 3, "reason": 1, "share": 1}

#: Texts that say nothing (compared lower-case, without surrounding punctuation).
PLACEHOLDERS = frozenset(
    {"n/a", "na", "none", "null", "nil", "nothing", "no", "yes", "todo", "tbd", "text", "review", "reason",
     "message", "string", "shared with friends", "loading", "...", "no comment", "no reason", "optional"}
)  # fmt: skip

_MARKUP = re.compile(
    r"[{}\[\]<>‹›«»|\\]"  # braces, brackets, angle brackets and our neutralised guillemets, pipes
    r"|\bjson\b|\"\w+\"\s*:"  # JSON talk and keys
    r"|start_of_turn|end_of_turn|im_start|im_end|\b(?:assistant|user|system|model)\s*:"
    r"|```|https?://",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_DANGLING = ",(-–—/:;"
_QUOTES = "'\"‘’“”"


def words(text: str) -> list[str]:
    """The lower-case words of ``text`` (letters and digits, inner apostrophes kept)."""
    return [w.lower() for w in _WORD.findall(text)]


def _garbled(ch: str) -> bool:
    """A character no person types: control (but tab, newline), surrogate, private use, unassigned."""
    return ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn")


def _ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


class TextGuard:
    """Checks generated texts and counts what it drops.

    Args:
        copy_words: Length of a word run copied from the prompt that fails a text.
        titles: The catalog's titles: a text that is only one of them fails.
        max_repeats: Times one word may stand in a row (or one 2–3 word phrase) before a
            text fails as repetition.

    Attributes:
        dropped: ``{reason: count}`` of the texts dropped so far.
        passed: Texts that passed.
    """

    def __init__(self, copy_words: int = 8, max_repeats: int = 3, titles: Iterable[object] = ()) -> None:
        if copy_words < 3 or max_repeats < 1:
            raise ValueError(f"copy_words must be >= 3 and max_repeats >= 1, got {copy_words}, {max_repeats}")
        self.copy_words = copy_words
        self.max_repeats = max_repeats
        self._titles = frozenset(" ".join(words(str(t))) for t in titles)
        self.dropped: Counter[str] = Counter()
        self.passed = 0

    def problem(self, text: str | None, kind: str = "reason", prompt: str | Iterable[str] = "") -> str | None:
        """Why ``text`` fails (one of the module's reasons), or ``None`` when it passes.

        Args:
            text: The generated text.
            kind: What it is (``reason``, ``review``, ``share``, ``reflection``, ``answer``).
            prompt: The prompt that produced it (a string, or its messages' contents).
        """
        raw = (text or "").strip()
        toks = words(raw)
        if not toks or raw.lower().strip(" .!?…:;,'\"") in PLACEHOLDERS:
            return "empty"
        if any(_garbled(ch) for ch in raw):
            return "garbled"
        if _MARKUP.search(raw):
            return "markup"
        if self._repeats(toks):
            return "repetition"
        if " ".join(toks) in self._titles:
            return "title_only"
        if len(toks) < MIN_WORDS.get(kind, 1):
            return "too_short"
        source = words(prompt if isinstance(prompt, str) else "\n".join(prompt))
        n = self.copy_words
        if len(toks) >= n and _ngrams(toks, n) & _ngrams(source, n):
            return "prompt_copy"
        last = raw[-1]
        if last in _DANGLING or (last in _QUOTES and sum(raw.count(q) for q in _QUOTES) % 2):
            return "unfinished"  # cut off by the token cap on a dangling mark or an open quote
        return None

    def check(
        self, text: str | None, kind: str = "reason", prompt: str | Iterable[str] = "", cut_off: bool = False
    ) -> bool:
        """Whether ``text`` passes; a failure is counted in :attr:`dropped`.

        ``cut_off``: the text filled its token cap, so one that does not end a sentence
        was cut mid-thought (``unfinished``).
        """
        why = self.problem(text, kind, prompt)
        if why is None and cut_off and not (text or "").rstrip().rstrip("\"'’”)").endswith((".", "!", "?", "…")):
            why = "unfinished"
        if why is None:
            self.passed += 1
            return True
        self.dropped[why] += 1
        return False

    @property
    def total_dropped(self) -> int:
        """Texts dropped so far, whatever the reason."""
        return sum(self.dropped.values())

    def _repeats(self, toks: list[str]) -> bool:
        limit = self.max_repeats
        for size in (1, 2, 3):
            run = 1
            for i in range(size, len(toks) - size + 1, size):
                run = run + 1 if toks[i : i + size] == toks[i - size : i] else 1
                if run > limit and (size > 1 or len(toks[i]) > 2):
                    return True
        return False
