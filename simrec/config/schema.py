"""Pydantic v2 schema of a scenario: environment + agents + policy + recommender + run.

Every model forbids unknown keys, so a typo is an error that names the key and
the allowed ones (see :mod:`simrec.config.loader`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

# The agents and social blocks live in their own modules; re-exported here.
from simrec.config.agents import (
    AgentsConfig,
    CalibrationConfig,
    MemoryConfig,
    TasteConfig,
    TraitsConfig,
)
from simrec.config.base import Strict
from simrec.config.robustness import RobustnessConfig
from simrec.config.social import (
    SOCIAL_BUILDERS,
    SeedShareConfig,
    SocialConfig,
    SocialDynamicsConfig,
    SocialMetricsConfig,
)
from simrec.config.tune import TuneConfig

__all__ = [
    "SOCIAL_BUILDERS",
    "AgentsConfig",
    "CalibrationConfig",
    "ChoiceParams",
    "DataConfig",
    "EnvironmentConfig",
    "FileData",
    "LLMBudgetConfig",
    "LLMCacheConfig",
    "LLMConfig",
    "LLMPolicyParams",
    "LLMPricesConfig",
    "MemoryConfig",
    "MovieLensData",
    "PolicyConfig",
    "RatingScaleConfig",
    "RecommenderConfig",
    "RobustnessConfig",
    "RunConfig",
    "ScenarioConfig",
    "SeedShareConfig",
    "SocialConfig",
    "SocialDynamicsConfig",
    "SocialMetricsConfig",
    "SplitConfig",
    "Strict",
    "SyntheticData",
    "TasteConfig",
    "TraitsConfig",
    "TuneConfig",
]  # fmt: skip


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


class RatingScaleConfig(Strict):
    """An explicit rating scale: the levels ``min, min + step, ..., max`` (e.g. 0.5, 5, 0.5 for half stars)."""

    min: float = Field(gt=0, description="lowest level (above 0: 0 marks 'not rated')")
    max: float = Field(description="highest level")
    step: float = Field(gt=0, description="distance between neighbouring levels")

    @model_validator(mode="after")
    def _levels(self) -> RatingScaleConfig:
        if self.max <= self.min:
            raise ValueError(f"max ({self.max:g}) must exceed min ({self.min:g})")
        steps = (self.max - self.min) / self.step
        if abs(steps - round(steps)) > 1e-3:
            raise ValueError(
                f"max − min ({self.max - self.min:g}) is not a whole number of steps of {self.step:g}"
            )
        if round(steps) + 1 > 1000:
            raise ValueError(f"at most 1000 levels, got {round(steps) + 1}")
        return self


class _DataCommon(Strict):
    split: SplitConfig = SplitConfig()
    min_user_interactions: int = Field(1, ge=1, description="drop users with fewer interactions")
    max_users: int | None = Field(None, ge=1, description="keep a seeded random subset of users")
    rating_scale: Literal["auto"] | RatingScaleConfig = Field(
        "auto",
        description="the ratings' scale, {min, max, step}; auto: MovieLens declares it (100k, 1m: whole stars "
        "1-5; latest: half stars 0.5-5), a file's is inferred from its ratings, synthetic worlds use whole stars",
    )

    @field_validator("rating_scale", mode="before")
    @classmethod
    def _scale(cls, value: Any) -> Any:
        """``auto`` or ``{min, max, step}``, with one message naming what is wrong."""
        if value == "auto" or isinstance(value, RatingScaleConfig):
            return value
        if not isinstance(value, dict):
            raise ValueError("rating_scale is 'auto' or {min, max, step}")  # noqa: TRY004 (pydantic wants ValueError)
        try:
            return RatingScaleConfig.model_validate(value)
        except ValidationError as exc:
            problems = "; ".join(
                (f"{'.'.join(map(str, e['loc']))}: " if e["loc"] else "") + e["msg"].removeprefix("Value error, ")
                for e in exc.errors()
            )
            raise ValueError(f"rating_scale {{min, max, step}}: {problems}") from None


#: Bounds that keep a synthetic world within one machine's memory.
MAX_USERS, MAX_ITEMS, MAX_INTERACTIONS = 20_000_000, 2_000_000, 400_000_000


class SyntheticData(_DataCommon):
    """A seeded synthetic world (no files needed)."""

    source: Literal["synthetic"] = "synthetic"
    n_users: int = Field(1000, ge=1, le=MAX_USERS)
    n_items: int = Field(2000, ge=2, le=MAX_ITEMS)
    n_genres: int = Field(12, ge=1, le=64)
    dim: int = Field(16, ge=2, le=256, description="latent taste dimensions")
    interactions_per_user: float = Field(
        20.0, gt=0, le=10_000, description="mean training interactions per user"
    )
    archetypes: Path | None = Field(None, description="YAML of persona archetypes (agents/archetypes/...)")

    @model_validator(mode="after")
    def _fits(self) -> SyntheticData:
        total = self.n_users * self.interactions_per_user
        if total > MAX_INTERACTIONS:
            raise ValueError(
                f"n_users × interactions_per_user is {total:,.0f} training interactions; a synthetic world "
                f"holds at most {MAX_INTERACTIONS:,} (lower n_users or interactions_per_user)"
            )
        return self


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


class EnvironmentConfig(Strict):
    """The platform: catalog and users' data source, page layout, session rules, graph."""

    name: str = "environment"
    description: str = ""
    data: DataConfig = SyntheticData()
    page_size: int = Field(10, ge=1, le=200)
    pages_per_session: int = Field(5, ge=1, le=100)
    step_seconds: int = Field(86400, ge=1, description="simulated time per step (timestamps)")
    social: SocialConfig = SocialConfig()


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
    star_cuts: tuple[float, ...] = Field(
        (1.5, 2.5, 3.5, 4.5),
        min_length=1,
        description="cuts mode: predicted-rating boundaries between neighbouring levels of the data's rating "
        "scale, one fewer than its levels (the default: 1|2|3|4|5 whole stars; calibration.ratings fits them)",
    )
    choice_noise: float = Field(
        1.0,
        ge=0,
        description="scale of the choice noise (1: the logit's own; below 1 more decisive, 0 deterministic)",
    )
    picks: Literal["fixed", "page"] = Field(
        "fixed",
        description="fixed: one outside utility on every page; page: the outside option moves with the page "
        "(the share of the page's items worth watching is inferred from the page itself, so a poor page gets "
        "few watches and a rich one many)",
    )
    page_prior: float = Field(
        1.0, gt=0, description="page picks: pseudo-items for and against watching in the page's inferred share"
    )
    beta_taste_contrast: float = Field(
        0.0, description="weight of taste relative to the page's mean taste (a context effect; calibration can fit it)"
    )
    beta_popularity_contrast: float = Field(
        0.0, description="weight of popularity relative to the page's mean, scaled by conformity (a context effect)"
    )
    beta_ease: float = Field(
        0.0, description="weight of the EASE interest term (agents.taste.ease_reg; calibration fits it)"
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
    prompt_version: int | None = Field(
        None, ge=1, description="version of the protocol's template (page_decision or scored; default latest)"
    )
    text_chars: int = Field(120, ge=20, le=2000, description="max characters of an item's text in prompts")
    protocol: Literal["auto", "scored", "json"] = Field(
        "auto",
        description="scored: yes/no and 1-5 questions scored by next-word probabilities, short texts where "
        "wanted (small local models); json: one structured page decision (capable served models); "
        "auto: the backend's default (llamacpp: scored, others: json)",
    )
    llm_weight: Annotated[float, Field(ge=0, le=10)] | Literal["auto"] = Field(
        "auto",
        description="hybrid, scored: weight of the LLM's centred log-odds on the choice prior; auto: the weight "
        "simrec tune chose on validation examples for the model in use (tuned or not), 1 when no tuning ran",
    )
    watch_temperature: float = Field(
        1.0, ge=0, le=100,
        description="llm mode, scored: watches are drawn from σ(log-odds / T); 1 takes the model's own "
        "probabilities, 0 watches when yes is the likelier answer (as a model replying greedily would)",
    )
    stars: Literal["auto", "llm", "choice"] = Field(
        "auto", description="scored: who gives stars (auto: the LLM in llm mode, the choice model in hybrid)"
    )
    reason_rate: float = Field(0.3, ge=0, le=1, description="scored: share of watches that get a written reason")
    review_rate: float = Field(0.1, ge=0, le=1, description="scored: share of pages with a watch that get a review")
    text_tokens: int = Field(40, ge=4, le=400, description="scored: token cap of one generated text")
    memories: int = Field(2, ge=0, le=10, description="scored: recalled memories in a page's prompt")


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

    steps: int = Field(10, ge=1, le=1_000_000)
    output_dir: Path = Path("runs")
    name: str | None = Field(None, description="run folder name; default: the scenario name")

    @field_validator("name")
    @classmethod
    def _plain(cls, value: str | None) -> str | None:
        return None if value is None else _folder_name(value, "run.name")
    overwrite: bool = Field(
        False, description="replace an existing run folder of the same name (default: use <name>-2, ...)"
    )
    chunk_rows: int = Field(250_000, ge=1000, description="events per Parquet part; up to this many wait in memory (about 43 bytes each)")
    export: list[Literal["recbole", "csv", "parquet"]] = Field(default_factory=lambda: ["recbole"])
    report: bool = Field(True, description="write report.html (plots) at the end")
    write_users: bool = True
    checkpoint_every: int = Field(
        5, ge=0, description="write a checkpoint every N steps (0: never); simrec run --resume RUN_DIR continues from the last"
    )
    checkpoint_keep: int = Field(2, ge=1, description="checkpoints kept (the newest; older ones are deleted)")
    log: Literal["events", "interactions", "aggregates"] = Field(
        "events",
        description="what the event log keeps: every event (events), no impression or skip rows "
        "(interactions: clicks, ratings, shares, exits), or no event rows at all, per-step item counts "
        "in item_steps.parquet instead (aggregates); at a million users the log is the cost",
    )
    mesa_agents: Literal["auto", "on", "off"] = Field(
        "auto", description="a Mesa agent handle per user and item (auto: only up to 100,000 users)"
    )
    random_streams: Literal["batch", "per_user"] = Field(
        "batch",
        description="batch: one generator per batch of users; per_user: every user's draws come from a "
        "stream of the seed and the user's id, so a run does not depend on how users are batched or sharded",
    )
    shards: int = Field(
        0, ge=0, le=1024,
        description="run the users' phases on this many Ray actors (0: in this process); needs per_user streams",
    )  # fmt: skip
    ray_address: str | None = Field(
        None, description="Ray cluster to join for run.shards (None: start a local Ray instance; 'auto': a running one)"
    )

    @model_validator(mode="before")
    @classmethod
    def _shards_stream_per_user(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("shards"):
            streams = data.get("random_streams", "per_user")
            if streams != "per_user":
                raise ValueError(
                    "run.shards needs run.random_streams: per_user (each user's draws must not depend on "
                    "the shard the user lands on); drop run.random_streams or set it to per_user"
                )
            data = {**data, "random_streams": "per_user"}
        return data

    @model_validator(mode="after")
    def _check_scale_options(self) -> RunConfig:
        if self.log == "aggregates" and self.export:
            raise ValueError(
                f"run.log aggregates writes no event rows, so run.export {self.export} has nothing to export: "
                "set run.export: [] or run.log: interactions"
            )
        return self


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
        None,
        description="llamacpp: a bundled model (smollm2-135m, the default; gemma3-270m) or a GGUF path; "
        "others: the served model's name",
    )
    base_url: str | None = Field(None, description="openai: server URL, e.g. http://127.0.0.1:8000/v1")
    host: str = Field("http://127.0.0.1:11434", description="ollama: server URL")
    servers: list[str] | None = Field(
        None,
        description="openai, ollama: several servers of the same model, instead of base_url/host; each "
        "request goes to the least busy one, a failing one is skipped and retried later (docs/serving.md)",
    )
    api_key: SecretStr | None = Field(None, description="openai: key (never written to logs or manifests)")
    api_key_env: str = Field("OPENAI_API_KEY", description="openai: environment variable holding the key")
    response_format: Literal["auto", "json_schema", "json_object", "none"] = Field(
        "auto", description="openai: how the reply schema is sent (auto: json_schema, else json_object)"
    )
    transport: Literal["sdk", "aiohttp", "lean"] = Field(
        "sdk",
        description="openai: the official client; aiohttp, or lean (simrec's own HTTP/1.1 client, the least "
        "client CPU), for fast local servers",
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
    cache_dir: Path | None = Field(None, description="llamacpp: where bundled models are unpacked")
    adapter: str = Field(
        "auto",
        description="llamacpp: a LoRA adapter GGUF; auto: the one `simrec tune` made for this scenario's "
        "data, split and tune block, if any; none: the untuned model; or a path",
    )
    # langchain
    chat_model: str | None = Field(None, description="langchain: 'package.module:ChatClass'")
    chat_kwargs: dict[str, Any] = Field(default_factory=dict)
    cache: LLMCacheConfig = LLMCacheConfig()
    budget: LLMBudgetConfig = LLMBudgetConfig()
    prices: LLMPricesConfig = LLMPricesConfig()

    @field_validator("servers")
    @classmethod
    def _check_servers(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("llm.servers is empty: list one or more server URLs, or leave it out")
        urls = []
        for url in value:
            scheme, sep, rest = url.strip().partition("://")
            if not sep or scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
                raise ValueError(
                    f"llm.servers entry {url!r} is not a server URL; write it like http://127.0.0.1:8000/v1 "
                    "(openai, with the API prefix) or http://127.0.0.1:11434 (ollama)"
                )
            urls.append(url.strip().rstrip("/"))
        if len(set(urls)) != len(urls):
            twice = sorted({u for u in urls if urls.count(u) > 1})
            raise ValueError(f"llm.servers lists {', '.join(twice)} more than once")
        return urls

    @model_validator(mode="after")
    def _servers_or_one_url(self) -> LLMConfig:
        if self.servers is None:
            return self
        for key in ("base_url", "host"):
            if key in self.model_fields_set and getattr(self, key) is not None:
                raise ValueError(
                    f"llm.servers and llm.{key} are both set: list every server in llm.servers "
                    f"and drop llm.{key} (or set it to null)"
                )
        if self.backend in ("llamacpp", "langchain", "fake"):
            raise ValueError(
                f"llm.servers is for the openai and ollama backends, not {self.backend!r}; drop it"
            )
        return self


def _folder_name(value: str, key: str) -> str:
    """``value`` if it can name a run folder on any OS (it becomes one), else a ValueError naming ``key``."""
    bad = sorted({c for c in value if c in '/\\:*?"<>|' or not c.isprintable()})
    if not value.strip() or bad or value.strip(".") == "" or len(value) > 200:
        shown = ", ".join(repr(c) for c in bad) or "an empty, dot-only or over-long name"
        raise ValueError(
            f"{key} {value!r} names the run folder and cannot hold {shown}; use letters, digits, '-', '_' or '.' "
            "(or set run.name)"
        )
    return value


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
    tune: TuneConfig = TuneConfig()
    robustness: RobustnessConfig = RobustnessConfig()
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
        if self.run.name is None:
            _folder_name(self.name, "name")
        return self

    @property
    def run_name(self) -> str:
        """The run folder name."""
        return self.run.name or self.name
