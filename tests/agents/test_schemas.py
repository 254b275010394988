"""Reply schemas: strict JSON schema for the model, tolerant parsing of what comes back."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from simrec.agents.schemas import (
    MAX_PAGE,
    InterviewAnswer,
    PageDecision,
    RatedItem,
    Reflection,
    page_decision_schema,
)


def test_a_full_reply_parses() -> None:
    text = json.dumps(
        {
            "watch": [2, 4],
            "ratings": [
                {"position": 2, "stars": 5, "reason": "Loves sci-fi"},
                {"position": 4, "stars": 2, "reason": "dull"},
            ],
            "leave": False,
            "review": "Great page.",
            "share": 2,
        }
    )
    d = PageDecision.model_validate_json(text)
    assert d.watch == [2, 4] and d.leave is False and d.review == "Great page." and d.share == 2
    assert d.ratings[0] == RatedItem(position=2, stars=5, reason="Loves sci-fi")
    assert d.stars_by_position() == {2: 5, 4: 2}


def test_schema_lists_every_field_as_required_with_watch_first() -> None:
    schema = PageDecision.model_json_schema()
    assert list(schema["properties"]) == ["watch", "ratings", "leave", "review", "share", "message"]
    assert schema["required"] == ["watch", "ratings", "leave", "review", "share", "message"]
    rated = next(iter(schema["$defs"].values()))
    assert list(rated["properties"]) == ["position", "stars", "reason"] == rated["required"]
    assert "description" not in schema and "title" not in schema["properties"]["watch"]
    assert schema["properties"]["watch"]["items"] == {
        "maximum": MAX_PAGE,
        "minimum": 1,
        "type": "integer",
    }
    assert schema["properties"]["review"]["anyOf"][0]["maxLength"] == 200
    assert Reflection.model_json_schema()["properties"]["insights"]["maxItems"] == 3


def test_parsing_is_tolerant_where_the_fix_is_obvious() -> None:
    d = PageDecision.model_validate(
        {
            "watch": [3, 1, 3],
            "ratings": [
                {"position": 2, "stars": 4},  # not watched: dropped
                {"position": 1, "stars": 5, "reason": "x" * 150},  # cut to 100 characters
                {"position": 1, "stars": 1},  # second rating of 1: dropped
            ],
            "leave": True,
            "review": "   ",
            "share": 2,  # not watched: no share
            "mood": "happy",  # unknown fields are ignored
        }
    )
    assert d.watch == [3, 1]
    assert [(r.position, r.stars) for r in d.ratings] == [(1, 5)]
    assert len(d.ratings[0].reason) == 100 and d.ratings[0].reason.endswith("…")
    assert d.review is None and d.share is None
    minimal = PageDecision.model_validate({"watch": [], "leave": True})
    assert minimal.ratings == [] and minimal.review is None and minimal.share is None
    long = PageDecision.model_validate({"watch": [1], "leave": False, "review": "word " * 100})
    assert len(long.review) == 200


@pytest.mark.parametrize(
    "bad",
    [
        {},  # watch and leave are required: an empty reply is no decision
        {"watch": [0], "leave": False},
        {"watch": [MAX_PAGE + 1], "leave": False},
        {"watch": [1], "ratings": [{"position": 1, "stars": 6}], "leave": False},
        {"watch": [1], "ratings": [{"position": 1, "stars": 0}], "leave": False},
        {"watch": "1", "leave": False},
        {"watch": [1], "leave": "perhaps"},
        {"watch": list(range(1, MAX_PAGE + 2)), "leave": False},
    ],
)
def test_out_of_range_or_wrong_types_are_errors(bad: dict) -> None:
    with pytest.raises(ValidationError):
        PageDecision.model_validate(bad)


def test_page_sized_schema_bounds_positions() -> None:
    five = page_decision_schema(5)
    assert page_decision_schema(5) is five
    schema = five.model_json_schema()
    assert list(schema["properties"]) == ["watch", "ratings", "leave", "review", "share", "message"]
    assert schema["properties"]["watch"]["items"]["maximum"] == 5
    assert schema["properties"]["watch"]["maxItems"] == 5
    d = five.model_validate(
        {"watch": [5], "ratings": [{"position": 5, "stars": 3}], "leave": False, "share": 5}
    )
    assert isinstance(d, PageDecision) and d.share == 5
    for bad in ({"watch": [6], "leave": False}, {"watch": [1], "leave": False, "share": 6}):
        with pytest.raises(ValidationError):
            five.model_validate(bad)
    with pytest.raises(ValidationError):
        five.model_validate(
            {"watch": [1], "ratings": [{"position": 6, "stars": 3}], "leave": False}
        )
    # the tolerant rules are inherited
    assert (
        five.model_validate(
            {"watch": [1], "ratings": [{"position": 2, "stars": 3}], "leave": False}
        ).ratings
        == []
    )
    with pytest.raises(ValueError):
        page_decision_schema(0)
    with pytest.raises(ValueError):
        page_decision_schema(MAX_PAGE + 1)


def test_restrict_drops_positions_beyond_the_page() -> None:
    d = PageDecision.model_validate(
        {
            "watch": [2, 7],
            "ratings": [{"position": 7, "stars": 5}, {"position": 2, "stars": 1}],
            "leave": False,
            "share": 7,
        }
    )
    r = d.restrict(5)
    assert r.watch == [2] and [x.position for x in r.ratings] == [2] and r.share is None
    assert d.watch == [2, 7]  # the original is untouched


def test_reflection_and_interview() -> None:
    r = Reflection.model_validate(
        {"insights": ["I like sci-fi.", "  ", "I leave dull pages.", "a", "b"]}
    )
    assert r.insights == ["I like sci-fi.", "I leave dull pages.", "a"]
    assert len(Reflection.model_validate({"insights": ["x" * 300]}).insights[0]) == 120
    for bad in ({"insights": []}, {"insights": ["  "]}, {}):
        with pytest.raises(ValidationError):
            Reflection.model_validate(bad)
    a = InterviewAnswer.model_validate_json('{"answer": "I mostly watch   thrillers."}')
    assert a.answer == "I mostly watch thrillers."
    with pytest.raises(ValidationError):
        InterviewAnswer.model_validate({"answer": ""})


@pytest.mark.parametrize(
    "schema", [PageDecision, page_decision_schema(5), Reflection, InterviewAnswer]
)
def test_llama_cpp_turns_the_schemas_into_grammars(schema) -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    from simrec.llm.schema_utils import bounded_int_enums

    text = json.dumps(bounded_int_enums(schema.model_json_schema()))
    assert llama_cpp.LlamaGrammar.from_json_schema(text, verbose=False) is not None
