"""fragrisk rank: the ranking, its JSON keys, groups, CSV, the squall calendar and the figures;
and the conjunction variables through write, read and merge."""

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner
from fragrisk import cli
from fragrisk.engine.errors import InputError
from fragrisk.engine.plots_rank import squall_calendar_figure, top_targets_figure
from fragrisk.engine.results import merge_files, read_results, write_results
from fragrisk.engine.results import rank as ranking

from test_results import make_results, shard

THRESHOLDS = np.array([1.0, 5.0, 10.0])


def with_conjunctions(r, days=3, seed=5):
    """r with target NORAD numbers, groups and random (consistent) conjunction counts."""
    rng = np.random.default_rng(seed)
    K, R = r.n_targets, r.n_realizations_held
    within10 = rng.integers(0, 30, size=(K, R, days))
    within5 = rng.binomial(within10, 0.4)
    within1 = rng.binomial(within5, 0.2)
    counts = np.stack([within1, within5, within10], axis=-1).astype(np.int64)
    groups = np.array(["FLOCK", "STARLINK", "FLOCK", "ISS"][:K] + ["OTHER"] * max(0, K - 4))
    return dataclasses.replace(r, target_norad=np.arange(K, dtype=np.int64) + 40000,
                               target_group=groups, conjunction_thresholds_km=THRESHOLDS,
                               conjunction_days=np.arange(days, dtype=np.float64), conjunctions=counts)


@pytest.fixture()
def results(tmp_path):
    r = with_conjunctions(make_results(n=12, K=4))
    path = tmp_path / "r.h5"
    write_results(path, r)
    return r, path


def test_conjunction_variables_survive_write_read_and_merge(results, tmp_path):
    r, path = results
    back = read_results(path)
    for f in ("target_norad", "target_group", "conjunction_thresholds_km", "conjunction_days", "conjunctions"):
        np.testing.assert_array_equal(getattr(back, f), getattr(r, f))
    parts = []
    for k, idx in enumerate((np.arange(0, 5), np.arange(5, 12))):
        p = tmp_path / f"s{k}.h5"
        part = shard(r, idx)
        write_results(p, dataclasses.replace(part, target_norad=r.target_norad, target_group=r.target_group,
                                             conjunction_thresholds_km=THRESHOLDS,
                                             conjunction_days=r.conjunction_days,
                                             conjunctions=r.conjunctions[:, idx]))
        parts.append(p)
    merged = merge_files(parts, tmp_path / "m.h5")
    np.testing.assert_array_equal(read_results(merged).conjunctions, r.conjunctions)


def test_ranking_by_expected_and_by_conjunctions(results):
    r, _ = results
    rows = ranking.target_table(r)
    lam = r.expected_collisions.mean(axis=1)
    assert [row["name"] for row in rows] == [r.target_names[k] for k in np.argsort(-lam, kind="stable")]
    for row in rows:
        k = r.target_names.tolist().index(row["name"])
        assert row["norad"] == 40000 + k and row["group"] == r.target_group[k]
        assert row["expected_collisions_p05"] <= row["expected_collisions"] or \
            row["expected_collisions"] <= row["expected_collisions_p95"]
        assert row["conjunctions"]["10"] == pytest.approx(r.conjunctions[k, :, :, 2].sum(axis=1).mean())
    by_conj = ranking.target_table(r, by="conjunctions")
    tens = [row["conjunctions"]["10"] for row in by_conj]
    assert tens == sorted(tens, reverse=True)
    groups = ranking.target_table(r, group=True)
    flock = next(g for g in groups if g["name"] == "FLOCK")
    assert flock["targets"] == 2 and flock["norad"] is None
    assert flock["expected_collisions"] == pytest.approx(lam[[0, 2]].sum())
    total = ranking.conjunction_totals(r)
    assert set(total) == {"1", "5", "10"}
    assert total["10"] == pytest.approx(r.conjunctions[..., 2].sum(axis=(0, 2)).mean())


def test_squall_calendar_sums_groups_per_day(results):
    r, _ = results
    days, groups, counts = ranking.squall_calendar(r)
    assert groups == sorted(set(r.target_group.tolist())) and days.tolist() == [0.0, 1.0, 2.0]
    g = groups.index("FLOCK")
    np.testing.assert_allclose(counts[g], r.conjunctions[[0, 2], :, :, 2].mean(axis=1).sum(axis=0))
    np.testing.assert_allclose(ranking.squall_calendar(r, 5.0)[2].sum(),
                               r.conjunctions[..., 1].mean(axis=1).sum())
    with pytest.raises(InputError, match="counts below 1, 5, 10 km only"):
        ranking.squall_calendar(r, 2.0)


def test_rank_command_json_csv_and_figures(results, tmp_path):
    r, path = results
    csv_path, plots = tmp_path / "rank.csv", tmp_path / "plots"
    out = CliRunner().invoke(cli.cli, ["rank", str(path), "--top", "2", "--json", "--csv", str(csv_path),
                                       "--plots", str(plots)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert set(doc["conjunctions"]) == {"1", "5", "10"} and len(doc["targets"]) == 2
    assert {"name", "norad", "group", "expected_collisions", "conjunctions"} <= set(doc["targets"][0])
    assert doc["targets"][0]["expected_collisions"] >= doc["targets"][1]["expected_collisions"]
    lines = csv_path.read_text().splitlines()
    assert lines[0].endswith("conjunctions_1km,conjunctions_5km,conjunctions_10km") and len(lines) == 5
    assert (plots / "top_targets.png").stat().st_size > 1000
    assert (plots / "squall_calendar.png").stat().st_size > 1000
    text = CliRunner().invoke(cli.cli, ["rank", str(path), "--group"], catch_exceptions=False).output
    assert "FLOCK" in text and "squall calendar" in text


def test_rank_without_counts(tmp_path):
    r = make_results(n=6, K=2)
    path = tmp_path / "old.h5"
    write_results(path, r)
    doc = json.loads(CliRunner().invoke(cli.cli, ["rank", str(path), "--json"], catch_exceptions=False).output)
    assert doc["conjunctions"] == {} and doc["targets"][0]["norad"] is None
    out = CliRunner().invoke(cli.cli, ["rank", str(path), "--by", "conjunctions"])
    assert out.exit_code != 0 and "no conjunction counts" in out.output
    top_targets_figure(r)
    with pytest.raises(InputError):
        squall_calendar_figure(r)
