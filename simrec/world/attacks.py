"""What a run's attacks and noise are, as data: :class:`AttackPlan` (``World.attacks``).

The plan is made by :func:`simrec.attacks.plan.plan_attacks` from the scenario's
``robustness:`` block and the world; the world only holds it, as it holds its
calibration. The policy reads the noise and the text defence from it, the run's
training feed the fake profiles, and the probe the item groups it watches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simrec.data.types import Interactions

__all__ = ["AttackPlan"]


def _no_items() -> np.ndarray:
    return np.empty(0, np.int64)


@dataclass(frozen=True)
class AttackPlan:
    """The attacked and noisy items of a run, the fake profiles, and the options in force.

    Attributes:
        targets: Items the shilling attack pushes (sorted item indices; may be set with no
            fake profiles: a clean run that is watched the same way).
        fake: The fake profiles (user indices from ``first_fake_user`` on, never a
            population user); empty without an attack.
        first_fake_user: The first fake user's index (the population's size).
        fake_start: Step the fake profiles enter what the recommender learns from (0: the training data).
        fake_stop: Step from which they are deleted (``None``: never).
        clickbait: Clickbait items (sorted).
        clickbait_appeal: Utility added to them on a page (0: ordinary items).
        accidental_rate: Chance per page of one accidental watch.
        accidental_rated: Share of accidental watches rated (the lowest level).
        text_items: Items whose text carries the text attack (sorted).
        text_attack: The text attack's kind (``none``: the items keep their text).
        text_field: Where it is: ``title``, ``description`` or ``review``.
        text_defence: How item text reaches LLM prompts (``none``, ``strict_quoting``, ...).
    """

    targets: np.ndarray = field(default_factory=_no_items)
    fake: Interactions = field(default_factory=Interactions.empty)
    first_fake_user: int = 0
    fake_start: int = 0
    fake_stop: int | None = None
    clickbait: np.ndarray = field(default_factory=_no_items)
    clickbait_appeal: float = 0.0
    accidental_rate: float = 0.0
    accidental_rated: float = 0.5
    text_items: np.ndarray = field(default_factory=_no_items)
    text_attack: str = "none"
    text_field: str = "title"
    text_defence: str = "none"

    @property
    def n_fake_users(self) -> int:
        """Number of fake profiles."""
        return len(np.unique(self.fake.user)) if len(self.fake) else 0

    @property
    def noisy(self) -> bool:
        """Whether the choice model's decisions change (clickbait appeal or accidental clicks)."""
        return bool((len(self.clickbait) and self.clickbait_appeal > 0) or self.accidental_rate > 0)

    def to_json(self) -> dict[str, object]:
        """``attack.json``: the items of each group, the fake profiles' size and window, the options."""
        return {
            "targets": self.targets.tolist(), "clickbait": self.clickbait.tolist(), "text_items": self.text_items.tolist(),
            "fake_users": self.n_fake_users, "fake_rows": len(self.fake), "first_fake_user": self.first_fake_user,
            "fake_start": self.fake_start, "fake_stop": self.fake_stop, "clickbait_appeal": self.clickbait_appeal,
            "accidental_rate": self.accidental_rate, "accidental_rated": self.accidental_rated,
            "text_attack": self.text_attack, "text_field": self.text_field, "text_defence": self.text_defence,
        }  # fmt: skip

    def groups(self) -> dict[str, np.ndarray]:
        """The item groups a probe watches, by name (only the non-empty ones)."""
        named = {"target": self.targets, "clickbait": self.clickbait, "text": self.text_items}
        return {k: v for k, v in named.items() if len(v)}
