"""The ``tune:`` block: how ``simrec tune`` teaches the embedded model the data set's users."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simrec.config.base import Strict


class TuneConfig(Strict):
    """A LoRA fine-tune (TALLRec style) of the embedded model on the training split.

    Examples are "persona + item → would you watch it? yes/no" (a user's training
    items against sampled unseen ones, drawn as ``negatives`` says) and
    "→ how many stars?" for the rated ones. A share of each user's examples is held
    back as validation, its negatives drawn uniformly from the user's unseen items
    (as fidelity's default lists draw them): the adapter kept is the checkpoint with
    the best validation AUC, and the held-out split of the data is never read.
    """

    users: int = Field(300, ge=2, description="users sampled from the training split")
    per_user: int = Field(6, ge=1, description="positive items per user (each gets one negative)")
    negatives: Literal["uniform", "popularity", "mixed"] = Field(
        "uniform",
        description="how training negatives are drawn from a user's unseen items: uniformly (as a catalogue "
        "offers them), by popularity (so popularity alone cannot tell them apart) or half of each",
    )
    stars: bool = Field(True, description="also teach the 1-5 stars question")
    valid_share: float = Field(0.2, gt=0, lt=1, description="share of each user's examples held back for validation")
    valid_examples: int = Field(200, ge=10, description="validation examples scored at each checkpoint (at most)")
    steps: int = Field(300, ge=1, description="optimizer steps")
    batch_size: int = Field(8, ge=1, le=256)
    lr: float = Field(1e-3, gt=0, le=1)
    rank: int = Field(8, ge=1, le=256, description="LoRA rank")
    alpha: float = Field(16.0, gt=0, description="LoRA alpha (scale alpha / rank)")
    targets: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], description="modules the LoRA adapts"
    )
    eval_every: int = Field(100, ge=1, description="steps between validation checkpoints")
    budget_s: float = Field(
        900.0, gt=0, description="wall-clock cap: training stops at the first checkpoint past it (recorded)"
    )
    threads: int | None = Field(None, ge=1, description="torch threads (default: every usable CPU)")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="bf16 autocast (auto: where the CPU multiplies bfloat16 natively) or fp32"
    )
