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
    with pytest.raises(InputError, match=r"\[\[targets\]\] #1.*name"):
        load_scenario(write_scenario(tmp_path, f'tle_file = "{SAMPLE}"\nname = "X"\n'
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
