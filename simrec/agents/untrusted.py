"""Untrusted text (titles, descriptions, reviews, messages) made safe to quote in a prompt.

Prompts (:mod:`simrec.agents.prompts`) and personas (:mod:`simrec.agents.persona`)
quote item and user text through these two functions only; :func:`forging_attempts`
counts what they neutralise.
"""

from __future__ import annotations

import json
import re
import unicodedata

__all__ = ["FORGERY", "clean_untrusted", "forging_attempts", "quote_untrusted"]

# Angle brackets (and look-alikes NFKC does not fold) become single guillemets:
# this neutralises our markers, any ``<<``/``>>`` and chat-template tokens such
# as ``<start_of_turn>`` or ``<|im_start|>`` that a tokenizer might treat as special.
_NEUTRALISE = str.maketrans({"<": "‹", ">": "›", "≪": "‹", "≫": "›"})
# Llama-2/Mistral's instruction tags use square brackets: they lose them too.
_INST = re.compile(r"\[(/?)INST\]", re.IGNORECASE)

#: One forged marker or chat-template token, in NFKC-normalised text whose ``≪``/``≫`` are
#: written ``<<``/``>>``: a whole marker (``<<END DATA>>``, ``<<SYS>>``), a ``<|...|>`` token
#: (``<|im_start|>``, ``<|eot_id|>``), a Gemma turn (``<start_of_turn>``, ``<end_of_turn>``),
#: ``<s>``/``</s>``/``<bos>``/``<eos>``, ``[INST]``/``[/INST]``, or a lone ``<<`` or ``>>``.
FORGERY = re.compile(
    r"<<[^<>\n]{0,40}>>|<\|[^<>|\n]{0,40}\|>|</?(?:start_of_turn|end_of_turn|bos|eos|s)>|\[/?INST\]|<<|>>",
    re.IGNORECASE,
)


def clean_untrusted(text: object, max_chars: int) -> str:
    """Normalise untrusted text for a prompt, without quoting it.

    NFKC-normalises, turns control and format characters (newlines, zero-width
    and bidi marks) into spaces, collapses whitespace, turns angle brackets into
    ``‹``/``›`` and ``[INST]`` into ``‹INST›`` (so no marker or chat-template token
    can be forged) and cuts to
    at most ``max_chars`` characters, ending in "…" when cut.

    Raises:
        ValueError: if ``max_chars`` is below 1.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    s = unicodedata.normalize("NFKC", str(text))
    if not s.isprintable():
        s = "".join(ch if ch.isprintable() else " " for ch in s)
    s = " ".join(s.split()).translate(_NEUTRALISE)
    if "[" in s:
        s = _INST.sub(r"‹\1INST›", s)
    if len(s) > max_chars:
        cut = s[: max_chars - 1]
        space = cut.rfind(" ")
        # end on a word boundary unless that loses too much
        if s[len(cut)] != " " and space >= 0.6 * len(cut):
            cut = cut[:space]
        s = cut.rstrip(" ,;:-") + "…"
    return s


def quote_untrusted(text: object, max_chars: int) -> str:
    """Untrusted text as one normalised, double-quoted string.

    The text is cleaned as by :func:`clean_untrusted` (at most ``max_chars``
    characters before escaping), then written as a JSON string: inner ``"`` and
    ``\\`` are backslash-escaped, so the quotes always delimit exactly this text.
    """
    return json.dumps(clean_untrusted(text, max_chars), ensure_ascii=False)


def forging_attempts(text: object) -> int:
    """How many forged markers and chat-template tokens :func:`clean_untrusted` neutralises in ``text``.

    Counts the matches of :data:`FORGERY` (markers such as ``<<END DATA>>``, tokens such as
    ``<|im_start|>`` or ``<start_of_turn>``, ``[INST]``, look-alike ``≪``/``≫`` brackets, lone
    ``<<``/``>>``) after the same NFKC normalisation, over the whole text (before any cut).
    Plain angle brackets (``a < b``, HTML tags) are neutralised too but not counted.
    """
    s = unicodedata.normalize("NFKC", str(text))
    if "<" not in s and ">" not in s and "[" not in s and "≪" not in s and "≫" not in s:
        return 0
    return len(FORGERY.findall(s.replace("≪", "<<").replace("≫", ">>")))
