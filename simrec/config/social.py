"""Config of the social graph: how it is built, how it lives during a run, what is measured."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from simrec.config.base import Strict


class SocialDynamicsConfig(Strict):
    """How the graph lives during a run: shares, influence, trust, follow and unfollow."""

    enabled: bool = Field(True, description="run the socialize phase (off: a static graph)")
    share_rate: float = Field(0.05, ge=0, le=1, description="chance an average user shares an item they liked")
    like_threshold: int = Field(4, ge=1, le=5, description="stars at which an item counts as liked")
    dislike_threshold: int = Field(2, ge=1, le=5, description="stars at or below which a share disappoints")
    slot_position: int = Field(0, ge=-1, description="position of the social slot on a session's first page (-1: none)")
    inbox_ttl: int = Field(3, ge=1, description="steps a share waits in a follower's inbox")
    influence_window: int = Field(3, ge=1, description="steps a friend's like keeps pulling on choices")
    influence_decay: float = Field(0.6, gt=0, le=1, description="weight of a like per step of age")
    trust_init: float = Field(0.5, ge=0, le=1, description="trust in a new tie")
    trust_up: float = Field(0.2, ge=0, le=1, description="share of the gap to 1 gained when a share is liked")
    trust_down: float = Field(0.25, ge=0, le=1, description="share of trust lost when a share is disliked")
    trust_skip: float = Field(0.05, ge=0, le=1, description="share of trust lost when a share is ignored")
    unfollow_after: int = Field(3, ge=1, description="disappointing shares in a row before a tie may be dropped")
    unfollow_rate: float = Field(0.5, ge=0, le=1, description="chance to drop a tie that reached unfollow_after")
    follow_upstream: float = Field(0.3, ge=0, le=1, description="chance to follow the original sharer of a liked re-share")
    follow_rate: float = Field(0.02, ge=0, le=1, description="chance per session to consider a friend of a friend")
    follow_similarity: float = Field(0.0, ge=-1, le=1, description="minimum taste similarity to follow someone")
    profile_rate: float = Field(0.1, gt=0, le=1, description="EMA rate of a user's expressed taste (liked genres)")
    share_memory: bool = Field(True, description="LLM-driven followers remember shares they received")


class SocialMetricsConfig(Strict):
    """Social metrics and graph snapshots."""

    every: int = Field(1, ge=0, description="graph metrics every N steps (0: never)")
    community_every: int = Field(
        1, ge=0, description="Louvain community modularity every N steps (0: at the end only); slow on big graphs"
    )
    community_method: Literal["auto", "louvain", "label_propagation"] = Field(
        "auto", description="auto: Louvain up to 200,000 arcs, else label propagation (Louvain takes minutes there)"
    )
    taste_groups: int = Field(8, ge=2, le=256, description="taste groups (k-means of hidden taste) for assortativity")
    snapshot_every: int = Field(0, ge=0, description="edge-list snapshot every N steps (0: initial and final only)")
    graphml: bool = Field(True, description="write graph/final.graphml at the end")


class SeedShareConfig(Strict):
    """Shares planted at the start of a step (e.g. one item seeded to a few users to watch it spread)."""

    item: int | Literal["most_popular", "random"] = Field(
        "most_popular", description="raw item id, or how to pick one"
    )
    users: int = Field(5, ge=1, description="how many users share it")
    pick: Literal["hubs", "random"] = Field("hubs", description="hubs: the most-followed users")
    step: int = Field(1, ge=1, description="the step at whose start they share it")


SOCIAL_BUILDERS = ("none", "edge_list", "barabasi_albert", "watts_strogatz", "sbm")


class SocialConfig(Strict):
    """The social graph: its builder (registered name or ``package.module:function``) and dynamics."""

    builder: str = Field("none", description="none | edge_list | barabasi_albert | watts_strogatz | sbm | pkg.mod:fn")
    directed: bool = Field(False, description="a follow graph (True) or a friendship graph")
    reciprocity: float = Field(
        0.5, ge=0, le=1, description="directed graphs from undirected generators: chance a tie is mutual"
    )
    k: int = Field(6, ge=2, description="watts_strogatz: neighbours per node")
    p: float = Field(0.1, ge=0.0, le=1.0, description="watts_strogatz: rewiring probability")
    m: int = Field(3, ge=1, description="barabasi_albert: edges per new node")
    blocks: int = Field(8, ge=1, description="sbm: blocks (taste groups)")
    mean_degree: float = Field(10.0, gt=0, description="sbm: expected ties per user")
    homophily: float = Field(0.8, ge=0, le=1, description="sbm: share of a user's ties inside their taste block")
    path: Path | None = Field(None, description="edge_list: CSV/TSV/Parquet file of ties")
    source_col: str = "source"
    target_col: str = "target"
    ids: Literal["raw", "index"] = Field("raw", description="edge_list: raw user ids of the data, or 0-based indices")
    params: dict[str, Any] = Field(default_factory=dict, description="parameters of a plug-in builder")
    dynamics: SocialDynamicsConfig = SocialDynamicsConfig()
    metrics: SocialMetricsConfig = SocialMetricsConfig()
    seed_shares: list[SeedShareConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> SocialConfig:
        if self.builder not in SOCIAL_BUILDERS and ":" not in self.builder:
            raise ValueError(
                f"unknown social builder '{self.builder}'; choose one of {', '.join(SOCIAL_BUILDERS)} "
                "or give 'package.module:function'"
            )
        if self.builder == "edge_list" and self.path is None:
            raise ValueError("social.builder 'edge_list' needs social.path (a CSV, TSV or Parquet file of ties)")
        if self.dynamics.dislike_threshold >= self.dynamics.like_threshold:
            raise ValueError("social.dynamics.dislike_threshold must be below like_threshold")
        return self
