"""The scored protocol's questions: short, plain prompts a small model can follow.

Rendered from the versioned ``scored`` template (``agents/prompts/scored.v<N>.yaml``):
one system message per user and page (instructions, persona, recent memories) that
every question of the page shares, and one short question per call. See
:mod:`simrec.agents.policies.scored` for how they are asked and answered.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from simrec.agents.prompts import STRICT_NOTE, PromptTemplate, clean_untrusted, quote_untrusted
from simrec.core.errors import ConfigError
from simrec.llm.sentences import first_sentences
from simrec.llm.types import LLMRequest, Message

__all__ = ["QUESTIONS", "STARS", "YES_NO", "ScoredPrompts", "first_sentences"]

YES_NO = ("yes", "no")
STARS = ("1", "2", "3", "4", "5")
_EMPTY_CLAUSE = re.compile(r"[;,]\s*\$\{?popularity\}?")
QUESTIONS = ("watch", "stars", "share", "reason", "review", "message", "reflection", "interview")


class ScoredPrompts:
    """The scored protocol's messages, from a ``scored`` template.

    Args:
        template: A loaded ``scored`` prompt template.
        text_tokens: Token cap of a generated text.
        strict: The ``strict_quoting`` text defence: genres are quoted too, and
            :data:`~simrec.agents.prompts.STRICT_NOTE` ends the system message.
    """

    def __init__(self, template: PromptTemplate, text_tokens: int = 40, strict: bool = False) -> None:
        missing = set(QUESTIONS) - set(template.snippets)
        if missing:
            raise ConfigError(
                f"Prompt template {template.name} v{template.version} ({template.path}) lacks the "
                f"question(s) {', '.join(sorted(missing))}."
            )
        self.template = template
        self.text_tokens = text_tokens
        self.strict = strict

    def system(self, persona: str, memories: Sequence[str] = ()) -> Message:
        """The prefix every question of a page shares."""
        lim = self.template.limit("memory")
        mem = "; ".join(quote_untrusted(m, lim) for m in memories)
        msg, _ = self.template.render(persona=persona, memories=f" Lately: {mem}." if mem else "", question="")
        return Message(msg.role, f"{msg.content} {STRICT_NOTE}") if self.strict else msg

    def question(
        self, kind: str, title: str = "", genres: str = "", stars: int | str = 0, asked: str = "", popularity: str = ""
    ) -> str:
        """The text of one question (``kind`` names a snippet of the template).

        ``popularity`` fills ``$popularity`` (see :mod:`simrec.agents.popularity`);
        left empty, its clause (``"; $popularity"``) is dropped from the question.
        """
        t = self.template
        snippet = t.snippets[kind] if popularity else _EMPTY_CLAUSE.sub("", t.snippets[kind])
        shown = (quote_untrusted if self.strict and genres else clean_untrusted)(genres, t.limit("genres"))
        return string.Template(snippet).safe_substitute(
            title=quote_untrusted(title, t.limit("title")),
            genres=shown or "a movie",
            stars=stars,
            asked=quote_untrusted(asked, t.limit("question")),
            popularity=clean_untrusted(popularity, 24),
        )

    def messages(self, system: Message, question: str) -> tuple[Message, Message]:
        """The two messages of one call."""
        _, user = self.template.render(persona="", memories="", question=question)
        return system, user

    def score_request(
        self, system: Message, question: str, choices: tuple[str, ...], agent: int, step: int,
        seed: int, purpose: str,
    ) -> LLMRequest:  # fmt: skip
        """A scoring call (no text generated)."""
        return LLMRequest(
            self.messages(system, question), agent=agent, step=step, purpose=purpose,
            seed=seed, choices=choices, max_tokens=1, temperature=0.0,
        )  # fmt: skip

    def text_request(
        self, system: Message, question: str, agent: int, step: int, seed: int, purpose: str,
        sentences: int = 1,
    ) -> LLMRequest:  # fmt: skip
        """A short generated text of at most ``sentences`` sentences (generation may stop there)."""
        return LLMRequest(
            self.messages(system, question), agent=agent, step=step, purpose=purpose, seed=seed,
            max_tokens=self.text_tokens, sentences=sentences,
        )  # fmt: skip
