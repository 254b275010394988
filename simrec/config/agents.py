"""Config of the user population: hidden taste, calibration, traits, memory."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from simrec.config.base import Strict


class TasteConfig(Strict):
    """How hidden user taste is derived from training interactions."""

    source: Literal["auto", "fit"] = Field(
        "auto", description="auto: a synthetic world's ground truth, else fit on training data"
    )
    factors: int = Field(16, ge=2, le=256)
    reg: float = Field(0.05, gt=0)
    alpha: float = Field(10.0, gt=0)
    iterations: int = Field(10, ge=1, le=100)
    rating_factors: int = Field(8, ge=1, le=256)
    rating_reg: float = Field(0.1, gt=0)
    rating_model: Literal["als", "stacked"] = Field(
        "als",
        description="als: one biased MF; stacked: several biased MFs and side features stacked by gradient boosting "
        "(fitted out of fold; slower to build, closer to held-out ratings)",
    )
    ease_reg: float | None = Field(
        None,
        gt=0,
        description="a second interest signal: EASE item-item scores of the user's training history with this "
        "L2 regularisation (None: off); policy.choice.beta_ease weighs it (calibration fits it)",
    )
    stack_members: list[tuple[int, float]] = Field(
        default_factory=lambda: [(8, 0.1), (32, 0.15)],
        description="stacked: (factors, reg) of each biased-MF member",
    )
    stack_seeds: int = Field(3, ge=1, le=20, description="stacked: seeds averaged per member (full-data fits)")
    stack_folds: int = Field(5, ge=2, le=20, description="stacked: folds of the out-of-fold member predictions")

    @model_validator(mode="after")
    def _check_members(self) -> TasteConfig:
        if not self.stack_members or any(f < 1 or r <= 0 for f, r in self.stack_members):
            raise ValueError("stack_members must be a non-empty list of (factors >= 1, reg > 0)")
        return self


class CalibrationConfig(Strict):
    """Fit the choice model to real behaviour before a run (data sets with a held-out split only).

    Everything is fitted on the *training* split (a validation part carved out of it,
    or out-of-fold predictions); the held-out split that ``simrec fidelity`` scores
    is never seen.
    """

    choice: bool = Field(
        False,
        description="fit beta_taste, beta_genre, beta_novelty, beta_popularity and outside_utility by maximum "
        "likelihood on discrimination lists built from a validation part of training",
    )
    ratings: bool = Field(
        False, description="fit star cut-points on out-of-fold rating predictions (rating_mode becomes 'cuts')"
    )
    validation_share: float = Field(0.2, gt=0, lt=1, description="choice: share of each user's training held back")
    ratio: Literal["1:1", "1:2", "1:3", "1:9", "all"] = Field(
        "1:1", description="choice: positives:negatives of the lists (all: the four ratios pooled)"
    )
    negatives: list[Literal["uniform", "popularity"]] = Field(
        default_factory=lambda: ["uniform"],
        min_length=1,
        description="choice: negatives of the lists (uniform, popularity-matched, or both pooled)",
    )
    contrast: bool = Field(
        False,
        description="choice: also fit beta_taste_contrast and beta_popularity_contrast (taste and popularity "
        "relative to the rest of the page)",
    )
    natural_noise: float | None = Field(
        0.485,
        ge=0,
        description="choice: users' own rating inconsistency in stars (re-rating studies: 0.39-0.58); choice_noise "
        "becomes it divided by the rating model's out-of-fold RMSE (None: keep choice_noise)",
    )
    js_budget: float = Field(
        0.04, ge=0, le=1, description="ratings: most Jensen–Shannon divergence (bits) from the training star shares"
    )

    @field_validator("ratio", mode="before")
    @classmethod
    def _sexagesimal(cls, v: Any) -> Any:
        # YAML 1.1 reads an unquoted 1:2 as the base-60 integer 62.
        return f"{v // 60}:{v % 60}" if isinstance(v, int) and not isinstance(v, bool) and v > 0 else v


class TraitsConfig(Strict):
    """How much of each trait comes from data versus seeded random variation."""

    from_data: float = Field(0.7, ge=0.0, le=1.0, description="weight of the data-derived value")
    activity_range: tuple[float, float] = (0.3, 1.0)

    @model_validator(mode="after")
    def _check_range(self) -> TraitsConfig:
        lo, hi = self.activity_range
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError("activity_range must satisfy 0 < low <= high <= 1")
        return self


class MemoryConfig(Strict):
    """Episodic memory of LLM-driven agents."""

    store: Literal["chroma", "memory"] = Field("chroma", description="chroma (real, in-process) or memory (fake)")
    persistent: bool = Field(True, description="chroma: PersistentClient under <run>/memory (else ephemeral)")
    embedder: Literal["hashing", "minilm", "ollama", "openai"] = Field(
        "hashing", description="minilm: all-MiniLM-L6-v2 offline; ollama/openai: the llm block's server"
    )
    embed_model: str | None = Field(None, description="ollama/openai embedder: the embedding model's name")
    dim: int = Field(256, ge=16, le=4096, description="hashing embedder dimension")
    k: int = Field(3, ge=0, le=20, description="memories retrieved per decision")
    recency_decay: float = Field(0.95, gt=0, le=1, description="recency factor per step")
    reflect_every: int = Field(12, ge=0, description="reflect after this many new memories (0: never)")


class AgentsConfig(Strict):
    """The user population: taste model, traits, memory, item agents."""

    name: str = "agents"
    description: str = ""
    taste: TasteConfig = TasteConfig()
    traits: TraitsConfig = TraitsConfig()
    memory: MemoryConfig = MemoryConfig()
    item_profiles: bool = Field(True, description="item agents keep evolving profiles shown in prompts")
    item_names: Literal["real", "neutral"] = Field(
        "real",
        description="what agents and LLM prompts call items: their real titles and descriptions, or neutral "
        "names ('Item <raw id>', no description) so that a model cannot recall a famous catalog",
    )
    calibration: CalibrationConfig = CalibrationConfig()
