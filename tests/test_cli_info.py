"""`fragrisk --version`, `fragrisk info`, and the device choice behind `--device`."""

import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner
from fragrisk import cli, engine
from fragrisk.engine import backend
from fragrisk.engine.errors import InputError
from sgp4_backends import gpu_usable

REPO = Path(__file__).resolve().parent.parent

from conftest import COSMOS_TLE, ISS_TLE  # noqa: E402  (the built-in element sets)


def invoke(*args):
    return CliRunner().invoke(cli.cli, list(args), catch_exceptions=False)


def no_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` -> ModuleNotFoundError


def cupy_without_device(monkeypatch, message):
    """A stand-in CuPy that imports but sees no usable device (as on a machine without driver)."""
    def device_count():
        raise RuntimeError(message)

    fake = types.ModuleType("cupy")
    fake.is_available = lambda: False
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=device_count))
    monkeypatch.setitem(sys.modules, "cupy", fake)




# --- --version -------------------------------------------------------------------------------------
def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout == f"fragrisk {engine.__version__}\n"
    assert engine.__version__ == "0.1.0"


def test_version_through_console_entry_point():
    proc = subprocess.run([sys.executable, "-c", "from fragrisk import cli; cli.main()", "--version"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "fragrisk 0.1.0\n", "")


def test_usage_errors_are_one_line():
    proc = subprocess.run([sys.executable, "-c", "from fragrisk import cli; cli.main()", "info",
                           "--device", "tpu"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and proc.stderr == (
        "error: Invalid value for '--device': 'tpu' is not one of 'auto', 'cpu', 'gpu' "
        "(see 'fragrisk info --help')\n")


# --- info on the built-in --------------------------------------------------------------------------
def _numbers(pattern, text):
    m = re.search(pattern, text)
    assert m, (pattern, text)
    return [float(g.replace(",", "")) for g in m.groups()]


def test_info_builtin_numbers():
    result = invoke("info", "--device", "cpu")
    assert result.exit_code == 0 and result.stderr == ""
    out = result.stdout
    assert "scenario: cosmos1408" in out
    # The calibrated built-in: the count from its fitted fragmenting mass (the plain model's
    # 2,220 kg gives 1,658.7, below).
    assert "SBM mass M = 2,220 kg, fragmenting mass 2,693 kg" in out
    assert "N(>= 0.1 m) = 1,917.2" in out
    assert ("knobs:    fragmenting mass 2,693 kg, Δv factor 0.5156, σ of log10 Δv 0.2406, "
            "drag scale 0.0632") in out
    plain = invoke("info", "cosmos1408-sbm", "--device", "cpu").stdout
    assert "SBM mass M = 2,220 kg; expected fragments N(>= 0.1 m) = 1,658.7" in plain
    assert "knobs:    fragmenting mass 2,220 kg (the SBM M), Δv factor 1, σ of log10 Δv 0.4" in plain
    (emr,) = _numbers(r"energy-to-mass ratio ([\d,.]+) J/g: catastrophic", out)
    assert emr == pytest.approx(0.5 * 20 * 7500.0**2 / 2.2e6, abs=0.05)  # 255.7 J/g
    parent = out[out.index("parent:"):out.index("event:")]
    target = out[out.index("target:"):out.index("window:")]
    p_per, p_apo, p_inc, p_per_min = _numbers(
        r"perigee ([\d,.]+) km, apogee ([\d,.]+) km, inclination ([\d.]+) deg, "
        r"period ([\d.]+) min", parent)
    assert 455 < p_per < 475 and 480 < p_apo < 500 and p_inc == 82.56 and 93 < p_per_min < 95
    t_per, t_apo, t_inc, _ = _numbers(
        r"perigee ([\d,.]+) km, apogee ([\d,.]+) km, inclination ([\d.]+) deg, "
        r"period ([\d.]+) min", target)
    assert 410 < t_per < 420 and 420 < t_apo < 430 and t_inc == 51.64
    assert "ISS: ISS (ZARYA) (NORAD 25544" in target and "hard-body radius 66.1 m" in target
    assert "COSMOS 1408 (NORAD 13552" in parent and "spacecraft, 2,200 kg" in parent
    assert "collision at 2021-11-15T02:47:00Z: projectile 20 kg at 7.5 km/s" in out
    assert ("window:   start 2021-11-15T02:47:00Z, 7 days, 10,080 steps of 60 s, "
            "time bins of 3,600 s") in out
    assert "sampling: 1,000 realizations, seed 20211115" in out
    assert "kernel:   sphere, radius 10 km" in out


def test_info_scenario_file_and_explosion(tmp_path):
    path = tmp_path / "boom.toml"
    path.write_text(f'''name = "boom"
[parent]
tle = """{COSMOS_TLE}"""
mass_kg = 1500
kind = "rocket_body"
[event]
epoch = "2021-11-15T02:47:00Z"
type = "explosion"
explosion_scale = 0.5
lc_min_m = 0.05
[[targets]]
tle = """{ISS_TLE}"""
hard_body_radius_m = 30
[analysis]
duration_days = 1
step_s = 30
realizations = 5
seed = 7
''')
    result = invoke("info", str(path), "--device", "cpu")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "event:    explosion at 2021-11-15T02:47:00Z, scale S = 0.5" in out
    (count,) = _numbers(r"N\(>= 0\.05 m\) = ([\d,.]+)", out)
    assert count == pytest.approx(6 * 0.5 * 0.05**-1.6, abs=0.05)
    assert "rocket_body, 1,500 kg" in out
    assert "target:   ISS (ZARYA): ISS (ZARYA)" in out  # name defaults to the TLE's
    assert "2,880 steps of 30 s" in out


def test_info_population(tmp_path):
    path = tmp_path / "pop.toml"
    path.write_text(f'''[population]
tle = """{COSMOS_TLE}\n{ISS_TLE}"""
[[targets]]
name = "ISS"
tle = """{ISS_TLE}"""
hard_body_radius_m = 66.1
[analysis]
start = "2021-11-16T00:00:00Z"
duration_days = 2
''')
    result = invoke("info", str(path), "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "population: 2 objects" in result.stdout
    assert "event:" not in result.stdout and "scenario: pop" in result.stdout
    assert "sampling: 1 realization, seed 0" in result.stdout


def test_info_prints_scenario_warnings_on_stderr(tmp_path):
    path = tmp_path / "late.toml"
    text = (REPO / "engine" / "data" / "cosmos1408.toml").read_text()
    text = text.replace('epoch = "2021-11-15T02:47:00Z"', 'epoch = "2022-01-15T00:00:00Z"')
    text = text.replace('start = "2021-11-15T02:47:00Z"', 'start = "2022-01-15T00:00:00Z"')
    text = text.replace('"cosmos1408_2021-11-15.tle"', f'"{REPO}/engine/data/cosmos1408_2021-11-15.tle"')
    text = text.replace('"iss_2021-11-15.tle"', f'"{REPO}/engine/data/iss_2021-11-15.tle"')
    path.write_text(text)
    result = invoke("info", str(path), "--device", "cpu", "--max-epoch-gap-days", "90")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith(f"warning: {path}: ") for line in lines)
    assert "[event] epoch" in lines[0] and "[[targets]] #1" in lines[1]
    assert "warning" not in result.stdout
    # Without the option, 60 days from the element sets is refused.
    result = invoke("info", str(path), "--device", "cpu")
    assert result.exit_code == 2 and "max_epoch_gap_days = 30" in result.stderr


# --- devices ---------------------------------------------------------------------------------------
def test_info_cpu_says_how_many_realizations_it_runs():
    result = invoke("info", "--device", "cpu")
    assert ("sampling: 1,000 realizations, seed 20211115; CPU backend: running 30 of the scenario's "
            "1,000 realizations") in result.stdout


def test_info_cpu_says_nothing_about_the_gpu():
    result = invoke("info", "--device", "cpu")
    assert "backend:  NumPy (cpu)" in result.stdout and "gpu:" not in result.stdout
    assert re.search(r"device:   .+, \d+ cores, NumPy \d", result.stdout)


def test_auto_without_cupy_falls_back_and_says_why(monkeypatch):
    no_cupy(monkeypatch)
    assert backend.resolve_device("auto") == "cpu"
    result = invoke("info")
    assert result.exit_code == 0
    assert "backend:  NumPy (cpu)" in result.stdout
    assert "gpu:      not used: CuPy is not installed" in result.stdout


def test_gpu_without_cupy_is_an_error(monkeypatch):
    no_cupy(monkeypatch)
    result = invoke("info", "--device", "gpu")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == ("error: --device gpu: no usable GPU: CuPy is not installed "
                             "(pip install 'fragrisk[gpu]')\n")


def test_gpu_without_device_gives_cudas_reason_in_one_line(monkeypatch):
    cupy_without_device(monkeypatch, "cudaErrorNoDevice: no CUDA-capable\ndevice is detected")
    with pytest.raises(InputError) as exc:
        backend.resolve_device("gpu")
    assert str(exc.value) == ("--device gpu: no usable GPU: no usable CUDA device or driver: "
                              "cudaErrorNoDevice: no CUDA-capable device is detected")
    assert backend.resolve_device("auto") == "cpu"
    result = invoke("info", "--device", "auto")
    assert "gpu:      not used: no usable CUDA device or driver: cudaErrorNoDevice" in result.stdout


def test_resolve_device_choices():
    assert backend.resolve_device("cpu") == "cpu"
    with pytest.raises(InputError, match=r"--device 'tpu': expected one of auto, cpu, gpu"):
        backend.resolve_device("tpu")
    assert backend.resolve_device("auto") == ("gpu" if gpu_usable() else "cpu")


def test_describe_cpu():
    import numpy

    d = backend.describe_device("cpu")
    assert d["device"] == "cpu" and d["numpy_version"] == numpy.__version__
    assert isinstance(d["cores"], int) and d["cores"] >= 1 and d["name"]


@pytest.mark.gpu
def test_describe_gpu_and_info_on_gpu():
    import cupy

    d = backend.describe_device("gpu")
    assert d["device"] == "gpu" and d["memory_gib"] > 1.0 and d["name"]
    assert re.fullmatch(r"\d+\.\d+", d["compute_capability"])
    assert d["cupy_version"] == cupy.__version__
    assert re.fullmatch(r"\d+\.\d+", d["cuda_runtime_version"])
    assert re.fullmatch(r"\d+\.\d+", d["cuda_driver_version"])
    result = invoke("info", "--device", "gpu")
    assert result.exit_code == 0 and "backend:  CuPy (gpu)" in result.stdout
    assert d["name"] in result.stdout
    assert backend.resolve_device("auto") == "gpu"
