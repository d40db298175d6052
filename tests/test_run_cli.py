"""`fragrisk run` end to end on a tiny scenario: the results file of docs/results-file.md."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest
from conftest import write_tiny_scenario
from fragrisk.engine.results import read_results
from fragrisk.engine.run import montecarlo
from fragrisk.engine.run.setup import make_setup
from fragrisk.engine.run.sizing import out_of_memory_error
from fragrisk.engine.scenario import load_scenario

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def fragrisk(*args, cwd=None):
    return subprocess.run([sys.executable, "-c", "from fragrisk import cli; cli.main()", *args], cwd=cwd or ROOT,
                          capture_output=True, text=True, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    # One day: the calibrated cloud stays compact, and at lc_min 0.3 m its first passes through
    # the ISS's kernel sphere come hours after the strike (a shorter window can give lambda = 0).
    scenario = write_tiny_scenario(folder, duration_days=1.0)
    out = folder / "out.h5"
    p = fragrisk("run", str(scenario), "--device", "cpu", "--realizations", "5", "-o", str(out), "--json")
    assert p.returncode == 0, p.stderr
    return scenario, out, json.loads(p.stdout)


@pytest.mark.slow
def test_json_summary(run_file):
    _, out, report = run_file
    assert report["results"] == str(out)
    assert report["realizations"] == 5 and report["device"] == "cpu"
    iss = report["targets"]["ISS"]
    for key in ("p_mean", "p_median", "p_p05", "p_p95", "lambda_mean"):
        assert key in iss
    assert report["fragment_steps"] >= report["propagated_fragment_steps"] > 0
    counts = report["fragment_status_counts"]
    assert counts["kept"] > 0 and counts["sub_orbital"] > 0
    with h5py.File(out, "r") as f:  # the encounter table's rows, by default recorded
        assert report["encounters"] == f["encounter_realization"].shape[0]


@pytest.mark.slow
def test_xarray_opens_without_warnings_and_every_variable_has_units(run_file):
    xr = pytest.importorskip("xarray")
    _, out, _ = run_file
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_dataset(out, engine="h5netcdf", decode_timedelta=False)
        ds.load()
    for name in ("expected_collisions", "collision_probability", "expected_collisions_by_time",
                 "expected_collisions_by_size", "pc_histogram", "fragments_in_orbit", "n_fragments",
                 "gabbard_apogee_km", "gabbard_perigee_km", "gabbard_period_min", "time_bnds", "size_bin_bnds"):
        assert name in ds.variables, name
        assert "units" in ds[name].attrs or "units" in ds[name].encoding, name
    assert ds.sizes["realization"] == 5
    for key in ("title", "source", "history", "scenario", "seed", "n_realizations", "device", "elapsed_s",
                "am_sampling", "mass_policy", "kernel", "kernel_radius_km"):
        assert key in ds.attrs, key
    ds.close()


@pytest.mark.slow
def test_sums_and_histogram(run_file):
    _, out, _ = run_file
    res = read_results(out)
    lam = res.expected_collisions
    assert (lam > 0).any()
    np.testing.assert_allclose(res.expected_collisions_by_time.sum(axis=2), lam, rtol=1e-12, atol=0)
    np.testing.assert_allclose(res.expected_collisions_by_size.sum(axis=2), lam, rtol=1e-12, atol=0)
    assert res.pc_histogram.sum(axis=1).tolist() == [5]
    with h5py.File(out) as f:
        assert f["pc_histogram"].dtype == np.uint64
        np.testing.assert_allclose(f["collision_probability"][()], -np.expm1(-lam), rtol=1e-15)
    # Fragments in orbit never exceed the fragments sampled, and only fall with time.
    assert (res.fragments_in_orbit <= res.n_fragments[:, None]).all()
    assert (np.diff(res.fragments_in_orbit, axis=1) <= 1e-12).all()


@pytest.mark.slow
def test_same_seed_same_numbers_for_any_batch_size(run_file, tmp_path):
    scenario, out, _ = run_file
    other = tmp_path / "b.h5"
    p = fragrisk("run", str(scenario), "--device", "cpu", "--realizations", "5", "--batch-size", "2", "-o", str(other))
    assert p.returncode == 0, p.stderr
    a, b = read_results(out), read_results(other)
    np.testing.assert_array_equal(a.expected_collisions_by_time, b.expected_collisions_by_time)
    np.testing.assert_array_equal(a.fragments_in_orbit, b.fragments_in_orbit)


@pytest.mark.slow
def test_refuses_existing_output_and_leaves_it_alone(run_file):
    scenario, out, _ = run_file
    before = out.read_bytes()
    p = fragrisk("run", str(scenario), "--device", "cpu", "--realizations", "1", "-o", str(out))
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "--overwrite" in p.stderr and "Traceback" not in p.stderr
    assert out.read_bytes() == before


@pytest.mark.slow
def test_cpu_default_realizations_are_announced(tmp_path):
    scenario = write_tiny_scenario(tmp_path, realizations=500, duration_days=0.02)
    p = fragrisk("run", str(scenario), "--device", "cpu", "-o", str(tmp_path / "d.h5"))
    assert p.returncode == 0, p.stderr
    n = montecarlo.CPU_DEFAULT_REALIZATIONS
    assert f"running {n} of the scenario's 500 realizations" in p.stderr
    assert read_results(tmp_path / "d.h5").realization.size == n


@pytest.mark.parametrize("args, needle", [
    (["--realizations", "0"], "--realizations"),
    (["--shard", "4/3"], "--shard"),
    (["--device", "gpu"], "gpu"),
])
def test_bad_options_one_line(tmp_path, args, needle):
    scenario = write_tiny_scenario(tmp_path)
    try:
        import cupy

        if needle == "gpu" and cupy.is_available():
            pytest.skip("a GPU is usable here")
    except ImportError:
        pass
    p = fragrisk("run", str(scenario), *args, "-o", str(tmp_path / "x.h5"))
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr and "Traceback" not in p.stderr and p.stderr.strip().count("\n") == 0
    assert not (tmp_path / "x.h5").exists()


def test_gpu_out_of_memory_has_its_own_exit_code(tmp_path, monkeypatch, capsys):
    """A single realization that does not fit in GPU memory is a limit of the machine, not bad
    input: one line, exit code 3 (EXIT_DEVICE_MEMORY, documented in --help), nothing written."""
    from fragrisk import cli
    from fragrisk.commands import common
    from fragrisk.engine.run import jobs

    def no_memory(*args, **kwargs):
        raise out_of_memory_error(
            make_setup(load_scenario(scenario), "cpu"), np.array([3]),
            RuntimeError("Out of memory allocating 1,024 bytes\n(allocated so far: 0 bytes)"))

    scenario = write_tiny_scenario(tmp_path)
    monkeypatch.setattr(jobs, "run_job", no_memory)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", str(scenario), "--device", "cpu", "-o", str(tmp_path / "x.h5")])
    err = capsys.readouterr().err
    assert exit_.value.code == common.EXIT_DEVICE_MEMORY == 3
    assert err.startswith("error: GPU out of memory with a single realization (realization 3, ")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x.h5").exists()
    assert "3 GPU out of memory" in common.EXIT_CODES_HELP
