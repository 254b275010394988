"""The sentence rule that cutting a text and stopping its generation share."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from simrec.llm.sentences import first_sentences, has_sentences


def test_sentences_end_at_a_mark_followed_by_a_space_or_the_end() -> None:
    assert first_sentences("Great twist. I loved it! And then the", 1) == "Great twist."
    assert first_sentences("It is 3.5 stars. Fine.", 1) == "It is 3.5 stars."
    assert first_sentences('"Loved it.\n\nMore', 1) == "Loved it."
    assert not has_sentences("Great twist.", 1)  # nothing follows yet: it may be "Great twist.5"
    assert has_sentences("Great twist. I", 1) and not has_sentences("Great twist. I", 2)
    assert has_sentences("Wow!!! Great. So", 2)


@given(st.text(alphabet="ab .!?\"\n", max_size=40), st.text(alphabet="ab .!?\"\n", max_size=20), st.integers(1, 3))
def test_once_has_sentences_is_true_no_continuation_changes_the_kept_text(text: str, more: str, limit: int) -> None:
    for cut in range(len(text) + 1):
        head = text[:cut]
        if has_sentences(head, limit):
            assert first_sentences(head, limit) == first_sentences(head + more, limit)
            break
