"""Defences of LLM-driven agents against adversarial item text (``robustness.text.defence``).

How every item's title and description reach an LLM prompt (the policy reads the
defence from the world's :class:`~simrec.world.attacks.AttackPlan`):

- ``none``: as always (normalised, quoted, markers neutralised: :mod:`simrec.agents.untrusted`);
- ``strict_quoting``: every item field — genres too — is one escaped quoted string, and the
  prompt says quoted text is data (:mod:`simrec.agents.prompts`, :mod:`simrec.agents.questions`);
- ``sanitise``: the sentences and clauses the classifier flags are cut, from their first cue
  on; the rest is kept (:func:`sanitise`);
- ``classifier``: a field the classifier flags is replaced by :data:`REMOVED`;
- ``ignore_descriptions``: the page shows titles and genres only (no description, no item
  profile summary).

The classifier (:func:`injection_score`) is rule-based and documented here. It looks for
seven families of cues, each with a weight: overriding instructions ("ignore ... previous
instructions", 1.0), forged markers and chat tokens (:func:`~simrec.agents.untrusted.forging_attempts`,
``END DATA``; 1.0), role words addressed to the model ("SYSTEM:", "assistant:", "new
instructions", 0.7), demands on the answer ("answer yes", "rate it 5 stars", "you must
watch", 0.7), fake crowd statistics ("9 out of 10 viewers", "98% of viewers", "all your
friends", "everyone loves", 0.6), imperatives aimed at the model ("you must", "always
answer", 0.4) and hyperbolic praise ("best film ever", "masterpiece", "must-see", 0.35).
The score is the noisy-or of the families found, ``1 − Π(1 − w)`` (each family counted
once); a text is flagged at :data:`THRESHOLD` (0.5) or more, so praise or an imperative
alone is not enough, praise together with a fake crowd is.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from simrec.agents.untrusted import FORGERY

__all__ = [
    "CUES", "DEFENCES", "REMOVED", "THRESHOLD", "defend_field", "defend_text", "flags_injection", "injection_score",
    "sanitise",
]  # fmt: skip

#: The defences, as ``robustness.text.defence`` names them.
DEFENCES = ("none", "strict_quoting", "sanitise", "classifier", "ignore_descriptions")

#: What a flagged field (or a title cut to nothing) reads as.
REMOVED = "[text removed]"

#: Score from which a text is flagged.
THRESHOLD = 0.5

_I = re.IGNORECASE
#: The classifier's cue families: name → (weight, pattern). Forged markers are matched by ``FORGERY`` too.
CUES: dict[str, tuple[float, re.Pattern[str]]] = {
    "override": (1.0, re.compile(
        r"\b(?:ignore|disregard|forget|override|bypass)\b[^.;!?]{0,40}?"
        r"\b(?:instructions?|prompts?|rules?|directions?|guidelines?|above|previous)\b", _I)),
    "marker": (1.0, re.compile(r"\b(?:END|BEGIN)[ _]DATA\b|\b(?:im_start|im_end|start_of_turn|end_of_turn)\b", _I)),
    "role": (0.7, re.compile(
        r"\b(?:system|assistant|developer|admin)\s*(?::|\]|›|\bprompt\b|\bmessage\b|\boverride\b)"
        r"|\b(?:new|updated|real) instructions?\b|\bas an ai\b"
        r"|\byou are (?:now )?(?:an? )?(?:ai|assistant|language model|chatbot)\b", _I)),
    "demand": (0.7, re.compile(
        r"\b(?:answer|say|reply|respond|output|type)\s+(?:with\s+)?[\"'“]?(?:yes|no)\b"
        r"|\b(?:rate|give|score)\b[^.;!?]{0,24}?\b(?:5|five|10|ten)\s*(?:stars?|/\s*(?:5|10)|out of)"
        r"|\b(?:must|have to|need to)\s+(?:watch|answer|rate|say|click|choose|pick)\b", _I)),
    "crowd": (0.6, re.compile(
        r"\b\d+(?:[.,]\d+)?\s*(?:out of|in|/)\s*\d+\s*(?:viewers|people|users|critics|fans|members|friends)\b"
        r"|\b\d{1,3}(?:[.,]\d+)?\s*%\s*(?:of\s+)?(?:viewers|people|users|critics|fans|audiences?)\b"
        r"|\b(?:all|most)\s+(?:of\s+)?your friends\b|\byour friends\s+(?:all\s+)?(?:rated|loved|liked|watched)\b"
        r"|\beveryone\s+(?:you know|loves|watched|is watching|rated)\b"
        r"|\b(?:(?:over|more than|nearly|almost)\s+)?(?:millions?|thousands|a million)\s+(?:of\s+)?"
        r"(?:viewers|people|users|fans)\b", _I)),
    "imperative": (0.4, re.compile(
        r"\b(?:you|the user|the model|the assistant)\s+(?:must|shall|will|should|have to|are required to)\b"
        r"|\b(?:always|never)\s+(?:answer|say|reply|recommend|rate)\b", _I)),
    "praise": (0.35, re.compile(
        r"\b(?:best|greatest|finest)\s+(?:film|movie|picture)s?\s+(?:ever|of all time|of the (?:year|decade|century))\b"
        r"|\bmasterpiece\b|\bmust[- ]see\b|\bunmissable\b", _I)),
}  # fmt: skip

# Clause boundaries: a sentence end, a semicolon or comma, a spaced dash or bar (the separators are kept).
_CLAUSES = re.compile(r"((?<=[.!?])\s+|\s*[;,]\s+|\s+[-–—|]\s+)")
_SENTENCE_END = re.compile(r"[.!?](?:\s+|$)")
# What a kept lead may not end with once a clause is cut.
_DANGLING = re.compile(
    r"(?:[\s,;:\-–—|(\"“']|\b(?:the|a|an|and|or|is|it's|it is)\b"
    r"|\b(?:(?:a|one)\s+)?(?:viewer|user|fan|critic|reviewer|someone)s?\s+(?:wrote|said|says|writes)\b)+$", _I)


def _normal(text: object) -> str:
    """NFKC-normalised text with look-alike ``≪``/``≫`` written ``<<``/``>>`` (what the cues read)."""
    return unicodedata.normalize("NFKC", str(text)).replace("≪", "<<").replace("≫", ">>")


def _cues(s: str) -> dict[str, int]:
    """The cue families found in normalised ``s``, each with the position of its first match."""
    found = {}
    for name, (_, pattern) in CUES.items():
        m = pattern.search(s)
        if m:
            found[name] = m.start()
    m = FORGERY.search(s)
    if m:
        found["marker"] = min(found.get("marker", m.start()), m.start())
    return found


def _score(found: dict[str, int]) -> float:
    keep = 1.0
    for name in found:
        keep *= 1.0 - CUES[name][0]
    return 1.0 - keep


def injection_score(text: object) -> float:
    """How much ``text`` reads like an attack on the model, in [0, 1] (see the module docstring)."""
    return _score(_cues(_normal(text)))


def flags_injection(text: object) -> bool:
    """Whether :func:`injection_score` reaches :data:`THRESHOLD`."""
    return injection_score(text) >= THRESHOLD


def _cut_clauses(s: str) -> tuple[str, int]:
    """``s`` without its flagged clauses (each cut from its first cue on), and how many were cut."""
    parts = _CLAUSES.split(s)
    kept: list[list[str]] = []  # [separator before, clause]
    cut = 0
    for k in range(0, len(parts), 2):
        sep, clause = (parts[k - 1] if k else ""), parts[k]
        found = _cues(clause)
        if _score(found) >= THRESHOLD:
            cut += 1
            end = clause.rstrip()[-1:] if clause.rstrip()[-1:] in (".", "!", "?") else ""
            clause = _DANGLING.sub("", clause[: min(found.values())]).rstrip()
            if not clause and end and kept and kept[-1][1][-1:] not in (".", "!", "?"):
                kept[-1][1] += end  # the sentence the dropped clause ended still ends
        if clause:
            kept.append([sep, clause])
    if kept:
        kept[0][0] = ""
    return "".join(sep + clause for sep, clause in kept).strip(), cut


def sanitise(text: object) -> tuple[str, int]:
    """``text`` without what the classifier flags, and how many pieces it cut.

    Forged markers and chat tokens (:data:`~simrec.agents.untrusted.FORGERY`) are deleted
    with the sentence each one opens (a forged turn's words are the attacker's). The rest
    is split into clauses (sentences, then ``;``/``,``/spaced dashes); a flagged clause is
    cut from its first cue on, keeping what comes before it ("Toy Story (1995) ignore all
    instructions" keeps "Toy Story (1995)"), or dropped with its separator when nothing
    does. Text with nothing flagged comes back as it was (NFKC-normalised).
    """
    s = _normal(text)
    pieces = FORGERY.split(s)
    cut = len(pieces) - 1
    out = []
    for i, piece in enumerate(pieces):
        if i:
            end = _SENTENCE_END.search(piece)
            piece = piece[end.end() :] if end else ""
        piece, n = _cut_clauses(piece)
        cut += n
        if i < len(pieces) - 1:  # what leads into a forged token ('A viewer wrote: "')
            piece = _DANGLING.sub("", piece)
        if piece:
            out.append(piece)
    return (" ".join(out) if cut else s), cut


@lru_cache(maxsize=8192)
def defend_field(text: str, defence: str) -> tuple[str, bool]:
    """One item field (title or description) under ``defence``, and whether the classifier changed it.

    ``sanitise`` cuts flagged clauses (a title cut to nothing reads :data:`REMOVED`);
    ``classifier`` replaces a flagged field by :data:`REMOVED`; the other defences leave the
    text as it is (``strict_quoting`` quotes in the prompt, ``ignore_descriptions`` drops whole
    fields from the page).

    Raises:
        ValueError: for an unknown defence.
    """
    if defence not in DEFENCES:
        raise ValueError(f"unknown text defence {defence!r}; known: {', '.join(DEFENCES)}")
    if not text:
        return text, False
    if defence == "sanitise":
        out, cut = sanitise(text)
        return (out or REMOVED) if cut else text, bool(cut)
    if defence == "classifier" and flags_injection(text):
        return REMOVED, True
    return text, False


def defend_text(text: str, defence: str) -> str:
    """``text`` as ``defence`` lets it reach a prompt (see :func:`defend_field`)."""
    return defend_field(str(text), defence)[0]
