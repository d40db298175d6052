"""`fragrisk sample` and its fragments files (engine.files.fragments_file): the HDF5 layout of
docs/fragments-file.md, the independent python-sgp4 round trip of the fitted elements, the OMM
file, and the refusals."""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from fragrisk import cli, engine
from fragrisk.engine import cloud as cloud_mod
from fragrisk.engine.cloud import sample_cloud
from fragrisk.engine.errors import InputError
from fragrisk.engine.files import fragments_file
from fragrisk.engine.orbits.elements import read_omm_file
from fragrisk.engine.scenario import load_scenario
from fragrisk.engine.timeutil import parse_utc
from sgp4 import omm as sgp4_omm
from sgp4.api import WGS72, Satrec, SatrecArray

SEED = 20211115  # the built-in scenario's
EVENT_EPOCH = "2021-11-15T02:47:00Z"
SGP4_EPOCH0_JD = 2433281.5  # sgp4init counts days from 1949-12-31 0h UT

FRAGMENT_VARIABLES = {
    # name: (dims, dtype kind, units); units None: a flag variable without units
    "realization": (("fragment",), "i", "1"),
    "status": (("fragment",), "i", None),
    "lc_m": (("fragment",), "f", "m"),
    "am_m2_kg": (("fragment",), "f", "m2/kg"),
    "area_m2": (("fragment",), "f", "m2"),
    "mass_kg": (("fragment",), "f", "kg"),
    "is_remnant": (("fragment",), "i", None),
    "dv_m_s": (("fragment", "xyz"), "f", "m/s"),
    "position_km": (("fragment", "xyz"), "f", "km"),
    "velocity_km_s": (("fragment", "xyz"), "f", "km/s"),
    "no_kozai": (("fragment",), "f", "rad/min"),
    "ecco": (("fragment",), "f", "1"),
    "inclo": (("fragment",), "f", "rad"),
    "nodeo": (("fragment",), "f", "rad"),
    "argpo": (("fragment",), "f", "rad"),
    "mo": (("fragment",), "f", "rad"),
    "bstar": (("fragment",), "f", "1/(6378.135 km)"),
}
ELEMENTS = ("no_kozai", "ecco", "inclo", "nodeo", "argpo", "mo")


def invoke(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)


def read_h5(path) -> tuple[dict, dict]:
    """(variables, global attributes) of a fragments file, read with h5py."""
    with h5py.File(path, "r") as f:
        data = {name: f[name][()] for name in FRAGMENT_VARIABLES}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return data, attrs


@pytest.fixture(scope="module")
def h5_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sample") / "frags.h5"
    result = invoke("sample", "--realizations", 3, "-o", path, "--device", "cpu")
    assert result.exit_code == 0, result.output
    return path, result.stdout


@pytest.fixture(scope="module")
def h5_data(h5_file):
    return read_h5(h5_file[0])


def python_sgp4_states(sats, jd, fr):
    """TEME r (km), v (km/s) of Satrec objects at the split Julian date (jd, fr), python-sgp4."""
    err, r, v = SatrecArray(sats).sgp4(np.array([jd]), np.array([fr]))
    assert not err.any(), f"python-sgp4 errors {np.unique(err)}"
    return r[:, 0], v[:, 0]


# --- the HDF5 file -------------------------------------------------------------------------------
def test_summary_line(h5_file, h5_data):
    path, stdout = h5_file
    data, _ = h5_data
    status = data["status"]
    n, kept = status.size, int((status == 0).sum())
    assert stdout.count("\n") == 1
    assert stdout.startswith(f"wrote {path} (all, HDF5): 3 realizations of cosmos1408, seed {SEED}")
    assert f"{n:,} fragments sampled, {kept:,} kept, {int((status == 1).sum()):,} sub-orbital (" in stdout
    assert f"{int((status == 4).sum()):,} deep space" in stdout and "fit failed" in stdout


def test_h5_has_every_variable_with_units_and_opens_warning_free(h5_file):
    import xarray as xr

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with xr.open_dataset(h5_file[0], engine="h5netcdf") as ds:
            ds.load()
    assert set(ds.data_vars) == set(FRAGMENT_VARIABLES)
    assert dict(ds.sizes)["xyz"] == 3 and ds.sizes["fragment"] > 4000
    for name, (dims, kind, units) in FRAGMENT_VARIABLES.items():
        var = ds[name]
        assert var.dims == dims, name
        assert var.dtype.kind == kind, name
        if kind == "f":
            assert var.dtype == np.float64, name
        assert var.attrs.get("units") == units, name
        assert var.attrs.get("long_name"), name
    assert list(ds["status"].attrs["flag_values"]) == [0, 1, 2, 3, 4]
    assert ds["status"].attrs["flag_meanings"] == cloud_mod.STATUS_MEANINGS
    assert ds["status"].dtype == np.int8
    a = ds.attrs
    assert a["event_epoch"] == EVENT_EPOCH and a["source"] == f"fragrisk {engine.__version__}"
    assert (a["seed"], a["n_realizations"], a["device"]) == (SEED, 3, "cpu")
    assert (a["am_sampling"], a["mass_policy"], a["event_type"]) == ("mixture", "remnants", "collision")
    # The built-in is the calibrated scenario: its knobs are attributes too (engine/data).
    assert (a["drag_coefficient"], a["drag_scale"], a["lc_min_m"]) == (2.2, 0.0632, 0.1)
    assert (a["dv_scale"], a["dv_sigma_log10"], a["fragmenting_mass_kg"]) == (0.5156, 0.2406, 2693.0)
    assert (a["cloud_dv_radial_m_s"], a["cloud_dv_cross_track_m_s"]) == (35.77, 9.505)
    assert "realizations = 3" in a["scenario"] and f"seed = {SEED}" in a["scenario"]
    assert "fragrisk sample" in a["history"]


def test_h5_holds_the_sampled_cloud_with_nan_elements_where_not_kept(h5_data):
    data, attrs = h5_data
    cloud = sample_cloud(load_scenario("cosmos1408"), np.arange(3), "cpu")
    f = cloud.fragments
    np.testing.assert_array_equal(data["realization"], f.realization)
    assert set(np.unique(data["realization"])) == {0, 1, 2}
    np.testing.assert_array_equal(data["status"], cloud.status)
    for name in ("lc_m", "am_m2_kg", "area_m2", "mass_kg", "dv_m_s"):
        np.testing.assert_array_equal(data[name], getattr(f, name), err_msg=name)
    np.testing.assert_array_equal(data["is_remnant"], f.is_remnant.astype(np.int8))
    assert data["is_remnant"].sum() > 0
    np.testing.assert_array_equal(data["position_km"], cloud.position_km)
    np.testing.assert_array_equal(data["velocity_km_s"], cloud.velocity_km_s)
    kept = data["status"] == 0
    assert 0 < kept.sum() < kept.size
    for name in ELEMENTS:
        assert np.isnan(data[name][~kept]).all(), name
        assert np.isfinite(data[name][kept]).all(), name
    # B* from A/m alone, for every fragment (docs/breakup-model.md §8, Cd 2.2, the file's k).
    np.testing.assert_allclose(data["bstar"], attrs["drag_scale"] * 2.2 * data["am_m2_kg"]
                               * 0.15696615 / 2.0, rtol=1e-14)
    # Every fragment leaves the parent's position; states are 3-vectors in km near LEO.
    assert np.ptp(data["position_km"], axis=0).max() == 0.0
    assert 6700.0 < np.linalg.norm(data["position_km"][0]) < 7300.0
    counts = np.bincount(data["status"], minlength=5)
    assert [attrs[f"n_{m}"] for m in cloud_mod.STATUS_MEANINGS.split()] == list(counts)


def test_kept_elements_reproduce_the_states_through_python_sgp4(h5_data):
    """The independent check of the fit: python-sgp4's own sgp4init of each kept fragment's elements
    (WGS-72, 'i', epoch = the file's event epoch) gives position_km / velocity_km_s at t = 0
    within 1 m and 1 mm/s -- for all kept fragments of the 3 realizations."""
    data, attrs = h5_data
    jd, fr = parse_utc(attrs["event_epoch"])
    kept = np.flatnonzero(data["status"] == 0)
    assert kept.size > 4000
    sats = []
    for i in kept:
        sat = Satrec()
        sat.sgp4init(WGS72, "i", 1, (jd - SGP4_EPOCH0_JD) + fr, data["bstar"][i], 0.0, 0.0,
                     data["ecco"][i], data["argpo"][i], data["inclo"][i], data["mo"][i],
                     data["no_kozai"][i], data["nodeo"][i])
        assert sat.error == 0
        sats.append(sat)
    r, v = python_sgp4_states(sats, jd, fr)
    dr_m = np.linalg.norm(r - data["position_km"][kept], axis=1) * 1e3
    dv_mm_s = np.linalg.norm(v - data["velocity_km_s"][kept], axis=1) * 1e6
    assert dr_m.max() < 1.0, dr_m.max()
    assert dv_mm_s.max() < 1.0, dv_mm_s.max()
    # And the elements are SGP4 mean elements, not the osculating ones (those miss by km).
    from fragrisk.engine.physics.fit import classical_from_equinoctial, equinoctial_from_state

    eq, _ = equinoctial_from_state(data["position_km"][kept], data["velocity_km_s"][kept])
    osc = classical_from_equinoctial(eq)
    assert np.abs(osc["no_kozai"] - data["no_kozai"][kept]).max() > 1e-6


def test_status_fractions_of_the_plain_model():
    cloud = sample_cloud(load_scenario("cosmos1408-sbm"), np.arange(10), "cpu")
    frac = np.bincount(cloud.status, minlength=5) / cloud.status.size
    kept, sub_orbital, hyperbolic, failed, deep = frac
    assert 0.13 <= sub_orbital <= 0.17, frac
    assert hyperbolic < 0.002 and failed < 0.001 and deep < 0.01, frac
    assert kept > 0.8, frac


def test_same_seed_gives_the_same_file(h5_file, h5_data, tmp_path):
    again = tmp_path / "again.h5"
    result = invoke("sample", "--realizations", 3, "-o", again, "--device", "cpu")
    assert result.exit_code == 0, result.output
    (d1, a1), (d2, a2) = h5_data, read_h5(again)
    for name in FRAGMENT_VARIABLES:
        np.testing.assert_array_equal(d1[name], d2[name], err_msg=name)
    a1 = {k: v for k, v in a1.items() if k != "history"}
    a2 = {k: v for k, v in a2.items() if k != "history"}
    assert a1.keys() == a2.keys()
    for k in a1:
        assert np.array_equal(a1[k], a2[k]), k
    # ... and another seed gives another cloud (the comparison above can fail).
    other = tmp_path / "other.h5"
    assert invoke("sample", "--realizations", 3, "-o", other, "--seed", 7).exit_code == 0
    d3, a3 = read_h5(other)
    assert a3["seed"] == 7 and "seed = 7" in a3["scenario"]
    assert d3["lc_m"].shape != d1["lc_m"].shape or not np.array_equal(d3["lc_m"], d1["lc_m"])


# --- the OMM file --------------------------------------------------------------------------------
def test_omm_round_trip(h5_data, tmp_path):
    """The kept fragments as OMM XML: engine.orbits.elements reads back the same elements, and
    python-sgp4's sgp4.omm propagates every one to its fitted state at the event epoch (1 m)."""
    data, attrs = h5_data
    path = tmp_path / "frags.xml"
    result = invoke("sample", "--realizations", 3, "-o", path)  # --format omm from .xml
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {path} (the ")
    kept = np.flatnonzero(data["status"] == 0)
    # OBJECT_NAME "COSMOS 1408 DEB R<r> F<i>": i counts realization r's fragments in the h5 file.
    index = fragments_file.fragment_index_in_realization(data["realization"])
    row_of = {(int(data["realization"][i]), int(index[i])): i for i in range(index.size)}

    el = read_omm_file(path)
    assert len(el) == kept.size
    np.testing.assert_array_equal(el.satnum, 100000 + np.arange(kept.size))
    assert el.satnum.max() <= 339999
    rows = []
    for name in el.name:
        head, r, f = name.rsplit(" ", 2)
        assert head == "COSMOS 1408 DEB" and r[0] == "R" and f[0] == "F"
        rows.append(row_of[int(r[1:]), int(f[1:])])
    np.testing.assert_array_equal(rows, kept)
    jd, fr = parse_utc(attrs["event_epoch"])
    assert (el.epoch_jd == jd).all() and (el.epoch_fr == fr).all()
    for name in ELEMENTS:
        np.testing.assert_allclose(getattr(el, name), data[name][kept], rtol=1e-15, atol=0, err_msg=name)
    np.testing.assert_array_equal(el.bstar, data["bstar"][kept])
    r, v = python_sgp4_states(el.to_satrecs(), jd, fr)
    assert np.abs(r - data["position_km"][kept]).max() < 1e-3
    assert np.abs(v - data["velocity_km_s"][kept]).max() < 1e-6

    # python-sgp4's own OMM reader, on every segment.
    with open(path) as fh:
        records = list(sgp4_omm.parse_xml(fh))
    assert len(records) == kept.size
    sats = []
    for rec in records:
        assert (rec["MEAN_ELEMENT_THEORY"], rec["REF_FRAME"], rec["TIME_SYSTEM"],
                rec["CENTER_NAME"]) == ("SGP4", "TEME", "UTC", "EARTH")
        assert rec["EPOCH"] == "2021-11-15T02:47:00.000000"
        sat = Satrec()
        sgp4_omm.initialize(sat, rec)
        sats.append(sat)
    r, v = python_sgp4_states(sats, jd, fr)
    assert np.linalg.norm(r - data["position_km"][kept], axis=1).max() < 1e-3
    assert np.linalg.norm(v - data["velocity_km_s"][kept], axis=1).max() < 1e-6


def test_omm_refuses_more_fragments_than_catalog_numbers(tmp_path, monkeypatch):
    s = load_scenario("cosmos1408")
    cloud = sample_cloud(s, np.arange(1), "cpu")
    monkeypatch.setattr(fragments_file, "OMM_MAX_FRAGMENTS", 10)
    path = tmp_path / "x.xml"
    with pytest.raises(InputError, match=r"kept fragments do not fit .* synthetic catalog numbers"):
        fragments_file.write_fragments_omm(path, cloud, s)
    assert list(tmp_path.iterdir()) == []


# --- refusals and atomicity ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["out.h5", "out.xml"])
def test_existing_output_is_refused_without_overwrite(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"precious")
    result = invoke("sample", "--realizations", 1, "-o", path)
    assert result.exit_code == 2
    assert result.stderr == f"error: {path}: exists; use --overwrite to replace it\n"
    assert path.read_bytes() == b"precious" and len(list(tmp_path.iterdir())) == 1
    result = invoke("sample", "--realizations", 1, "-o", path, "--overwrite")
    assert result.exit_code == 0, result.output
    assert path.read_bytes() != b"precious"


def test_population_scenario_is_refused(tmp_path):
    tle = (Path(cli.__file__).parent / "engine" / "data" / "iss_2021-11-15.tle").read_text()
    path = tmp_path / "pop.toml"
    path.write_text(f'[population]\ntle = """{tle.strip()}"""\n[[targets]]\nname = "ISS"\n'
                    f'tle = """{tle.strip()}"""\nhard_body_radius_m = 66.1\n[analysis]\n'
                    f'start = "2021-11-16T00:00:00Z"\nduration_days = 1\n')
    out = tmp_path / "x.h5"
    result = invoke("sample", path, "--realizations", 1, "-o", out)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {path}: a [population] scenario has no breakup to sample")
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--format", "csv"], "Invalid value for '--format'"),
    (["--realizations", "0"], "--realizations: expected an integer >= 1"),
    (["--realizations", "x"], "Invalid value for '--realizations'"),
])
def test_bad_options_are_refused(tmp_path, args, message):
    out = tmp_path / "x.h5"
    argv = ["sample", "-o", out, *args]
    if "--realizations" not in args:
        argv += ["--realizations", "1"]
    result = invoke(*argv)
    assert result.exit_code == 2 and message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_realizations_is_required(tmp_path):
    result = invoke("sample", "-o", tmp_path / "x.h5")
    assert result.exit_code == 2 and "Missing option '--realizations'" in result.stderr


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    from fragrisk.engine.files import h5io

    s = load_scenario("cosmos1408")
    cloud = sample_cloud(s, np.arange(1), "cpu")
    real_variable = h5io.NetCDFDimensions.variable

    def failing(self, name, *args, **kw):
        if name == "bstar":
            raise RuntimeError("disk on fire")
        return real_variable(self, name, *args, **kw)

    monkeypatch.setattr(h5io.NetCDFDimensions, "variable", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        fragments_file.write_fragments_h5(tmp_path / "x.h5", cloud, s)
    assert list(tmp_path.iterdir()) == []


def test_fragment_index_in_realization():
    got = fragments_file.fragment_index_in_realization(np.array([0, 0, 0, 2, 2, 5]))
    np.testing.assert_array_equal(got, [0, 1, 2, 0, 1, 0])
    assert fragments_file.fragment_index_in_realization(np.array([], dtype=np.int64)).size == 0


@pytest.mark.gpu
def test_gpu_fit_gives_the_same_fragments_and_valid_elements(h5_data, tmp_path):
    data, attrs = h5_data
    path = tmp_path / "gpu.h5"
    result = invoke("sample", "--realizations", 3, "-o", path, "--device", "gpu")
    assert result.exit_code == 0, result.output
    g, ga = read_h5(path)
    assert ga["device"] == "gpu"
    for name in ("realization", "lc_m", "am_m2_kg", "dv_m_s", "position_km", "velocity_km_s", "bstar"):
        np.testing.assert_array_equal(g[name], data[name], err_msg=name)
    np.testing.assert_array_equal(g["status"], data["status"])
    kept = np.flatnonzero(g["status"] == 0)
    jd, fr = parse_utc(ga["event_epoch"])
    sats = []
    for i in kept:
        sat = Satrec()
        sat.sgp4init(WGS72, "i", 1, (jd - SGP4_EPOCH0_JD) + fr, g["bstar"][i], 0.0, 0.0, g["ecco"][i],
                     g["argpo"][i], g["inclo"][i], g["mo"][i], g["no_kozai"][i], g["nodeo"][i])
        sats.append(sat)
    r, v = python_sgp4_states(sats, jd, fr)
    assert np.linalg.norm(r - g["position_km"][kept], axis=1).max() < 1e-3
    assert np.linalg.norm(v - g["velocity_km_s"][kept], axis=1).max() < 1e-6
