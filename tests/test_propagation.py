"""engine.orbits.propagation.propagate_elements, the ephemeris file, and `fragrisk propagate`.

References are independent of the code under test: python-sgp4's ``Satrec.twoline2rv`` made
from the TLE text itself, propagated at split Julian dates.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from fragrisk import cli, engine
from fragrisk.engine.orbits import propagation
from fragrisk.engine.orbits.elements import ElementSet, load_elements, parse_tle
from fragrisk.engine.orbits.propagation import Ephemeris, offset_minutes, propagate_elements
from fragrisk.engine.timeutil import minutes_between, parse_utc
from sgp4.api import Satrec

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "engine" / "data"
ISS_FILE = DATA / "iss_2021-11-15.tle"
COSMOS_FILE = DATA / "cosmos1408_2021-11-15.tle"
START = "2021-11-15T02:47:00Z"
TOL_KM = 1e-6


def tle_line(body: str) -> str:
    """Complete a 68-column TLE line with its modulo-10 checksum (digits count their value,
    minus signs count 1, everything else 0)."""
    assert len(body) == 68, (len(body), body)
    total = sum(int(c) if c.isdigit() else (1 if c == "-" else 0) for c in body)
    return body + str(total % 10)


# A GPS satellite (12-hour orbit) and a geostationary one: both deep-space (period >= 225 min).
GPS_TLE = ("GPS TEST\n"
           + tle_line("1 24876U 97035A   21318.50000000 -.00000038  00000-0  00000+0 0  999") + "\n"
           + tle_line("2 24876  55.4400 100.1234 0045000  60.0000 300.5000  2.0056200017800"))
GEO_TLE = ("GEO TEST\n"
           + tle_line("1 28884U 05041A   21318.75000000 -.00000250  00000-0  00000+0 0  999") + "\n"
           + tle_line("2 28884   0.0300  85.0000 0002500 270.0000  45.0000  1.0027100005800"))


def test_tle_line_checksum_helper_is_right():
    # The ISS line of engine/data ends in its published checksum 6.
    iss1 = ISS_FILE.read_text().splitlines()[1]
    assert tle_line(iss1[:68]) == iss1
    assert GPS_TLE.splitlines()[1][-1] == "2" and len(GPS_TLE.splitlines()[2]) == 69


def reference(text: str, start_jd: float, start_fr: float, times_min: np.ndarray):
    """python-sgp4 from the TLE text: (n, m, 3) r and v, (n, m) error."""
    lines = [x for x in text.splitlines() if x[:2] in ("1 ", "2 ")]
    jd = np.full(times_min.shape, start_jd)
    fr = start_fr + times_min / 1440.0
    rs, vs, es = [], [], []
    for l1, l2 in zip(lines[0::2], lines[1::2]):
        sat = Satrec.twoline2rv(l1, l2)
        e, r, v = sat.sgp4_array(jd, fr)
        rs.append(r), vs.append(v), es.append(e)
    return np.array(rs), np.array(vs), np.array(es)


def max_dr(a, b):
    return float(np.max(np.linalg.norm(a - b, axis=-1)))


# --- the engine ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [ISS_FILE, COSMOS_FILE], ids=["ISS", "COSMOS-1408"])
def test_cpu_path_equals_python_sgp4(path):
    text = path.read_text()
    el = load_elements(path)
    start_jd, start_fr = parse_utc(START)
    t = np.arange(0.0, 3 * 1440.0 + 1e-9, 0.5)  # 3 days every 30 s; starts before the ISS epoch
    eph = propagate_elements(el, start_jd, start_fr, t, device="cpu")
    r, v, e = reference(text, start_jd, start_fr, t)
    assert eph.r_km.shape == (1, t.size, 3) and eph.error.dtype == np.int8
    assert not eph.deep_space.any() and eph.notes == ()
    assert max_dr(eph.r_km, r) < TOL_KM
    assert max_dr(eph.v_km_s, v) < TOL_KM * 1e-3
    np.testing.assert_array_equal(eph.error, e)
    assert eph.n_errors == 0


def test_deep_space_objects_go_to_python_sgp4_and_merge_in_place():
    iss, cosmos = ISS_FILE.read_text(), COSMOS_FILE.read_text()
    text = "\n".join([iss.strip(), GPS_TLE, cosmos.strip(), GEO_TLE])
    el = parse_tle(text, "mix.tle")
    start_jd, start_fr = parse_utc(START)
    t = np.arange(0.0, 2 * 1440.0 + 1e-9, 10.0)
    eph = propagate_elements(el, start_jd, start_fr, t)
    np.testing.assert_array_equal(eph.deep_space, [False, True, False, True])
    assert eph.notes == ("2 deep-space objects propagated by python-sgp4 on the CPU",)
    r, v, e = reference(text, start_jd, start_fr, t)
    assert max_dr(eph.r_km, r) < TOL_KM
    assert max_dr(eph.v_km_s, v) < TOL_KM * 1e-3
    np.testing.assert_array_equal(eph.error, e)
    # the GPS orbit is really a GPS orbit (26,560 km), the GEO one geostationary (42,164 km)
    np.testing.assert_allclose(np.linalg.norm(eph.r_km[1], axis=-1).mean(), 26560, rtol=0.01)
    np.testing.assert_allclose(np.linalg.norm(eph.r_km[3], axis=-1).mean(), 42164, rtol=0.01)

    one = propagate_elements(parse_tle(GPS_TLE, "gps.tle"), start_jd, start_fr, t)
    assert one.notes == ("1 deep-space object propagated by python-sgp4 on the CPU",)


def test_offsets_are_taken_in_split_form():
    el = load_elements(COSMOS_FILE)
    start_jd, start_fr = 2459533.5, 0.1159722222222222  # 2021-11-15T02:47:00
    exact = (Fraction(start_jd) - Fraction(float(el.epoch_jd[0]))
             + Fraction(start_fr) - Fraction(float(el.epoch_fr[0]))) * 1440
    got = offset_minutes(el, start_jd, start_fr)[0]
    assert got == minutes_between(start_jd, start_fr, el.epoch_jd[0], el.epoch_fr[0])
    assert abs(got - float(exact)) < 1e-10
    # (jd + fr) - (jd0 + fr0) loses ~40 µs of resolution: this test can tell the difference.
    naive = ((start_jd + start_fr) - (el.epoch_jd[0] + el.epoch_fr[0])) * 1440
    assert abs(naive - float(exact)) > 1e-9


def random_leo(n: int, seed: int = 7) -> ElementSet:
    """n LEO element sets with epochs spread over a day, like a debris cloud."""
    rng = np.random.default_rng(seed)
    perigee_km = rng.uniform(300.0, 1500.0, n)
    ecco = rng.uniform(0.0, 0.05, n)
    a_km = (6378.135 + perigee_km) / (1.0 - ecco)
    epoch_fr = rng.uniform(0.0, 1.0, n)
    return ElementSet(satnum=np.arange(n) + 90000, name=[f"OBJ {i}" for i in range(n)],
                      epoch_jd=np.full(n, 2459532.5), epoch_fr=epoch_fr,
                      no_kozai=np.sqrt(398600.8 / a_km**3) * 60.0, ecco=ecco,
                      inclo=rng.uniform(0.0, np.pi, n), nodeo=rng.uniform(0, 2 * np.pi, n),
                      argpo=rng.uniform(0, 2 * np.pi, n), mo=rng.uniform(0, 2 * np.pi, n),
                      bstar=rng.uniform(0.0, 1e-3, n), source="random")


def test_chunks_and_progress_do_not_change_the_result(monkeypatch):
    el = random_leo(40)
    start_jd, start_fr = parse_utc(START)
    t = np.arange(0.0, 600.0, 7.0)
    whole = propagate_elements(el, start_jd, start_fr, t)
    calls = []
    monkeypatch.setattr(propagation, "CPU_CHUNK_ELEMENTS", 7 * t.size)  # 7 objects a chunk
    chunked = propagate_elements(el, start_jd, start_fr, t,
                                 on_progress=lambda d, n: calls.append((d, n)))
    assert calls == [(min(d, 40), 40) for d in range(7, 47, 7)]
    for a, b in ((whole.r_km, chunked.r_km), (whole.v_km_s, chunked.v_km_s),
                 (whole.error, chunked.error)):
        np.testing.assert_array_equal(a, b)


def test_bad_times_and_devices():
    el = load_elements(ISS_FILE)
    with pytest.raises(ValueError, match="shape"):
        propagate_elements(el, 2459533.5, 0.0, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        propagate_elements(el, 2459533.5, 0.0, [0.0, np.nan])
    eph = propagate_elements(el, 2459533.5, 0.0, np.zeros(0))
    assert eph.r_km.shape == (1, 0, 3)


def test_gpu_chunk_size_keeps_a_quarter_of_free_memory():
    m = 1441
    per_object = m * 49 + 8 * (34 + 8)
    assert propagation.gpu_chunk_objects(4 * per_object * 1000, m) == 1000
    assert propagation.gpu_chunk_objects(0, m) == 1


@pytest.mark.gpu
@pytest.mark.parametrize("chunk_objects", [None, 13], ids=["one-chunk", "chunks-of-13"])
def test_gpu_path_equals_cpu_path(monkeypatch, chunk_objects):
    cosmos, iss = COSMOS_FILE.read_text().strip(), ISS_FILE.read_text().strip()
    from fragrisk.engine.orbits.elements import concat

    el = concat([parse_tle("\n".join([cosmos, GPS_TLE, iss]), "mix.tle"), random_leo(200)])
    start_jd, start_fr = parse_utc(START)
    t = np.arange(0.0, 1440.0 + 1e-9, 2.0)
    cpu = propagate_elements(el, start_jd, start_fr, t, device="cpu")
    if chunk_objects:
        monkeypatch.setattr(propagation, "gpu_chunk_objects", lambda free, m: chunk_objects)
    calls = []
    gpu = propagate_elements(el, start_jd, start_fr, t, device="gpu",
                             on_progress=lambda d, n: calls.append((d, n)))
    assert calls[-1] == (len(el), len(el))
    np.testing.assert_array_equal(gpu.deep_space, cpu.deep_space)
    assert gpu.notes == cpu.notes
    np.testing.assert_array_equal(gpu.error, cpu.error)
    ok = cpu.error == 0
    assert max_dr(gpu.r_km[ok], cpu.r_km[ok]) < TOL_KM
    assert max_dr(gpu.v_km_s[ok], cpu.v_km_s[ok]) < TOL_KM * 1e-3


# --- the CLI and the file -------------------------------------------------------------------------
def invoke(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)


def open_strict(path, **kw):
    import xarray as xr

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_dataset(path, engine="h5netcdf", **kw)
        ds.load()
    ds.close()
    return ds


@pytest.fixture
def mix_file(tmp_path):
    path = tmp_path / "mix.tle"
    path.write_text("\n".join([ISS_FILE.read_text().strip(), GPS_TLE,
                               COSMOS_FILE.read_text().strip()]) + "\n")
    return path


def test_cli_writes_a_file_xarray_opens_with_the_right_values(tmp_path, mix_file):
    out = tmp_path / "eph.h5"
    res = invoke("propagate", mix_file, "--start", START, "--duration-min", 10,
                 "--step-s", 240, "-o", out, "--device", "cpu")
    assert res.exit_code == 0, res.output
    assert res.stderr == ""
    summary = res.stdout.strip()
    assert "\n" not in summary
    assert summary.startswith(f"wrote {out}: 3 objects x 4 times")
    assert "device cpu" in summary
    assert "1 deep-space object propagated by python-sgp4 on the CPU" in summary

    ds = open_strict(out)
    raw = open_strict(out, decode_times=False)
    time_s = np.array([0.0, 240.0, 480.0, 600.0])  # the end of the window is sampled too
    assert dict(ds.sizes) == {"object": 3, "time": 4, "xyz": 3}
    assert ds["position_km"].dims == ("object", "time", "xyz")
    assert ds["velocity_km_s"].dims == ("object", "time", "xyz")
    assert ds["error"].dims == ("object", "time") and ds["error"].dtype == np.int8
    assert ds["object"].dtype == np.int64
    assert ds["object"].values.tolist() == [25544, 24876, 13552]
    assert ds["name"].values.tolist() == ["ISS (ZARYA)", "GPS TEST", "COSMOS 1408"]
    start = np.datetime64("2021-11-15T02:47:00", "ns")
    np.testing.assert_array_equal((ds["time"].values - start) / np.timedelta64(1, "s"), time_s)
    np.testing.assert_array_equal(raw["time"].values, time_s)
    assert raw["time"].attrs["units"] == "seconds since 2021-11-15T02:47:00Z"
    assert raw["position_km"].attrs["units"] == "km"
    assert raw["velocity_km_s"].attrs["units"] == "km/s"
    for name in ("object", "time", "position_km", "velocity_km_s", "error", "name"):
        assert raw[name].attrs["long_name"], name
    assert raw["error"].attrs["flag_values"].tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert raw["error"].attrs["flag_meanings"].split()[0] == "ok"
    assert len(raw["error"].attrs["flag_meanings"].split()) == 7
    assert ds.attrs["source"] == f"fragrisk {engine.__version__}"
    assert ds.attrs["title"] and "fragrisk propagate" in ds.attrs["history"]
    assert ds.attrs["device"] == "cpu"
    assert ds.attrs["notes"] == "1 deep-space object propagated by python-sgp4 on the CPU"

    r, v, e = reference(mix_file.read_text(), *parse_utc(START), time_s / 60.0)
    assert max_dr(ds["position_km"].values, r) < TOL_KM
    assert max_dr(ds["velocity_km_s"].values, v) < TOL_KM * 1e-3
    np.testing.assert_array_equal(ds["error"].values, e)
    with h5py.File(out, "r") as f:
        for name in ("object", "time", "xyz"):
            assert h5py.h5ds.is_scale(f[name].id), name


def test_cli_refuses_an_existing_file_and_overwrites_on_request(tmp_path):
    out = tmp_path / "eph.h5"
    out.write_bytes(b"precious")
    args = ["propagate", ISS_FILE, "--start", START, "--duration-min", 5, "--step-s", 60,
            "-o", out]
    res = invoke(*args)
    assert res.exit_code == 2
    assert res.stderr == f"error: {out}: exists; use --overwrite to replace it\n"
    assert out.read_bytes() == b"precious"
    res = invoke(*args, "--overwrite")
    assert res.exit_code == 0, res.output
    assert open_strict(out).sizes["time"] == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eph.h5"]


@pytest.mark.parametrize("change,words", [
    ({"--duration-min": "0"}, "--duration-min: 0.0"),
    ({"--duration-min": "-5"}, "--duration-min: -5.0"),
    ({"--duration-min": "nan"}, "--duration-min: nan"),
    ({"--step-s": "0"}, "--step-s: 0.0"),
    ({"--step-s": "-1"}, "--step-s: -1.0"),
    ({"--step-s": "inf"}, "--step-s: inf"),
    ({"--step-s": "601"}, "--step-s: 601 s is longer than --duration-min 10"),
    ({"--start": "2021-11-15 25:00"}, "--start: '2021-11-15 25:00' is not a valid UTC time"),
    ({"--start": "2021-02-30T00:00:00Z"}, "--start: '2021-02-30T00:00:00Z'"),
    ({"file": "missing.tle"}, "missing.tle: file not found"),
    ({"file": "bad.tle"}, "bad.tle: line 3: checksum is"),
    ({"--device": "gpu-if-possible"}, "gpu-if-possible"),
])
def test_cli_bad_inputs_give_one_line(tmp_path, change, words):
    (tmp_path / "bad.tle").write_text(ISS_FILE.read_text().replace("312108", "312100"))
    opts = {"--start": START, "--duration-min": "10", "--step-s": "60"}
    opts.update({k: v for k, v in change.items() if k != "file"})
    source = tmp_path / change["file"] if "file" in change else ISS_FILE
    args = ["propagate", str(source), "-o", str(tmp_path / "out.h5")]
    for k, v in opts.items():
        args += [k, v]
    res = invoke(*args)
    assert res.exit_code == 2
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    if change.get("--device"):  # click's own usage error (still no traceback)
        assert words in res.stderr and "Traceback" not in res.stderr
    else:
        assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
        assert words in lines[0], lines[0]
    assert not (tmp_path / "out.h5").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tle"]


def test_cli_error_through_the_console_entry_point_has_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", "from fragrisk import cli; cli.main()", "propagate", str(tmp_path / "x.tle"),
         "--start", START, "--duration-min", "10", "--step-s", "60", "-o",
         str(tmp_path / "o.h5")],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == f"error: {tmp_path / 'x.tle'}: file not found\n"


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    from fragrisk.engine.files import h5io

    real = h5io.NetCDFDimensions.variable

    def failing(self, name, *a, **kw):
        if name == "velocity_km_s":
            raise RuntimeError("disk on fire")
        return real(self, name, *a, **kw)

    monkeypatch.setattr(h5io.NetCDFDimensions, "variable", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        invoke("propagate", ISS_FILE, "--start", START, "--duration-min", 5, "--step-s", 60,
               "-o", tmp_path / "eph.h5")
    assert list(tmp_path.iterdir()) == []


def test_ephemeris_file_rejects_mismatched_shapes(tmp_path):
    from fragrisk.engine.files.ephemeris_file import write_ephemeris

    el = load_elements(ISS_FILE)
    eph = propagate_elements(el, *parse_utc(START), np.arange(3.0))
    with pytest.raises(ValueError, match="does not match"):
        write_ephemeris(tmp_path / "e.h5", eph, el, *parse_utc(START), np.arange(4.0))
    assert list(tmp_path.iterdir()) == []
    assert isinstance(eph, Ephemeris)


def test_sample_times_cover_the_window():
    from fragrisk.engine.orbits.propagation import sample_times_s

    np.testing.assert_array_equal(sample_times_s(600.0, 60.0), np.arange(0.0, 601.0, 60.0))
    np.testing.assert_array_equal(sample_times_s(600.0, 600.0), [0.0, 600.0])
    np.testing.assert_array_equal(sample_times_s(600.0, 250.0), [0.0, 250.0, 500.0, 600.0])
    assert sample_times_s(0.1 * 60, 0.1).size == 61  # 6 s / 0.1 s: no extra sample by rounding
    with pytest.raises(ValueError):
        sample_times_s(0.0, 1.0)


def test_progress_bar_on_a_terminal(tmp_path, monkeypatch):
    import io
    import types

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    from fragrisk.commands import files as file_commands

    term = Terminal()
    monkeypatch.setattr(file_commands, "sys", types.SimpleNamespace(stderr=term))
    monkeypatch.setattr(file_commands, "PROGRESS_MIN_SAMPLES", 1)
    monkeypatch.setattr(propagation, "CPU_CHUNK_ELEMENTS", 1)  # one object a chunk
    res = invoke("propagate", ISS_FILE, "--start", START, "--duration-min", 5, "--step-s", 60,
                 "-o", tmp_path / "eph.h5")
    assert res.exit_code == 0, res.output
    assert "propagating" in term.getvalue() and "100%" in term.getvalue()
    assert res.stdout.startswith("wrote ")
