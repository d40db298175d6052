"""[[targets]] entries that name a catalog: filters, the radius rule, names, NORAD numbers and
groups through a run into the results file."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fragrisk import cli
from fragrisk.engine.errors import InputError
from fragrisk.engine.orbits import catalog
from fragrisk.engine.orbits.elements import parse_tle
from fragrisk.engine.results.read import read_results
from fragrisk.engine.scenario import load_scenario

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "catalog_2022-01-22_sample.tle"
ENGINE_DATA = Path(__file__).parents[1] / "engine" / "data"


def write_scenario(folder: Path, target_lines: str, *, duration_days=0.01) -> Path:
    path = folder / "cat.toml"
    path.write_text(f'''name = "catalog-targets"
[population]
tle_file = "{ENGINE_DATA / "cosmos1408_debris_2022-01-11_half.tle"}"
[[targets]]
{target_lines}
[analysis]
start = "2022-01-20T00:00:00Z"
duration_days = {duration_days}
step_s = 60
max_epoch_gap_days = 30
''')
    return path


def sample_elements():
    return parse_tle(SAMPLE.read_text(), "s", skip_unstartable=True)


@pytest.mark.parametrize("name,group", [("STARLINK-1007", "STARLINK"), ("FLOCK 4P-1", "FLOCK"),
                                        ("ONEWEB-0012", "ONEWEB"), ("ISS (ZARYA)", "ISS"),
                                        ("SL-8 R/B", "SL"), ("1998-067A", "OTHER"),
                                        ("  lemur-2-jeroen ", "LEMUR")])
def test_group_is_the_names_family(name, group):
    assert catalog.group_of(name) == group


def test_filters_select_by_name_norad_and_altitude():
    el = sample_elements()
    starlink = catalog.select(el, name_pattern="starlink*")
    assert starlink.sum() == 10 and all(el.name[i].startswith("STARLINK") for i in np.flatnonzero(starlink))
    analyst = catalog.select(el, norad_min=270000, norad_max=279999)
    assert analyst.sum() == 5 and all(el.name[i] == "TBA - TO BE ASSIGNED" for i in np.flatnonzero(analyst))
    band = catalog.select(el, altitude_min_km=400, altitude_max_km=600)
    expect = (el.apogee_km >= 400) & (el.perigee_km <= 600)
    np.testing.assert_array_equal(band, expect)
    assert 0 < band.sum() < len(el)


def test_catalog_entry_makes_one_target_per_object(tmp_path):
    path = write_scenario(tmp_path, f'''tle_file = "{SAMPLE}"
altitude_max_km = 2000
hard_body_radius_m = 2.0
hard_body_radius_by_group = {{ STARLINK = 5.0 }}''')
    s = load_scenario(path)
    el = sample_elements()
    in_leo = int((el.perigee_km <= 2000).sum())
    assert 0 < len(s.targets) <= in_leo
    names = [t.name for t in s.targets]
    assert len(set(names)) == len(names)
    assert any(n.startswith("TBA - TO BE ASSIGNED (27") for n in names)   # made unique
    for t in s.targets:
        assert t.hard_body_radius_m == (5.0 if t.group == "STARLINK" else 2.0)
        assert t.group == catalog.group_of(t.elements.name[0])
    assert any("left out" in w for w in s.warnings) or len(s.targets) == in_leo


def test_catalog_entry_messages(tmp_path):
    with pytest.raises(InputError, match=r"no object of the 82 in the file passes the filters"):
        load_scenario(write_scenario(tmp_path, f'tle_file = "{SAMPLE}"\nname_pattern = "NOPE*"\n'
                                                'hard_body_radius_m = 1'))
    with pytest.raises(InputError, match=r"hard_body_radius_by_group\.FLOCK = -1: expected a radius > 0 m"):
        load_scenario(write_scenario(tmp_path, f'tle_file = "{SAMPLE}"\nhard_body_radius_m = 1\n'
                                                'hard_body_radius_by_group = { FLOCK = -1 }'))
    with pytest.raises(InputError, match=r"\[\[targets\]\] #1 name = \"X\": expected no name in a catalog entry"):
        load_scenario(write_scenario(tmp_path, f'tle_file = "{SAMPLE}"\nname = "X"\nname_pattern = "STARLINK*"\n'
                                                'hard_body_radius_m = 1'))


def test_run_writes_names_norad_and_groups(tmp_path):
    path = write_scenario(tmp_path, f'''tle_file = "{SAMPLE}"
altitude_min_km = 300
altitude_max_km = 1500
hard_body_radius_m = 2.0''')
    s = load_scenario(path)
    out = tmp_path / "r.h5"
    result = CliRunner().invoke(cli.cli, ["run", str(path), "--device", "cpu", "-o", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    r = read_results(out)
    assert r.target_names.tolist() == [t.name for t in s.targets]
    assert r.target_norad.tolist() == [t.norad for t in s.targets]
    assert r.target_group.tolist() == [t.group for t in s.targets]
    assert "STARLINK" in r.target_group.tolist()


def test_screened_run_gives_the_all_pairs_results_and_counts_conjunctions(tmp_path):
    """The same scenario through the grid screen and through the all-pairs estimator: the same
    expected collisions (per target, time and size bin) and encounter table; the grid's run also
    counts conjunctions, one per encounter below the kernel radius at most."""
    targets = f'''tle_file = "{SAMPLE}"
altitude_min_km = 350
altitude_max_km = 700
hard_body_radius_m = 20.0'''
    out = {}
    for screen in ("grid", "all-pairs"):
        path = write_scenario(tmp_path, targets, duration_days=0.25)
        text = path.read_text().replace("max_epoch_gap_days = 30",
                                        f'max_epoch_gap_days = 30\nscreen = "{screen}"\n'
                                        f"conjunction_thresholds_km = [1, 5, 10]" if screen == "grid"
                                        else f'max_epoch_gap_days = 30\nscreen = "{screen}"')
        path.write_text(text)
        out[screen] = tmp_path / f"{screen}.h5"
        result = CliRunner().invoke(cli.cli, ["run", str(path), "--device", "cpu", "-o", str(out[screen])],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
    grid, pairs = read_results(out["grid"]), read_results(out["all-pairs"])
    assert pairs.conjunctions is None and grid.conjunctions is not None
    assert grid.expected_collisions.sum() > 0
    # Sums of the same chords in another order: 1e-12 relative.
    np.testing.assert_allclose(grid.expected_collisions_by_time, pairs.expected_collisions_by_time,
                               rtol=1e-12, atol=1e-30)
    np.testing.assert_allclose(grid.expected_collisions_by_size, pairs.expected_collisions_by_size,
                               rtol=1e-12, atol=1e-30)
    np.testing.assert_array_equal(grid.fragments_in_orbit, pairs.fragments_in_orbit)
    assert len(grid.encounters) == len(pairs.encounters)
    np.testing.assert_allclose(grid.encounters.miss_km, pairs.encounters.miss_km, rtol=0, atol=1e-9)
    counts = grid.conjunctions.sum(axis=(1, 2))                # (K, C)
    assert (np.diff(counts, axis=1) >= 0).all() and counts[:, -1].sum() > 0
    # Each conjunction below 10 km is a minimum inside a 10 km kernel sphere: a passage's.
    per_target = np.bincount(grid.encounters.target, minlength=grid.n_targets)
    assert (counts[:, -1] <= per_target + 1).all()
