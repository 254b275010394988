"""A/B-ranking fidelity: the metrics on hand-made cases, rank agreement, the study and ``--ab``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from typer.testing import CliRunner

from simrec.cli import app
from simrec.config import load_scenario
from simrec.core.errors import ConfigError
from simrec.core.rng import child_rng
from simrec.fidelity.ab import (
    _scenario_file,
    check_recommenders,
    measure_ab,
    rank_agreement,
    real_metrics,
)
from simrec.metrics.pooled import Episode, pooled_metrics, read_episode
from simrec.metrics.ranking import list_metrics, ranking_metrics
from simrec.recommenders.base import build_recommender
from simrec.world.build import build_world
from tests.fidelity.worlds import one_genre_data
from tests.helpers import small_scenario

CHEAP = ["random", "most_popular", "item_knn", "mf"]
D = [1 / math.log2(j + 2) for j in range(10)]  # discount of position j


def test_list_metrics_by_hand() -> None:
    hits = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]], bool)
    got = list_metrics(hits, np.array([3, 2, 1, 0]), k=4)
    assert got["recall@4"][:3] == pytest.approx([2 / 3, 0.0, 1.0])
    assert got["ndcg@4"][:3] == pytest.approx(
        [(D[0] + D[2]) / (D[0] + D[1] + D[2]), 0.0, D[1] / D[0]]
    )
    assert np.isnan(got["recall@4"][3]) and np.isnan(
        got["ndcg@4"][3]
    )  # nothing relevant: undefined
    # the cut-off drops later positions; the ideal is capped at k
    cut = list_metrics(hits, np.array([3, 2, 1, 0]), k=2)
    assert cut["recall@2"][0] == pytest.approx(1 / 3) and cut["ndcg@2"][0] == pytest.approx(
        D[0] / (D[0] + D[1])
    )
    with pytest.raises(ValueError, match="more hits"):
        list_metrics(hits, np.array([1, 2, 1, 0]), k=4)


def test_ranking_metrics_against_a_sparse_held_out_matrix() -> None:
    # user 0 held out {2, 5, 7}; user 1 {0}; user 2 nothing
    relevant = sp.csr_matrix((np.ones(4), ([0, 0, 0, 1], [2, 5, 7, 0])), shape=(3, 9))
    ranked = np.array([[5, 1, 7], [3, 4, 0], [1, 2, 3]])
    got = ranking_metrics(ranked, relevant, np.array([0, 1, 2]), k=3)
    assert got["recall@3"][:2] == pytest.approx([2 / 3, 1.0])
    assert got["ndcg@3"][:2] == pytest.approx([(D[0] + D[2]) / (D[0] + D[1] + D[2]), D[2] / D[0]])
    assert np.isnan(got["recall@3"][2])


def _episode(
    sessions: list[tuple[int, int, list[int]]], watches: list[tuple[int, int, int]]
) -> Episode:
    su, ss, top = zip(*sessions, strict=True) if sessions else ((), (), ())
    wu, wi, ws = zip(*watches, strict=True) if watches else ((), (), ())
    arr = lambda v: np.asarray(v, np.int64)
    return Episode(arr(su), arr(ss), arr(top).reshape(len(sessions), 3), arr(wu), arr(wi), arr(ws))


def test_pooled_metrics_by_hand() -> None:
    # Two recommenders on three users; k = 3.
    # A: user 0 at step 0 sees [1, 2, 3] and watches 1; at step 1 sees [4, 2, 5] and watches 2.
    #    user 1 sees [7, 8, 9] at step 0 and watches nothing. User 2 never comes.
    # B: user 0 at step 0 sees [6, 4, 1] and watches 6 (and 9 from a later page); user 1 sees [9, 8, 7]
    #    and watches 9.
    a = _episode([(0, 0, [1, 2, 3]), (0, 1, [4, 2, 5]), (1, 0, [7, 8, 9])], [(0, 1, 0), (0, 2, 1)])
    b = _episode([(0, 0, [6, 4, 1]), (1, 0, [9, 8, 7])], [(0, 6, 0), (0, 9, 0), (1, 9, 0)])
    got_a, got_b = pooled_metrics([a, b], n_users=3, k=3)
    # pool: user 0 {1, 2, 6, 9}, user 1 {9}, user 2 {}.
    # A, user 0, step 0: hits 1, 2 of 4 -> recall 2/4, ndcg (D0 + D1) / (D0 + D1 + D2);
    #            step 1: item 1 already watched leaves the pool (3 left); hit 2 at position 1 -> 1/3, D1 / (D0+D1+D2)
    ideal3 = D[0] + D[1] + D[2]
    assert got_a["recall@3"][0] == pytest.approx((2 / 4 + 1 / 3) / 2)
    assert got_a["ndcg@3"][0] == pytest.approx(((D[0] + D[1]) / ideal3 + D[1] / ideal3) / 2)
    # A, user 1: 9 is in the pool (watched under B), at position 2 of A's list -> recall 1, ndcg D2 / D0
    assert got_a["recall@3"][1] == pytest.approx(1.0) and got_a["ndcg@3"][1] == pytest.approx(
        D[2] / D[0]
    )
    # B, user 0: hits 6 (pos 0) and 1 (pos 2) of 4; user 1: 9 at position 0
    assert got_b["recall@3"][0] == pytest.approx(2 / 4) and got_b["ndcg@3"][0] == pytest.approx(
        (D[0] + D[2]) / ideal3
    )
    assert got_b["recall@3"][1] == pytest.approx(1.0) and got_b["ndcg@3"][1] == pytest.approx(1.0)
    assert np.isnan(got_a["recall@3"][2]) and np.isnan(
        got_b["ndcg@3"][2]
    )  # no pooled item: undefined
    # a user with pooled items but no session in an episode scores 0 there
    c = _episode([(1, 0, [9, 8, 7])], [])
    got_c = pooled_metrics([a, b, c], n_users=3, k=3)[2]
    assert got_c["recall@3"][0] == 0.0 and got_c["recall@3"][1] == pytest.approx(1.0)


def test_identical_and_reversed_rankings() -> None:
    rng = np.random.default_rng(0)
    real = rng.random((300, 6)) * np.arange(1, 7)  # recommenders clearly ordered 0 < 1 < ... < 5
    same = rank_agreement(real, real * 0.5, child_rng(1, "t"), resamples=200)
    assert same["kendall_tau"] == pytest.approx(1.0) and same["spearman_rho"] == pytest.approx(1.0)
    assert same["kendall_low"] == pytest.approx(1.0) and same["kendall_high"] == pytest.approx(1.0)
    rev = rank_agreement(real, -real, child_rng(1, "t"), resamples=200)
    assert rev["kendall_tau"] == pytest.approx(-1.0) and rev["spearman_rho"] == pytest.approx(-1.0)
    assert rev["spearman_high"] == pytest.approx(-1.0)
    assert same["users"] == 300


def test_bootstrap_interval_is_seeded_and_holds_the_estimate() -> None:
    rng = np.random.default_rng(3)
    means = np.array([0.10, 0.12, 0.20, 0.30, 0.40, 0.50])  # 0 and 1 close: resamples swap them
    real = means + rng.normal(0, 0.3, (400, 6))
    sim = means[[0, 1, 2, 3, 5, 4]] + rng.normal(0, 0.3, (400, 6))  # the two best swapped
    sim[::7, 2] = np.nan  # undefined values are left out of the means
    one = rank_agreement(real, sim, child_rng(5, "boot"), resamples=300)
    assert one == rank_agreement(real, sim, child_rng(5, "boot"), resamples=300)
    assert one["kendall_tau"] == pytest.approx(13 / 15)  # one discordant pair of 15
    for name, point in (("kendall", one["kendall_tau"]), ("spearman", one["spearman_rho"])):
        assert one[f"{name}_low"] <= point <= one[f"{name}_high"]
        assert one[f"{name}_low"] < one[f"{name}_high"]  # noise: a real interval, not a point
    # many close recommenders: τ takes finer values, and another seed draws other resamples
    means = np.linspace(0.1, 0.3, 20)
    real, sim = means + rng.normal(0, 0.3, (400, 20)), means + rng.normal(0, 0.3, (400, 20))
    a, b = (rank_agreement(real, sim, child_rng(s, "boot"), resamples=300) for s in (5, 6))
    assert a["kendall_tau"] == b["kendall_tau"] and a != b
    assert -1 <= a["kendall_low"] < a["kendall_high"] <= 1


def test_unknown_or_too_few_recommenders_and_no_heldout(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope"):
        check_recommenders(["random", "mf", "nope"])
    with pytest.raises(ConfigError, match="at least 3"):
        check_recommenders(["random", "mf"])
    cfg = small_scenario(tmp_path, **{"environment.data.split.kind": "none"})
    with pytest.raises(ConfigError, match="held-out"):
        measure_ab(cfg, tmp_path, recommenders=CHEAP, seeds=1, steps=1, executor="serial")


def test_scenario_file_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = one_genre_data(tmp_path)
    monkeypatch.chdir(tmp_path)  # a --set path is relative to the current folder ...
    cfg = load_scenario(data=data, overrides=["environment.data.path=ratings.csv"])
    assert (
        cfg.environment.data.path is not None and not Path(cfg.environment.data.path).is_absolute()
    )
    (tmp_path / "elsewhere").mkdir()
    back = load_scenario(_scenario_file(cfg, tmp_path / "elsewhere"))
    # ... and the written scenario, loaded from another folder, still reads the same file
    assert Path(back.environment.data.path) == (tmp_path / "ratings.csv").resolve()
    a, b = cfg.model_dump(mode="json"), back.model_dump(mode="json")
    a["environment"]["data"]["path"] = b["environment"]["data"]["path"]
    assert a == b


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("ab")
    cfg = small_scenario(out)
    notes: list[tuple[str, int, int]] = []
    ab = measure_ab(cfg, out, recommenders=CHEAP, seeds=2, steps=2, executor="serial", resamples=200,
                    progress=lambda note, done, total: notes.append((note, done, total)))  # fmt: skip
    return cfg, ab, notes


def test_study_tables(study) -> None:
    cfg, ab, notes = study
    table = ab.table.set_index("recommender")
    assert list(table.index) == CHEAP
    for side in ("real", "sim"):
        for m in ("recall@10", "ndcg@10"):
            assert table[f"{side}_{m}"].between(0, 1).all()
            assert sorted(table[f"{side}_rank_{m}"]) == [1, 2, 3, 4]
    # random is the worst recommender on real held-out data, and the simulated users agree
    assert (
        table.loc["random", "real_rank_recall@10"] == 4
        and table.loc["random", "sim_rank_recall@10"] == 4
    )
    assert table.loc["most_popular", "real_recall@10"] > 2 * table.loc["random", "real_recall@10"]
    agree = ab.agreement.set_index("metric")
    assert list(agree.index) == ["recall@10", "ndcg@10"]
    for m in agree.index:
        row = agree.loc[m]
        assert -1 <= row["kendall_low"] <= row["kendall_tau"] <= row["kendall_high"] <= 1
        assert row["recommenders"] == 4 and row["resamples"] == 200 and 0 < row["users"] <= 200
    # progress: every cell and every real-side fit, counted up to the total
    assert [n[1] for n in notes] == list(range(1, 17)) and {n[2] for n in notes} == {16}
    assert ab.info["seeds"] == [cfg.seed, cfg.seed + 1] and ab.info["steps"] == 2


def test_real_side_is_the_runs_first_page(study) -> None:
    """The real side's top-10 of a deterministic recommender is what its run showed first."""
    cfg, ab, _ = study
    run_dir = (
        Path(ab.info["bench_dir"]) / "cells" / "ab-scenario" / "most_popular" / f"seed-{cfg.seed}"
    )
    episode = read_episode(run_dir, 10)
    world = build_world(cfg)
    first = episode.session_step == episode.session_step.min()  # the first step's sessions
    assert first.sum() > 10
    rec = build_recommender("most_popular", {}, child_rng(cfg.seed, "recommender"))
    rec.fit(world.train, world.catalog, n_users=world.population.n_users)
    top = rec.recommend(episode.session_user[first], 10)
    shown = episode.top[first]
    assert (shown[:, :5] >= 0).all()  # the first page (5 items) is always shown
    assert ((shown == top) | (shown < 0)).all()
    # and the real side scores exactly that list against the held-out items
    n_users = world.population.n_users
    values = real_metrics(
        world.train, world.heldout, world.catalog, n_users, "most_popular", {}, cfg.seed
    )
    held = pd.DataFrame({"user": world.heldout.user, "item": world.heldout.item})
    u = int(held["user"].iloc[0])
    rel = set(held.loc[held["user"] == u, "item"])
    ranked = rec.recommend(np.array([u]), 10)[0]
    assert values["recall@10"][u] == pytest.approx(len(rel & set(ranked)) / len(rel))
    # the study's real side (read from the runs' folders) is this, averaged over seeds then users
    per_seed = [values["recall@10"]]
    other = build_world(cfg, cfg.seed + 1)
    args = (other.train, other.heldout, other.catalog, n_users, "most_popular", {}, cfg.seed + 1)
    per_seed.append(real_metrics(*args)["recall@10"])
    expected = np.nanmean(np.nanmean(np.stack(per_seed), axis=0))
    assert ab.table.set_index("recommender").loc["most_popular", "real_recall@10"] == pytest.approx(
        expected
    )


def test_cli_fidelity_ab_end_to_end(tmp_path: Path) -> None:
    data = small_scenario(tmp_path).model_dump(mode="json")
    scen = tmp_path / "small.yaml"
    scen.write_text(yaml.safe_dump(data))
    args = ["fidelity", str(scen), "--ratio", "1:1", "--negatives", "uniform", "--steps", "0", "--ab",
            "--ab-seeds", "1", "--ab-steps", "1", "--ab-executor", "serial", "--out", str(tmp_path / "out"), "-q"]  # fmt: skip
    for name in ("random", "most_popular", "item_knn"):
        args += ["--ab-recommender", name]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "Kendall τ" in res.output and "most_popular" in res.output
    folder = tmp_path / "out" / "small-fidelity"
    table = pd.read_csv(folder / "ab.csv")
    assert list(table["recommender"]) == ["random", "most_popular", "item_knn"]
    agree = pd.read_csv(folder / "ab_agreement.csv")
    assert (
        set(agree["metric"]) == {"recall@10", "ndcg@10"}
        and agree["kendall_tau"].between(-1, 1).all()
    )
    md = (folder / "scorecard.md").read_text()
    assert "## A/B ranking" in md and "| random |" in md
    assert "A/B ranking" in (folder / "report.html").read_text()
    assert (folder / "ab-bench" / "leaderboard.csv").is_file()


def test_cli_unknown_ab_recommender_fails_before_any_work(tmp_path: Path) -> None:
    scen = tmp_path / "small.yaml"
    scen.write_text(yaml.safe_dump(small_scenario(tmp_path).model_dump(mode="json")))
    args = ["fidelity", str(scen), "--ab", "--ab-recommender", "random", "--ab-recommender", "most_popular",
            "--ab-recommender", "bogus", "--out", str(tmp_path / "out")]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "bogus" in res.output
    assert not (tmp_path / "out").exists()  # no scorecard folder was started
