"""What a policy answers, checked: the protocol, decisions, step outputs, counters, LLM users."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from simrec.agents.items import ItemFeedback
from simrec.agents.policies.base import DECISION_SOURCES, Decisions, PageBatch, Policy, PolicyOutput
from simrec.data.scale import WHOLE_STARS, RatingScale
from simrec.io.texts import TextRow
from simrec.testing._checks import call, check_array, fail

METHODS = ("decide", "connect", "llm_users", "end_step", "counters")
BASE = "subclass simrec.agents.policies.base.BasePolicy: it gives everything but decide"
FIX = (
    "decide(batch) returns Decisions(clicks [n, k] bool, ratings [n, k] stars on the data's rating scale"
    " (int 1..5 for whole stars, float levels such as 3.5 for half stars; 0 where not rated), exits [n] bool,"
    " satisfaction [n] float, fatigue [n] float) for the batch's n users and k items"
)


def check_protocol(policy: object, who: str) -> None:
    """The :class:`Policy` protocol: members present, flags bool, name a str, methods callable."""
    if not isinstance(policy, Policy):
        members = ("name", "uses_llm", "uses_mind", *METHODS)
        missing = ", ".join(m for m in members if not hasattr(policy, m))
        fail(who, f"not a Policy: it lacks {missing}", BASE, TypeError)
    if not isinstance(policy.name, str) or not policy.name:
        fail(who, f"name is {policy.name!r}", "set the class attribute name to a str", TypeError)
    for flag in ("uses_llm", "uses_mind"):
        if not isinstance(getattr(policy, flag), bool | np.bool_):
            fail(who, f"{flag} is {getattr(policy, flag)!r}", "set it to True or False", TypeError)
    for method in METHODS:
        if not callable(getattr(policy, method)):
            fail(who, f"{method} is not callable", BASE, TypeError)


def check_decisions(
    dec: object, batch: PageBatch, who: str, at: str, scale: RatingScale = WHOLE_STARS
) -> None:
    """Types, shapes, dtypes and invariants of ``decide``'s answer to ``batch``; stars on ``scale``."""
    if not isinstance(dec, Decisions):
        fail(who, f"decide returned a {type(dec).__name__}{at}, not Decisions", FIX, TypeError)
    n, k = batch.items.shape
    clicks = check_array(who, f"Decisions.clicks{at}", dec.clicks, (n, k), "b", FIX)
    ratings = check_array(who, f"Decisions.ratings{at}", dec.ratings, (n, k), "iuf", FIX)
    check_array(who, f"Decisions.exits{at}", dec.exits, (n,), "b", FIX)
    for name in ("satisfaction", "fatigue"):
        value = check_array(who, f"Decisions.{name}{at}", getattr(dec, name), (n,), "f", FIX)
        if not np.isfinite(value).all():
            fail(who, f"Decisions.{name}{at} is not finite", "it carries over to the next page")
    rated = ratings[ratings != 0]
    if (~scale.on_scale(rated)).any():
        fail(who, f"Decisions.ratings{at} holds stars off the rating scale ({scale.label})",
             f"stars are the levels {', '.join(scale.level_names())}, 0 where not rated")  # fmt: skip
    if ((ratings > 0) & ~clicks).any():
        fail(who, f"rating without a watch{at}", "ratings must be 0 where clicks is False")
    if dec.source is not None:
        src = check_array(who, f"Decisions.source{at}", dec.source, (n,), "iu", "or None")
        if ((src < 0) | (src >= len(DECISION_SOURCES))).any():
            fail(who, f"Decisions.source{at} holds unknown codes", f"index {DECISION_SOURCES}")
    _check_shares(dec, clicks, who, at)
    try:
        dec.validate(batch)
    except AssertionError as exc:
        raise AssertionError(f"{who}: Decisions.validate failed{at}: {exc}") from exc


def _check_shares(dec: Decisions, clicks: np.ndarray, who: str, at: str) -> None:
    if (dec.shares is None) != (dec.share_decided is None):
        fix = "set both (the policy decides those rows' sharing) or neither (the social rule does)"
        fail(who, f"one of Decisions.shares and share_decided is None{at}", fix)
    if dec.shares is None:
        return
    n, k = clicks.shape
    shares = check_array(who, f"Decisions.shares{at}", dec.shares, (n, k), "b")
    decided = check_array(who, f"Decisions.share_decided{at}", dec.share_decided, (n,), "b")
    if (shares & ~clicks).any():
        fail(who, f"Decisions.shares{at} has an unwatched item", "share watched items only")
    if (shares & ~decided[:, None]).any():
        fail(who, f"Decisions.shares{at} outside share_decided rows", "mark those rows decided")


def check_output(policy: Policy, step: int, who: str) -> None:
    """``end_step(step)`` returns a :class:`PolicyOutput` of text rows, feedback and messages."""
    out = call(who, f"end_step({step})", policy.end_step, step)
    if not isinstance(out, PolicyOutput):
        fix = "return PolicyOutput() when nothing was gathered"
        fail(who, f"end_step returned a {type(out).__name__}, not PolicyOutput", fix, TypeError)
    for field, kind in (("texts", TextRow), ("feedback", ItemFeedback)):
        for x in getattr(out, field):
            if not isinstance(x, kind):
                got = type(x).__name__
                fail(who, f"PolicyOutput.{field} has a {got}", f"want {kind.__name__}", TypeError)
    messages = out.share_messages
    if not isinstance(messages, Mapping):
        fail(who, "PolicyOutput.share_messages is no mapping", "{(user, item): str}", TypeError)
    for key, text in messages.items():
        pair = isinstance(key, tuple) and len(key) == 2
        ints = pair and all(isinstance(x, int | np.integer) for x in key)
        if not (ints and isinstance(text, str)):
            fail(who, f"share_messages has {key!r}: {text!r}", "{(user, item): str}", TypeError)


def check_counters(policy: Policy, who: str, before: Mapping[str, int]) -> dict[str, int]:
    """``counters()`` maps str to int running totals that never go down; returns them."""
    counters = call(who, "counters()", policy.counters)
    if not isinstance(counters, Mapping):
        fail(who, f"counters() returned a {type(counters).__name__}", "return a dict", TypeError)
    for key, value in counters.items():
        number = isinstance(value, int | np.integer) and not isinstance(value, bool)
        if not (isinstance(key, str) and number):
            fail(who, f"counters() has {key!r}: {value!r}", "map str to int totals", TypeError)
        if value < before.get(key, 0):
            fix = "counters are running totals since the start (the model reports differences)"
            fail(who, f"counter {key!r} went down from {before[key]} to {value}", fix)
    return dict(counters)


def check_llm_users(policy: Policy, n_users: int, who: str) -> None:
    """``llm_users()`` is ``None`` or an ``[n_users]`` bool mask, non-empty only if ``uses_llm``."""
    mask = call(who, "llm_users()", policy.llm_users)
    if mask is None:
        return
    check_array(who, "llm_users()", mask, (n_users,), "b", "return None or an [n_users] bool mask")
    if mask.any() and not policy.uses_llm:
        fix = "set uses_llm = True, so the runner hands the policy an LLM backend"
        fail(who, f"llm_users() marks {int(mask.sum())} users but uses_llm is False", fix)
