"""Pydantic v2 schema of a scenario: environment + agents + policy + recommender + run.

Every model forbids unknown keys, so a typo is an error that names the key and
the allowed ones (see :mod:`simrec.config.loader`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, SecretStr, Tag, field_validator, model_validator


class Strict(BaseModel):
    """Base of all config models: unknown keys are rejected, values validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --- environment: data -------------------------------------------------------


class SplitConfig(Strict):
    """How real interactions split into training (agents, recommender) and held-out."""

    kind: Literal["none", "random", "temporal"] = "random"
    holdout_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    min_train: int = Field(1, ge=1)
    max_train: int | None = Field(
        None,
        ge=1,
        description="keep at most this many training interactions per user, a seeded random subset; "
        "the rest are dropped, held-out stays as is (cold-start studies)",
    )
    cold_share: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="share of users (seeded random) that max_train down-samples; others keep all",
    )


class _DataCommon(Strict):
    split: SplitConfig = SplitConfig()
    min_user_interactions: int = Field(1, ge=1, description="drop users with fewer interactions")
    max_users: int | None = Field(None, ge=1, description="keep a seeded random subset of users")


class SyntheticData(_DataCommon):
    """A seeded synthetic world (no files needed)."""

    source: Literal["synthetic"] = "synthetic"
    n_users: int = Field(1000, ge=1)
    n_items: int = Field(2000, ge=2)
    n_genres: int = Field(12, ge=1, le=64)
    dim: int = Field(16, ge=2, le=256, description="latent taste dimensions")
    interactions_per_user: float = Field(20.0, gt=0, description="mean training interactions per user")
    archetypes: Path | None = Field(None, description="YAML of persona archetypes (agents/archetypes/...)")


class MovieLensData(_DataCommon):
    """MovieLens 100K / 1M / latest, from a local folder or downloaded from GroupLens."""

    source: Literal["movielens"] = "movielens"
    variant: Literal["100k", "1m", "latest-small", "latest"] = "100k"
    path: Path | None = Field(None, description="folder with the files; empty = download")
    cache_dir: Path | None = None
    download: bool = True


class FileData(_DataCommon):
    """A generic interactions CSV/TSV/Parquet file with a column mapping."""

    source: Literal["file"] = "file"
    path: Path
    user_col: str = "user_id"
    item_col: str = "item_id"
    rating_col: str | None = "rating"
    timestamp_col: str | None = "timestamp"
    items_path: Path | None = None
    item_id_col: str = "item_id"
    title_col: str | None = "title"
    genres_col: str | None = "genres"
    genres_sep: str = "|"


def _data_source(value: Any) -> str:
    """The ``source`` tag of a data block; a block without one is synthetic."""
    if isinstance(value, dict):
        return str(value.get("source", "synthetic"))
    return str(getattr(value, "source", "synthetic"))


DataConfig = Annotated[
    Annotated[SyntheticData, Tag("synthetic")]
    | Annotated[MovieLensData, Tag("movielens")]
    | Annotated[FileData, Tag("file")],
    Discriminator(_data_source),
]


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


class EnvironmentConfig(Strict):
    """The platform: catalog and users' data source, page layout, session rules, graph."""

    name: str = "environment"
    description: str = ""
    data: DataConfig = SyntheticData()
    page_size: int = Field(10, ge=1, le=200)
    pages_per_session: int = Field(5, ge=1, le=100)
    step_seconds: int = Field(86400, ge=1, description="simulated time per step (timestamps)")
    social: SocialConfig = SocialConfig()


# --- agents --------------------------------------------------------------------


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
    calibration: CalibrationConfig = CalibrationConfig()


# --- policy ----------------------------------------------------------------------


class ChoiceParams(Strict):
    """Parameters of the multinomial-logit choice model, rating model and exit hazard."""

    beta_taste: float = Field(1.5, description="weight of the user's taste affinity (z-scored)")
    beta_genre: float = Field(0.5, description="weight of genre affinity")
    beta_popularity: float = Field(0.8, description="popularity weight, scaled by conformity")
    beta_novelty: float = Field(0.6, description="novelty weight, scaled by diversity-seeking")
    beta_fatigue: float = Field(0.8, description="utility lost per unit of fatigue")
    beta_social: float = Field(0.5, description="pull of friends' recent likes, scaled by conformity and trust")
    position_decay: float = Field(0.08, ge=0, description="log-utility lost per position down the page")
    outside_utility: float = Field(2.4, description="utility of clicking nothing (higher = fewer clicks)")
    rate_probability: float = Field(1.0, ge=0, le=1, description="chance a watched item gets rated")
    rating_noise: float = Field(
        0.6, ge=0, description="noise of the rating model (std; z units in 'habit' mode, stars in 'cuts' mode)"
    )
    rating_mode: Literal["habit", "cuts"] = Field(
        "habit",
        description="habit: score z-scored per user and mapped through the user's own star shares; "
        "cuts: predicted rating cut at star_cuts (calibration.ratings fits them)",
    )
    star_cuts: tuple[float, float, float, float] = Field(
        (1.5, 2.5, 3.5, 4.5), description="cuts mode: predicted-rating boundaries between 1|2|3|4|5 stars"
    )
    choice_noise: float = Field(
        1.0,
        ge=0,
        description="scale of the choice noise (1: the logit's own; below 1 more decisive, 0 deterministic)",
    )
    exit_base: float = Field(-2.2, description="log-odds of leaving after a page at neutral mood")
    exit_satisfaction: float = Field(1.6, ge=0, description="how much dissatisfaction drives exits")
    exit_fatigue: float = Field(0.9, ge=0, description="how much fatigue drives exits")
    exit_patience: float = Field(1.2, ge=0, description="how much patience holds users on the page")
    satisfaction_rate: float = Field(0.5, gt=0, le=1, description="EMA rate of satisfaction")
    fatigue_per_page: float = Field(0.15, ge=0)
    fatigue_per_watch: float = Field(0.05, ge=0)
    fatigue_recovery: float = Field(0.7, ge=0, le=1, description="share of fatigue gone between steps")

    @model_validator(mode="after")
    def _check_cuts(self) -> ChoiceParams:
        if any(b <= a for a, b in zip(self.star_cuts, self.star_cuts[1:])):
            raise ValueError(f"star_cuts must increase, got {list(self.star_cuts)}")
        return self


class LLMPolicyParams(Strict):
    """How LLM-driven agents decide (``llm`` and ``hybrid`` modes)."""

    llm_users: int | None = Field(
        None, ge=0, description="hybrid: number of LLM-driven users (seeded pick); overrides llm_share"
    )
    llm_share: float = Field(0.05, ge=0, le=1, description="hybrid: share of users driven by the LLM")
    prompt_version: int | None = Field(None, ge=1, description="page_decision template version (default latest)")
    text_chars: int = Field(120, ge=20, le=2000, description="max characters of an item's text in prompts")


class PolicyConfig(Strict):
    """How users decide: ``choice`` (no LLM), ``llm``, ``hybrid``, or a plug-in."""

    name: str = Field("choice", description="choice | llm | hybrid | 'package.module:Class'")
    choice: ChoiceParams = ChoiceParams()
    llm: LLMPolicyParams = LLMPolicyParams()
    params: dict[str, Any] = Field(default_factory=dict, description="parameters of a plug-in policy")


# --- recommender & run ----------------------------------------------------------


class RecommenderConfig(Strict):
    """A registered recommender name (or ``"package.module:Class"``) and its parameters."""

    name: str = "most_popular"
    params: dict[str, Any] = Field(default_factory=dict)
    retrain_every: int = Field(0, ge=0, description="refit every N steps on real+simulated (0: never)")
    exclude_seen: bool = True


class RunConfig(Strict):
    """Run length and outputs."""

    steps: int = Field(10, ge=1)
    output_dir: Path = Path("runs")
    name: str | None = Field(None, description="run folder name; default: the scenario name")
    overwrite: bool = Field(
        False, description="replace an existing run folder of the same name (default: use <name>-2, ...)"
    )
    chunk_rows: int = Field(1_000_000, ge=1000, description="events per Parquet part")
    export: list[Literal["recbole", "csv", "parquet"]] = Field(default_factory=lambda: ["recbole"])
    report: bool = Field(True, description="write report.html (plots) at the end")
    write_users: bool = True


# --- LLM -----------------------------------------------------------------------------


class LLMCacheConfig(Strict):
    """The replay cache."""

    enabled: bool = True
    path: Path | None = Field(None, description="SQLite file; default <output_dir>/llm-cache.sqlite")


class LLMBudgetConfig(Strict):
    """Caps on real LLM use; reaching one stops the run at the next step boundary."""

    max_calls: int | None = Field(None, ge=1)
    max_tokens: int | None = Field(None, ge=1)
    max_cost: float | None = Field(None, gt=0)


class LLMPricesConfig(Strict):
    """Optional price table for cost accounting."""

    prompt_per_1k: float = Field(0.0, ge=0)
    completion_per_1k: float = Field(0.0, ge=0)
    currency: str = "USD"


class LLMConfig(Strict):
    """Which LLM backend agents think with, and how it is called."""

    backend: str = Field("llamacpp", description="llamacpp | ollama | openai | langchain | fake | pkg.mod:Class")
    model: str | None = Field(
        None, description="llamacpp: GGUF path (default: the bundled Gemma 3 270M); others: model name"
    )
    base_url: str | None = Field(None, description="openai: server URL, e.g. http://127.0.0.1:8000/v1")
    host: str = Field("http://127.0.0.1:11434", description="ollama: server URL")
    api_key: SecretStr | None = Field(None, description="openai: key (never written to logs or manifests)")
    api_key_env: str = Field("OPENAI_API_KEY", description="openai: environment variable holding the key")
    response_format: Literal["auto", "json_schema", "json_object", "none"] = Field(
        "auto", description="openai: how the reply schema is sent (auto: json_schema, else json_object)"
    )
    transport: Literal["sdk", "aiohttp"] = Field(
        "sdk", description="openai: the official client, or a lean aiohttp path for fast local servers"
    )
    temperature: float = Field(0.7, ge=0, le=2)
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(200, ge=1)
    seed: int | None = Field(None, description="sampling seed; default: derived from the scenario seed")
    concurrency: int = Field(8, ge=1, le=1024)
    timeout_s: float = Field(60.0, gt=0)
    retries: int = Field(3, ge=0, le=20)
    backoff_s: float = Field(0.5, ge=0)
    health_check: bool = True
    # llamacpp
    n_ctx: int = Field(2048, ge=128)
    n_threads: int | None = Field(None, ge=1)
    prefix_cache: bool = Field(True, description="llamacpp: reuse evaluated prompt prefixes")
    cache_dir: Path | None = Field(None, description="llamacpp: where the bundled GGUF is assembled")
    # langchain
    chat_model: str | None = Field(None, description="langchain: 'package.module:ChatClass'")
    chat_kwargs: dict[str, Any] = Field(default_factory=dict)
    cache: LLMCacheConfig = LLMCacheConfig()
    budget: LLMBudgetConfig = LLMBudgetConfig()
    prices: LLMPricesConfig = LLMPricesConfig()


class ScenarioConfig(Strict):
    """A runnable experiment."""

    name: str
    description: str = ""
    seed: int = Field(0, ge=0)
    environment: EnvironmentConfig = EnvironmentConfig()
    agents: AgentsConfig = AgentsConfig()
    policy: PolicyConfig = PolicyConfig()
    recommender: RecommenderConfig = RecommenderConfig()
    llm: LLMConfig = LLMConfig()
    run: RunConfig = RunConfig()
    variants: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="named changes to this scenario, each run into <run>/<variant>/ and compared in report.html",
    )

    @model_validator(mode="after")
    def _check_variants(self) -> ScenarioConfig:
        for name in self.variants:
            if not name or any(c in name for c in "/\\:") or name.startswith("."):
                raise ValueError(f"variant name {name!r} must be a plain folder name")
        return self

    @property
    def run_name(self) -> str:
        """The run folder name."""
        return self.run.name or self.name
