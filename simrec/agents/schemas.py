"""Pydantic models of the replies agents expect from an LLM.

Strict schema, tolerant parsing:

* The JSON schema a backend sees is strict: positions and stars are bounded
  (grammar-constrained backends spell them out as enums), texts have a maximum
  length, and every field is listed as required, in declaration order, so a
  grammar-constrained model writes them all, ``watch`` first.
* Parsing forgives what has one obvious fix: missing optional fields take their
  defaults, over-long texts are cut, duplicate positions and ratings are
  dropped, ratings of unwatched items are dropped, a ``share`` of an unwatched
  item becomes ``None``, and an empty review becomes ``None``. Numbers out of
  range and wrong types are errors (there is no right guess), so the LLM layer
  asks for a repair and, failing that, falls back to the choice model.

Field names are short because every reply token costs time.
"""

from __future__ import annotations

import re

from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator

#: The most items a page can hold (and so the largest position).
MAX_PAGE = 20


def _cut(limit: int) -> BeforeValidator:
    """Strip text and cut it to ``limit`` characters (ending in "…")."""

    def cut(value: Any) -> Any:
        if isinstance(value, str):
            value = " ".join(value.split())
            if len(value) > limit:
                value = value[: limit - 1].rstrip() + "…"
        return value

    return BeforeValidator(cut)


def _compact_schema(schema: dict[str, Any]) -> None:
    # Listing every property as required keeps llama.cpp's grammar from moving
    # optional fields to the end or letting the model skip them. Titles and
    # docstrings are dropped: a repair prompt quotes the schema, token by token.
    props = schema.get("properties", {})
    schema["required"] = list(props)
    schema.pop("description", None)
    schema.pop("title", None)
    for prop in props.values():
        prop.pop("title", None)


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra=_compact_schema)


Position = Annotated[int, Field(ge=1, le=MAX_PAGE)]
Stars = Annotated[int, Field(ge=1, le=5)]
Reason = Annotated[str, _cut(100), Field(max_length=100)]
Review = Annotated[str, _cut(200), Field(max_length=200)] | None
Message = Annotated[str, _cut(80), Field(max_length=80)] | None
Insight = Annotated[str, _cut(120), Field(min_length=1, max_length=120)]


_WORD = re.compile(r"[^\W\d_]{2,}")


def _has_words(text: str) -> bool:
    """At least two words made of letters."""
    return len(_WORD.findall(text)) >= 2


class RatedItem(_Reply):
    """A star rating of one watched item.

    Attributes:
        position: The item's 1-based position on the page.
        stars: 1 to 5.
        reason: Why, in a few words (cut to 100 characters).
    """

    position: Position
    stars: Stars
    reason: Reason = ""


class PageDecision(_Reply):
    """What a user does with one page.

    Attributes:
        watch: Positions watched, in the order chosen (duplicates dropped).
        ratings: Ratings of watched items (others dropped; first per position kept).
        leave: Whether the user ends the session after this page.
        review: An optional short review (cut to 200 characters; one without at least
            two words of letters, e.g. JSON debris, becomes ``None``).
        share: An optional watched position to share with friends (unwatched → ``None``).
        message: What the user tells friends with the share (cut to 80 characters;
            dropped without a share, and like a review, dropped without two words).
    """

    watch: list[Position] = Field(max_length=MAX_PAGE)
    ratings: list[RatedItem] = Field(default_factory=list, max_length=MAX_PAGE)
    leave: bool
    review: Review = None
    share: Position | None = None
    message: Message = None

    @model_validator(mode="after")
    def _consistent(self) -> PageDecision:
        self.watch = list(dict.fromkeys(self.watch))
        watched = set(self.watch)
        seen: set[int] = set()
        ratings = []
        for r in self.ratings:
            if r.position in watched and r.position not in seen:
                seen.add(r.position)
                ratings.append(r)
        self.ratings = ratings
        if self.share is not None and self.share not in watched:
            self.share = None
        if self.review is not None and not _has_words(self.review):
            self.review = None  # empty, or JSON debris a small model wrote into the string
        if self.share is None or (self.message is not None and not _has_words(self.message)):
            self.message = None
        return self

    def restrict(self, n_items: int) -> PageDecision:
        """A copy without positions beyond a page of ``n_items`` (for schemas wider than the page)."""
        return PageDecision(
            watch=[p for p in self.watch if p <= n_items],
            ratings=[r for r in self.ratings if r.position <= n_items],
            leave=self.leave,
            review=self.review,
            share=self.share if self.share is not None and self.share <= n_items else None,
            message=self.message if self.share is not None and self.share <= n_items else None,
        )

    def stars_by_position(self) -> dict[int, int]:
        """``{position: stars}`` of the rated items."""
        return {r.position: r.stars for r in self.ratings}


@lru_cache(maxsize=MAX_PAGE)
def page_decision_schema(n_items: int) -> type[PageDecision]:
    """A :class:`PageDecision` subclass whose positions are bounded by the page size.

    Pass it as the request schema so a grammar-constrained model can only name
    positions on the page. Instances are :class:`PageDecision` objects.

    Raises:
        ValueError: if ``n_items`` is not in 1..:data:`MAX_PAGE`.
    """
    if not 1 <= n_items <= MAX_PAGE:
        raise ValueError(f"a page holds 1..{MAX_PAGE} items, got {n_items}")
    pos = Annotated[int, Field(ge=1, le=n_items)]
    rated = create_model(f"RatedItem{n_items}", __base__=RatedItem, position=(pos, ...))
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"PageDecision{n_items}",
        __base__=PageDecision,
        watch=(list[pos], Field(max_length=n_items)),  # type: ignore[valid-type]
        ratings=(list[rated], Field(default_factory=list, max_length=n_items)),  # type: ignore[valid-type]
        share=(pos | None, None),  # type: ignore[valid-type]
    )


class RankedList(_Reply):
    """An order of numbered candidates, best first.

    Attributes:
        order: Candidate numbers (1-based), best first; duplicates are dropped, and
            numbers left out keep their original order after the ranked ones.
    """

    order: list[Position] = Field(max_length=MAX_PAGE)

    @model_validator(mode="after")
    def _unique(self) -> RankedList:
        self.order = list(dict.fromkeys(self.order))
        return self


@lru_cache(maxsize=MAX_PAGE)
def ranked_list_schema(n_items: int) -> type[RankedList]:
    """A :class:`RankedList` whose numbers are bounded by ``n_items`` (1..:data:`MAX_PAGE`)."""
    if not 1 <= n_items <= MAX_PAGE:
        raise ValueError(f"a ranked list holds 1..{MAX_PAGE} items, got {n_items}")
    pos = Annotated[int, Field(ge=1, le=n_items)]
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"RankedList{n_items}", __base__=RankedList, order=(list[pos], Field(max_length=n_items))  # type: ignore[valid-type]
    )


class Reflection(_Reply):
    """Insights a user draws from recent memories.

    Attributes:
        insights: 1 to 3 short first-person lessons (each cut to 120 characters;
            blanks dropped, beyond the third ignored).
    """

    insights: list[Insight] = Field(min_length=1, max_length=3)

    @model_validator(mode="before")
    @classmethod
    def _drop_blank(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("insights"), list):
            kept = [s for s in data["insights"] if not (isinstance(s, str) and not s.strip())]
            data = {**data, "insights": kept[:3]}
        return data


class InterviewAnswer(_Reply):
    """An answer given in character.

    Attributes:
        answer: The answer (cut to 400 characters).
    """

    answer: Annotated[str, _cut(400), Field(min_length=1, max_length=400)]
