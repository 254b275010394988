"""A/B-ranking fidelity: do simulated users rank recommenders the way real held-out data does?

For a list of recommenders on one scenario (with a held-out split) and a few seeds:

* **real side**: each recommender is fitted on the world's real training interactions
  (the seed's split, the generator a run gives it) and its top-10, training items
  excluded, is scored against each user's real held-out items: Recall@10 and NDCG@10
  (:func:`simrec.metrics.ranking.ranking_metrics`);
* **simulated side**: ``simrec bench`` runs the same recommenders with the same seeds on
  the simulated population (in-loop refits as the scenario says) and each episode's pages
  are scored by the in-the-loop counterparts, Recall@10 and NDCG@10 of every session's
  first ten recommended positions against what the simulated users watched, pooled over
  the recommenders (:mod:`simrec.metrics.pooled`);
* per metric, the two rankings of the recommenders (per-user values averaged over seeds,
  then over users) are compared by Kendall τ and Spearman ρ, each with a percentile
  bootstrap interval that resamples users (both sides paired).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import scipy.sparse as sp
import yaml
from pydantic import ValidationError
from scipy import stats

from simrec.bench.cells import cell_config, cells_of
from simrec.bench.runner import BenchResult, run_bench
from simrec.bench.spec import BenchSpec, RecommenderEntry
from simrec.config.schema import ScenarioConfig
from simrec.core.errors import ConfigError, SimrecError
from simrec.core.rng import child_rng
from simrec.data.load import load_dataset
from simrec.data.types import Interactions
from simrec.fidelity.result import ABRanking
from simrec.io.report import write_text
from simrec.metrics.pooled import pooled_metrics, read_episode
from simrec.metrics.ranking import ranking_metrics
from simrec.recommenders.base import RECOMMENDERS, build_recommender
from simrec.world.catalog import Catalog

#: Recommenders compared by default, those of them that are registered.
DEFAULT_RECOMMENDERS: tuple[str, ...] = (
    "random",
    "most_popular",
    "item_knn",
    "mf",
    "lightgcn",
    "sasrec",
    "ease",
)
#: The cut-off of both metrics.
K = 10
#: The metrics compared, in order.
METRICS: tuple[str, ...] = (f"recall@{K}", f"ndcg@{K}")

#: ``progress(note, done, total)``: one bench cell or one real-side fit finished.
Progress = Callable[[str, int, int], None]

# Keys of an environment block holding paths (what the loader resolves), made absolute before
# the scenario is written for the bench: a path given with --set is relative to this process's folder.
_ENV_PATHS = (
    ("data", "path"),
    ("data", "cache_dir"),
    ("data", "archetypes"),
    ("data", "items_path"),
    ("social", "path"),
)


def default_recommenders() -> list[str]:
    """:data:`DEFAULT_RECOMMENDERS` that the registry holds (``ease`` only once it is registered)."""
    return [n for n in DEFAULT_RECOMMENDERS if n in RECOMMENDERS.names()]


def check_recommenders(names: Sequence[str]) -> list[str]:
    """``names`` as a list, or a :class:`ConfigError` for an unknown, repeated or too short list."""
    names = list(names)
    unknown = [n for n in names if n not in RECOMMENDERS]
    if unknown:
        raise ConfigError(
            f"Unknown recommender(s) {', '.join(map(repr, unknown))} for --ab; registered: "
            f"{', '.join(RECOMMENDERS.names())} (or 'package.module:Class')."
        )
    if len(set(names)) != len(names) or len(names) < 3:
        raise ConfigError(
            f"--ab compares the rankings of at least 3 distinct recommenders; got {names}."
        )
    return names


def check_heldout(cfg: ScenarioConfig) -> None:
    """A :class:`ConfigError` unless the scenario's data split holds interactions out."""
    split = cfg.environment.data.split
    if split.kind == "none" or split.holdout_fraction <= 0:
        raise ConfigError(
            f"A/B-ranking fidelity needs held-out interactions, but {cfg.name} splits none "
            f"(environment.data.split: kind {split.kind}, holdout_fraction {split.holdout_fraction}); "
            "set environment.data.split.kind to random or temporal."
        )


def _seed_list(seeds: int | Sequence[int], root: int) -> list[int]:
    return list(range(root, root + seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]


def _nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    ok = np.isfinite(values)
    total = np.where(ok, values, 0.0).sum(axis=axis)
    count = ok.sum(axis=axis)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def _statistics(real: np.ndarray, sim: np.ndarray) -> tuple[float, float]:
    """Kendall τ-b and Spearman ρ of two score vectors (``nan`` if either is constant)."""
    if np.unique(real).size < 2 or np.unique(sim).size < 2 or not np.isfinite([*real, *sim]).all():
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.kendalltau(real, sim).statistic), float(
            stats.spearmanr(real, sim).statistic
        )


def rank_agreement(
    real: np.ndarray,
    sim: np.ndarray,
    rng: np.random.Generator,
    resamples: int = 1000,
    level: float = 0.95,
) -> dict[str, float]:
    """Kendall τ and Spearman ρ between two rankings of recommenders, with bootstrap intervals.

    Each side's score of a recommender is the mean of its per-user values (``nan`` ones
    left out). A resample draws the users with replacement, the same users for both sides,
    and recomputes both sides' scores and the two statistics; the interval is the
    percentile interval of the resampled statistics (resamples where a side is constant
    are left out).

    Args:
        real: ``[n_users, n_recommenders]`` per-user values on real held-out data.
        sim: The same on the simulated side.
        rng: Generator of the resamples.
        resamples: Bootstrap resamples.
        level: Coverage of the intervals.

    Returns:
        ``kendall_tau``, ``kendall_low``, ``kendall_high``, ``spearman_rho``,
        ``spearman_low``, ``spearman_high`` and ``users`` (users with any value).
    """
    real, sim = np.asarray(real, np.float64), np.asarray(sim, np.float64)
    if real.shape != sim.shape or real.ndim != 2:
        raise ValueError(
            f"real and sim must be [users, recommenders] of one shape; got {real.shape}, {sim.shape}"
        )
    keep = np.isfinite(real).any(axis=1) | np.isfinite(sim).any(axis=1)
    real, sim = real[keep], sim[keep]
    n = len(real)
    tau, rho = _statistics(_nanmean(real, 0), _nanmean(sim, 0))
    boot = np.full((resamples, 2), np.nan)
    if n:
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
        real_ok, sim_ok = np.isfinite(real), np.isfinite(sim)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (counts @ np.where(real_ok, real, 0.0)) / (counts @ real_ok)
            s = (counts @ np.where(sim_ok, sim, 0.0)) / (counts @ sim_ok)
        boot = np.array([_statistics(a, b) for a, b in zip(r, s, strict=True)]).reshape(
            resamples, 2
        )
    tails = [50 * (1 - level), 50 * (1 + level)]
    out = {"kendall_tau": tau, "spearman_rho": rho, "users": float(n)}
    for col, name in enumerate(("kendall", "spearman")):
        finite = boot[:, col][np.isfinite(boot[:, col])]
        low, high = np.percentile(finite, tails) if len(finite) else (np.nan, np.nan)
        out |= {f"{name}_low": float(low), f"{name}_high": float(high)}
    return out


def real_metrics(
    train: Interactions,
    heldout: Interactions,
    catalog: Catalog,
    n_users: int,
    name: str,
    params: dict[str, Any],
    seed: int,
    k: int = K,
) -> dict[str, np.ndarray]:
    """Per-user Recall@k and NDCG@k of ``name`` fitted on ``train``, scored on ``heldout``.

    The recommender gets the generator a run with root ``seed`` gives it
    (``child_rng(seed, "recommender")``), so this top-k is the first list it serves in the run.

    Returns:
        ``{"recall@k": [n_users], "ndcg@k": [n_users]}``; ``nan`` for users without held-out items.
    """
    rec = build_recommender(name, params, child_rng(seed, "recommender"))
    rec.fit(train, catalog, n_users=n_users)
    shape = (n_users, catalog.n_items)
    relevant = sp.csr_matrix(
        (np.ones(len(heldout), bool), (heldout.user, heldout.item)), shape=shape
    )
    relevant.sum_duplicates()
    users = np.flatnonzero(np.diff(relevant.indptr))
    ranked = rec.recommend(users, k) if len(users) else np.zeros((0, k), np.int64)
    out = {}
    for metric, values in ranking_metrics(ranked, relevant, users, k).items():
        out[metric] = np.full(n_users, np.nan)
        out[metric][users] = values
    return out


def _real_data(
    cfg: ScenarioConfig, run_dirs: list[Path], seed: int
) -> tuple[Interactions, Interactions, Catalog, int]:
    """The training and held-out interactions a seed's cells ran with (read from their run
    folders, which must agree), the catalog and the number of users."""
    files = ("train.parquet", "heldout.parquet")
    splits = {tuple(pq.read_metadata(d / f).num_rows for f in files) for d in run_dirs}
    if len(splits) != 1:
        raise SimrecError(
            f"the bench runs of seed {seed} hold different splits {sorted(splits)}; they must share a world."
        )
    first = run_dirs[0]
    train = Interactions.from_frame(pd.read_parquet(first / "train.parquet"))
    heldout = Interactions.from_frame(pd.read_parquet(first / "heldout.parquet"))
    n_users = pq.read_metadata(first / "users.parquet").num_rows
    # the catalog the world builds (items and their training popularity), without fitting its taste
    catalog = Catalog.from_dataset(
        load_dataset(cfg.environment.data, child_rng(seed, "world", "data")), train
    )
    if catalog.n_items != pq.read_metadata(first / "items.parquet").num_rows:
        raise SimrecError(f"the catalog of seed {seed} differs from its bench runs' items.parquet.")
    return train, heldout, catalog, n_users


def _scenario_file(cfg: ScenarioConfig, folder: Path) -> Path:
    """``cfg`` written as a scenario the bench cells load (absolute data paths, no variants)."""
    data = cfg.model_dump(mode="json")
    data["variants"] = {}
    data["llm"]["api_key"] = None  # a cell reads it from llm.api_key_env, as the loader does
    env = data["environment"]
    for key in _ENV_PATHS:
        node = env.get(key[0])
        if isinstance(node, dict) and isinstance(node.get(key[1]), str):
            node[key[1]] = str(Path(node[key[1]]).expanduser().resolve())
    return write_text(Path(folder) / "ab-scenario.yaml", yaml.safe_dump(data, sort_keys=False))


def _params(cfg: ScenarioConfig, name: str) -> dict[str, Any]:
    """The scenario's recommender params for the recommender it names; none for the others."""
    return dict(cfg.recommender.params) if name == cfg.recommender.name else {}


def measure_ab(
    cfg: ScenarioConfig,
    folder: Path,
    seed: int | None = None,
    recommenders: Sequence[str] | None = None,
    seeds: int | Sequence[int] = 2,
    steps: int | None = None,
    resamples: int = 1000,
    executor: str = "local",
    workers: int | None = None,
    progress: Progress | None = None,
) -> ABRanking:
    """Compare the ranking of ``recommenders`` on real held-out data and on the simulated population.

    Args:
        cfg: The scenario; its data split must hold interactions out.
        folder: Where the bench (``ab-bench/``) and its scenario file go.
        seed: Root seed (default ``cfg.seed``); ``seeds`` count from it.
        recommenders: Registered names (default :func:`default_recommenders`); the
            scenario's ``recommender.params`` go to the recommender it names.
        seeds: How many seeds (``seed``, ``seed + 1``, ...) or the seeds themselves.
        steps: Steps of each simulated episode (default: the scenario's ``run.steps``).
        resamples: Bootstrap resamples of the intervals.
        executor: Bench executor (``local``, ``serial`` or ``ray``).
        workers: Parallel bench cells (default: one per CPU).
        progress: Told after each bench cell and each real-side fit.

    Raises:
        ConfigError: for an unknown recommender or a scenario without held-out data.
    """
    names = check_recommenders(default_recommenders() if recommenders is None else recommenders)
    check_heldout(cfg)
    root = cfg.seed if seed is None else seed
    seed_list = _seed_list(seeds, root)
    folder = Path(folder)
    timings: dict[str, float] = {}
    total = len(names) * len(seed_list) * 2
    done = 0

    def tick(note: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(note, done, total)

    t = time.perf_counter()
    try:
        spec = BenchSpec(
            name="ab-bench", scenarios=[_scenario_file(cfg, folder)], seeds=seed_list, steps=steps,
            recommenders=[RecommenderEntry(name=n, params=_params(cfg, n)) for n in names],
            executor=executor, workers=workers, output_dir=folder,
        )  # fmt: skip
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"Invalid A/B-ranking options: {problems}") from None
    bench = run_bench(
        spec,
        progress=lambda i, n, row: tick(f"simulated: {row['recommender']}, seed {row['seed']}"),
    )
    timings["simulated"] = time.perf_counter() - t
    t = time.perf_counter()
    real, sim = _both_sides(spec, bench, names, tick)
    timings["real_and_scoring"] = time.perf_counter() - t  # real-side fits; both sides scored
    return _summary(real, sim, names, child_rng(root, "fidelity", "ab", "bootstrap"), resamples,
                    {"recommenders": names, "seeds": seed_list, "steps": steps or cfg.run.steps, "k": K,
                     "resamples": resamples, "bench_dir": str(bench.bench_dir), "timings_s": timings})  # fmt: skip


def _both_sides(
    spec: BenchSpec, bench: BenchResult, names: list[str], tick: Callable[[str], None]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per metric, ``[n_seeds, n_users, n_recommenders]`` values of the real and the simulated side."""
    cells = cells_of(spec, bench.bench_dir)
    run_dirs = {
        (str(r["recommender"]), int(r["seed"])): Path(r["run_dir"])
        for r in bench.cells.to_dict("records")
    }
    real: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    sim: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    for seed in spec.seeds:
        seed_cells = [c for c in cells if c.seed == seed]
        dirs = [run_dirs[(c.recommender, seed)] for c in seed_cells]
        train, heldout, catalog, n_users = _real_data(cell_config(seed_cells[0]), dirs, seed)
        fits = []
        for cell in seed_cells:
            fits.append(
                real_metrics(train, heldout, catalog, n_users, cell.name, cell.params, seed)
            )
            tick(f"real: {cell.recommender}, seed {seed}")
        episodes = [read_episode(d, K) for d in dirs]
        pooled = pooled_metrics(episodes, n_users, K)
        for m in METRICS:
            real[m].append(np.stack([f[m] for f in fits], axis=1))
            sim[m].append(np.stack([p[m] for p in pooled], axis=1))
    return {m: np.stack(v) for m, v in real.items()}, {m: np.stack(v) for m, v in sim.items()}


def _ranks(values: np.ndarray) -> np.ndarray:
    """1 for the highest value (ties share the best rank; ``nan`` ranks last)."""
    return stats.rankdata(-np.nan_to_num(values, nan=-np.inf), method="min").astype(np.int64)


def _summary(
    real: dict[str, np.ndarray], sim: dict[str, np.ndarray], names: list[str], rng: np.random.Generator,
    resamples: int, info: dict[str, Any],
) -> ABRanking:  # fmt: skip
    table = pd.DataFrame({"recommender": names})
    rows = []
    for m in METRICS:
        r_user, s_user = _nanmean(real[m], 0), _nanmean(sim[m], 0)  # per user: mean over seeds
        r, s = _nanmean(r_user, 0), _nanmean(s_user, 0)
        table[f"real_{m}"], table[f"sim_{m}"] = r, s
        table[f"real_rank_{m}"], table[f"sim_rank_{m}"] = _ranks(r), _ranks(s)
        rows.append({"metric": m, **rank_agreement(r_user, s_user, rng, resamples), "recommenders": len(names),
                     "resamples": resamples})  # fmt: skip
    agreement = pd.DataFrame(rows)
    agreement["users"] = agreement["users"].astype(np.int64)
    return ABRanking(table, agreement, info)
