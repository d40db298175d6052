"""Bad inputs, tried as a careless user and as an attacker would: one table of cases.

Every case runs the real command line (``cli.main``) in this process, on a copy of a folder of
valid inputs (a tiny scenario, element sets in TLE and in the three OMM encodings, results and
shard files), changed so that exactly one thing is wrong.  Each must give:

- a non-zero exit code and nothing on stdout;
- exactly one line on stderr, ``error: ...``, naming the file, the field or the value (the
  case's needles), and no traceback;
- no warning (a real process would print it on stderr: a second line);
- the folder exactly as before, byte for byte (nothing written, half-written or replaced);
- for the cases marked `fast` (sizes beyond the machine): the refusal within a second, saying
  what would fit.

The signal tests at the end run whole jobs in subprocesses and are marked slow.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import write_tiny_scenario
from fragrisk import cli
from fragrisk.engine.orbits.elements import tle_checksum
from fragrisk.engine.results import RunResults, read_results, write_results

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "engine" / "data"
ISS_NAME = "ISS (ZARYA)"
ISS_L1 = "1 25544U 98067A   21319.86359406  .00001699  00000-0  39549-4 0  9996"
ISS_L2 = "2 25544  51.6442 312.7312 0004574 201.3017 242.9752 15.48581038312108"
FULLWIDTH_1 = "\uff11"     # '１': str.isdigit() and int() take it; no element set may hold it
ARABIC_5 = "\u0665"        # '٥', an Arabic-Indic digit
MINUS = "\u2212"           # '−', the typographic minus
START = "2021-11-15T02:47:00Z"

# The ISS element set above as CCSDS OMM keywords.
ISS_OMM = {
    "OBJECT_NAME": ISS_NAME, "OBJECT_ID": "1998-067A", "CENTER_NAME": "EARTH", "REF_FRAME": "TEME",
    "TIME_SYSTEM": "UTC", "MEAN_ELEMENT_THEORY": "SGP4", "EPOCH": "2021-11-15T20:43:34.526784",
    "MEAN_MOTION": "15.48581038", "ECCENTRICITY": "0.0004574", "INCLINATION": "51.6442",
    "RA_OF_ASC_NODE": "312.7312", "ARG_OF_PERICENTER": "201.3017", "MEAN_ANOMALY": "242.9752",
    "EPHEMERIS_TYPE": "0", "CLASSIFICATION_TYPE": "U", "NORAD_CAT_ID": "25544",
    "ELEMENT_SET_NO": "999", "REV_AT_EPOCH": "31210", "BSTAR": "0.39549e-4",
    "MEAN_MOTION_DOT": "0.00001699", "MEAN_MOTION_DDOT": "0",
}


# --- the folder of valid inputs ---------------------------------------------------------------------
def omm_text(fmt: str, record: dict) -> str:
    """One OMM record as CCSDS OMM XML, CSV or JSON text (values written as given)."""
    if fmt == "json":
        return json.dumps([record])
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(record))
        w.writeheader()
        w.writerow(record)
        return buf.getvalue()
    leaves = "".join(f"<{k}>{v}</{k}>" for k, v in record.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?><ndm><omm><body><segment><data>{leaves}'
            f"</data></segment></body></omm></ndm>")


SYNTHETIC_SCENARIO = 'name = "synthetic"\n[event]\nlc_min_m = {lc}\n[analysis]\nseed = {seed}\n'


def synthetic_results(realization, *, n=4, seed=7, lc=0.1) -> RunResults:
    """Seeded results of n realizations (those of `realization` held): 1 target, 4 time bins."""
    rng = np.random.default_rng(11)
    K, T, F = 1, 4, 5  # and 3 size bins
    lam = 10.0 ** rng.uniform(-8, -3, size=(K, n, T))
    real = np.asarray(realization)
    by_time = lam[:, real]
    by_size = by_time.sum(-1, keepdims=True) * np.array([0.5, 0.3, 0.2])
    return RunResults(
        target_names=["ISS"], realization=real, time_edges_s=np.arange(T + 1) * 1800.0,
        size_edges_m=np.array([0.1, 1.0, 10.0, 100.0]), expected_collisions=by_time.sum(-1),
        expected_collisions_by_time=by_time, expected_collisions_by_size=by_size,
        fragments_in_orbit=np.full((real.size, T), 100.0), n_fragments=np.full(real.size, 120),
        gabbard_apogee_km=np.linspace(450, 900, F) if 0 in real else np.zeros(0),
        gabbard_perigee_km=np.linspace(300, 450, F) if 0 in real else np.zeros(0),
        gabbard_period_min=np.linspace(92, 100, F) if 0 in real else np.zeros(0),
        target_perigee_km=[415.0], target_apogee_km=[422.0],
        attrs=dict(scenario=SYNTHETIC_SCENARIO.format(lc=lc, seed=seed), seed=seed,
                   n_realizations=n, device="cpu", elapsed_s=1.0, analysis_start=START))


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bad_inputs")
    write_tiny_scenario(d)  # tiny.toml: 4 realizations, 0.1 days at 120 s, 30-minute bins
    shutil.copy(DATA / "iss_2021-11-15.tle", d / "iss.tle")
    for fmt in ("xml", "csv", "json"):
        (d / f"iss.{fmt}").write_text(omm_text(fmt, ISS_OMM))
    write_results(d / "run.h5", synthetic_results(np.arange(4)))
    write_results(d / "a.h5", synthetic_results(np.arange(0, 2)))
    write_results(d / "b.h5", synthetic_results(np.arange(2, 4)))
    write_results(d / "b_seed.h5", synthetic_results(np.arange(2, 4), seed=8))
    write_results(d / "b_lc.h5", synthetic_results(np.arange(2, 4), lc=0.2))
    from fragrisk.engine.cloud import sample_cloud
    from fragrisk.engine.files.fragments_file import write_fragments_h5
    from fragrisk.engine.scenario import load_scenario

    s = load_scenario(d / "tiny.toml")
    write_fragments_h5(d / "fragments.h5", sample_cloud(s, np.arange(1)), s, command="test")
    from click.testing import CliRunner

    done = CliRunner().invoke(cli.cli, ["propagate", str(d / "iss.tle"), "--start", START, "--duration-min", "2",
                                        "--step-s", "60", "--device", "cpu", "-o", str(d / "ephemeris.h5")])
    assert done.exit_code == 0, done.output
    (d / "out").mkdir()
    (d / "figs").mkdir()
    (d / "a_folder").mkdir()
    (d / "plain.txt").write_text("a regular file\n")
    return d


# --- helpers that make a bad input inside the copied folder w ----------------------------------------
def set_field(text: str, table: str, key: str, value: str) -> str:
    """TOML `text` with `key = value` in `table` ("" for the top level; "[[targets]]" for the
    first target): replaced where the key is, else added under the table header."""
    lines = text.splitlines()
    header = {"": None, "targets": "[[targets]]"}.get(table, f"[{table}]")
    start = 0 if header is None else lines.index(header) + 1
    stop = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
    for i in range(start, stop):
        if re.match(rf"^{re.escape(key)}\s*=", lines[i]):
            lines[i] = f"{key} = {value}"
            break
    else:
        lines.insert(start, f"{key} = {value}")
    return "\n".join(lines) + "\n"


def scenario(w: Path, *fields, name="bad.toml", append="", without=()) -> str:
    """A copy of tiny.toml with (table, key, TOML value) fields set and the keys `without`
    removed (e.g. a calibration knob, back to the plain model's value); its path."""
    text = (w / "tiny.toml").read_text()
    for key in without:
        text = re.sub(rf"^{key} = .*\n", "", text, flags=re.M)
    for table, key, value in fields:
        text = set_field(text, table, key, value)
    (w / name).write_text(text + append)
    return str(w / name)


def with_target(w: Path, target_lines: str, name="bad.toml") -> str:
    """tiny.toml with its [[targets]] element source replaced by `target_lines`."""
    text = (w / "tiny.toml").read_text()
    text = re.sub(r'^tle_file = ".*iss_2021-11-15.tle"$', target_lines.replace("\\", "\\\\"), text,
                  flags=re.M)
    (w / name).write_text(text)
    return str(w / name)


def tle_with(l1: str = ISS_L1, l2: str = ISS_L2, *, line: int, col: int, text: str,
             fix_checksum: bool = True) -> str:
    """The ISS TLE with `text` written from 1-based column `col` of line `line`."""
    lines = [l1, l2]
    s = lines[line - 1]
    s = s[:col - 1] + text + s[col - 1 + len(text):]
    if fix_checksum and s.isascii():
        s = s[:68] + str(tle_checksum(s))
    lines[line - 1] = s
    return f"{ISS_NAME}\n{lines[0]}\n{lines[1]}\n"


def tle_file(w: Path, content: str, name="bad.tle") -> str:
    (w / name).write_text(content, encoding="utf-8")
    return str(w / name)


def propagate(path: str, *extra) -> list:
    return ["propagate", path, "--start", START, "--duration-min", "10", "--step-s", "60",
            "-o", "out/e.h5", *extra]


def run(path: str, *extra) -> list:
    return ["run", path, "--device", "cpu", "-o", "out/r.h5", *extra]


def omm_file(w: Path, fmt: str, name: str | None = None, raw: str | None = None, **changes) -> str:
    record = dict(ISS_OMM)
    for key, value in changes.items():
        if value is DELETE:
            record.pop(key)
        else:
            record[key] = value
    path = w / (name or f"bad.{fmt}")
    path.write_text(raw if raw is not None else omm_text(fmt, record), encoding="utf-8")
    return str(path)


DELETE = object()


def h5_edit(w: Path, edit, src="run.h5", name="bad.h5") -> str:
    """A copy of results file `src`, changed by edit(h5py.File)."""
    shutil.copy(w / src, w / name)
    with h5py.File(w / name, "r+") as f:
        edit(f)
    return name


def set_value(var: str, index, value):
    def edit(f):
        data = f[var][()]
        data[index] = value
        f[var][...] = data
    return edit


def replace_var(var: str, data):
    """An edit that puts `data` in place of variable `var` (its dimension scales are lost; the
    reader checks the values before anything else needs them)."""
    def edit(f):
        del f[var]
        f.create_dataset(var, data=data)
    return edit


def huge_declared(f):
    """expected_collisions as a chunked dataset declaring 10**12 x 4 values, none stored."""
    del f["expected_collisions"]
    f.create_dataset("expected_collisions", shape=(10**12, 4), dtype="f8", chunks=(1, 4))


def sparse(w: Path, name: str, size: int = 3 << 30) -> str:
    """A file of `size` bytes that takes no disk space."""
    with open(w / name, "wb") as fh:
        fh.truncate(size)
    return name


def garbage(w: Path, name: str, n: int = 4096) -> str:
    (w / name).write_bytes(np.random.default_rng(16).integers(0, 256, n, dtype=np.uint8).tobytes())
    return name


def figure_exists(w: Path) -> list:
    (w / "figs" / "by_size.png").write_bytes(b"an existing figure")
    return ["plot", "run.h5", "-o", "figs"]


def checkpoint_of_another_run(w: Path) -> list:
    folder = w / "out" / "r.h5.checkpoint"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"fragrisk": "0.0", "seed": 1}))
    (folder / "batch_000000000.npz").write_bytes(b"kept")
    return run("tiny.toml", "--resume")


def readonly_folder(w: Path) -> str:
    """A folder no file can be created in: chmod 0o555 where that binds (not root), else /sys."""
    d = w / "readonly"
    d.mkdir()
    d.chmod(0o555)
    try:
        (d / ".probe").touch()
    except OSError:
        return str(d)
    (d / ".probe").unlink()
    d.chmod(0o755)
    d.rmdir()
    return "/sys"


def write(w: Path, name: str, content: str | bytes) -> str:
    """`content` written to w/name; returns name."""
    (w / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return name


def symlink(w: Path, name: str, target: str) -> str:
    os.symlink(target, w / name)
    return name


def fifo(w: Path, name: str) -> str:
    os.mkfifo(w / name)
    return name


# --- the table ---------------------------------------------------------------------------------------
# Each case: make(w) -> (argv, needles); the command runs with w as the working folder.
CASES = []


def case(id_, make, *needles, fast=False, skip=None):
    CASES.append(pytest.param(make, needles, fast, id=id_,
                              marks=[pytest.mark.skipif(bool(skip), reason=str(skip))] if skip else []))


def gpu_usable() -> bool:
    try:
        import cupy

        return bool(cupy.is_available())
    except Exception:  # noqa: BLE001 - no CuPy, no driver: not usable
        return False


# Scenario files as files
case("scenario-missing", lambda w: run("nope.toml"), "nope.toml", "file not found")
case("scenario-unknown-builtin", lambda w: run("cosmos9999"), "cosmos9999", "built-in scenarios")
case("scenario-is-a-folder", lambda w: run("a_folder"), "a_folder", "is a folder")
case("scenario-symlink-to-folder", lambda w: run(symlink(w, "l.toml", str(w / "a_folder"))),
     "l.toml", "is a folder")
case("scenario-dangling-symlink", lambda w: run(symlink(w, "l.toml", str(w / "gone.toml"))),
     "l.toml", "file not found")
case("scenario-symlink-loop", lambda w: (symlink(w, "x.toml", "y.toml"), symlink(w, "y.toml", "x.toml"),
                                         run("x.toml"))[-1], "x.toml")
case("scenario-dev-zero", lambda w: run(symlink(w, "z.toml", "/dev/zero")), "z.toml", "not a regular file")
case("scenario-fifo", lambda w: run(fifo(w, "p.toml")), "p.toml", "not a regular file")
case("scenario-empty", lambda w: run(write(w, "e.toml", "")), "e.toml", "[parent]")
case("scenario-binary-garbage", lambda w: run(garbage(w, "g.toml")), "g.toml", "not UTF-8")
case("scenario-nul-byte", lambda w: run(scenario(w, append='x = "\x00"\n')), "bad.toml", "not valid TOML")
case("scenario-nul-in-name", lambda w: run("tiny\x00.toml"), "not a file name")
case("scenario-huge-sparse", lambda w: run(sparse(w, "h.toml")), "h.toml", "too large")
case("scenario-duplicate-key", lambda w: run(_dup_key(w)), "bad.toml", "[analysis] seed", "twice")
case("scenario-duplicate-table", lambda w: run(scenario(w, append="[analysis]\nseed = 1\n")),
     "bad.toml", "analysis")
case("scenario-unknown-field", lambda w: run(scenario(w, ("analysis", "sed", "1"))),
     "bad.toml", "sed", "seed")
case("scenario-unknown-table", lambda w: run(scenario(w, append="[evnt]\nx = 1\n")),
     "bad.toml", "[evnt]", "[event]")


def _dup_key(w: Path) -> str:
    text = (w / "tiny.toml").read_text().replace("[analysis]\n", "[analysis]\nseed = 1\n", 1)
    (w / "bad.toml").write_text(text)
    return str(w / "bad.toml")


# Wrong types in every scenario field
WRONG_TYPES = [
    ("", "name", "5"), ("", "parent", "5"), ("", "targets", "5"), ("", "analysis", '"x"'),
    ("parent", "mass_kg", '"heavy"'), ("parent", "kind", "1"), ("parent", "tle_file", "5"),
    ("event", "epoch", "5"), ("event", "type", "1"), ("event", "projectile_mass_kg", '"x"'),
    ("event", "impact_velocity_km_s", "true"), ("event", "lc_min_m", "[0.1]"),
    ("event", "am_sampling", "2"), ("event", "mass_policy", "3"),
    ("event", "drag_coefficient", '"x"'), ("event", "drag_scale", "{a = 1}"),
    ("event", "explosion_scale", '"x"'), ("targets", "name", "5"),
    ("targets", "hard_body_radius_m", '"x"'), ("targets", "tle_file", "[1]"),
    ("analysis", "start", "5"), ("analysis", "duration_days", '"x"'),
    ("analysis", "step_s", "1979-05-27"), ("analysis", "realizations", "1.5"),
    ("analysis", "seed", '"x"'), ("analysis", "kernel", "5"),
    ("analysis", "kernel_radius_km", '"x"'), ("analysis", "time_bin_s", "false"),
    ("analysis", "max_epoch_gap_days", '"x"'),
]
for table, key, value in WRONG_TYPES:
    case(f"type-{table or 'top'}-{key}",
         lambda w, t=table, k=key, v=value: run(scenario(w, (t, k, v))), "bad.toml", key)

# Zero, negative, infinite and NaN numbers in every numeric field; huge where a limit applies
NUMERIC = [("parent", "mass_kg"), ("event", "projectile_mass_kg"),
           ("event", "impact_velocity_km_s"), ("event", "lc_min_m"),
           ("event", "drag_coefficient"), ("event", "drag_scale"), ("event", "explosion_scale"),
           ("targets", "hard_body_radius_m"), ("analysis", "duration_days"),
           ("analysis", "step_s"), ("analysis", "kernel_radius_km"), ("analysis", "time_bin_s"),
           ("analysis", "max_epoch_gap_days")]
for table, key in NUMERIC:
    for value in ("0", "-1", "inf", "-inf", "nan"):
        case(f"number-{key}={value}",
             lambda w, t=table, k=key, v=value: run(scenario(w, (t, k, v))), "bad.toml", key)
for table, key, value, needle in [
        ("parent", "mass_kg", "1e30", "420,000 kg"),
        ("event", "projectile_mass_kg", "1e30", "420,000 kg"),
        ("event", "impact_velocity_km_s", "3e5", "escape speed"),
        ("event", "drag_coefficient", "1e300", "at most 100"),
        ("event", "drag_scale", "1e300", "at most 100"),
        ("event", "lc_min_m", "5", "[0.001, 1]"),
        ("analysis", "kernel_radius_km", "1e300", "Earth"),
        ("targets", "hard_body_radius_m", "20000", "kernel_radius_km"),
        ("analysis", "duration_days", "9" * 400, "duration_days"),
        ("analysis", "realizations", "0", ">= 1"), ("analysis", "realizations", "-3", ">= 1"),
        ("analysis", "seed", "-1", ">= 0"), ("analysis", "seed", str(2**64), "2**64"),
        ("analysis", "seed", str(10**30), "2**64"),
]:
    case(f"range-{key}={value[:12]}", lambda w, t=table, k=key, v=value: run(scenario(w, (t, k, v))),
         "bad.toml", key, needle)

# Fields something later replaces (the CPU's default count of realizations, --realizations,
# --seed, --max-epoch-gap-days) are validated all the same: the file is wrong whatever runs.
HUGE = str(10**30)
case("replaced-realizations-cpu-default", lambda w: run(scenario(w, ("analysis", "realizations", HUGE))),
     "bad.toml", "[analysis] realizations = ", "at most 2**63 - 1", fast=True)
case("replaced-realizations-by-option", lambda w: run(scenario(w, ("analysis", "realizations", HUGE)),
                                                      "--realizations", "1"),
     "bad.toml", "[analysis] realizations", "at most 2**63 - 1", fast=True)
case("replaced-realizations-by-sample", lambda w: ["sample", scenario(w, ("analysis", "realizations", HUGE)),
                                                   "--realizations", "1", "-o", "out/f.h5"],
     "bad.toml", "[analysis] realizations", fast=True)
case("replaced-seed-by-option", lambda w: run(scenario(w, ("analysis", "seed", "-1")), "--seed", "1"),
     "bad.toml", "[analysis] seed = -1", fast=True)
case("replaced-max-epoch-gap-by-option", lambda w: run(scenario(w, ("analysis", "max_epoch_gap_days", "-1")),
                                                       "--max-epoch-gap-days", "40"),
     "bad.toml", "[analysis] max_epoch_gap_days = -1", fast=True)
case("replaced-max-epoch-gap-type-by-option",
     lambda w: run(scenario(w, ("analysis", "max_epoch_gap_days", '"x"')), "--max-epoch-gap-days", "40"),
     "bad.toml", "[analysis] max_epoch_gap_days", fast=True)
case("replaced-realizations-calibrate", lambda w: calibrate_argv("--realizations", "2")[:1]
     + [scenario(w, ("analysis", "realizations", HUGE))] + calibrate_argv("--realizations", "2")[2:],
     "bad.toml", "[analysis] realizations", fast=True)

# Times: non-ASCII digits, offsets, impossible dates, far from the element sets
case("epoch-fullwidth-digit", lambda w: run(scenario(
    w, ("event", "epoch", '"\uff12021-11-15T02:47:00Z"'))), "bad.toml", "[event] epoch", "not a valid UTC")
case("start-arabic-digit", lambda w: run(scenario(
    w, ("analysis", "start", f'"2021-11-1{ARABIC_5}T02:47:00Z"'))), "bad.toml", "[analysis] start")
case("epoch-offset", lambda w: run(scenario(w, ("event", "epoch", "2021-11-15T02:47:00+01:00"))),
     "bad.toml", "epoch", "UTC")
case("epoch-feb-30", lambda w: run(scenario(w, ("event", "epoch", '"2021-02-30T00:00:00Z"'))),
     "bad.toml", "epoch", "day 30")
case("start-before-event", lambda w: run(scenario(w, ("analysis", "start", '"2021-11-14T00:00:00Z"'))),
     "bad.toml", "[analysis] start")
case("event-10-years-from-elements", lambda w: run(scenario(
    w, ("event", "epoch", '"2031-11-15T02:47:00Z"'), ("analysis", "start", '"2031-11-15T02:47:00Z"'))),
     "bad.toml", "[event] epoch", "max_epoch_gap_days = 30")
case("start-far-from-target-elements", lambda w: run(scenario(
    w, ("analysis", "start", '"2022-03-01T00:00:00Z"'), ("analysis", "max_epoch_gap_days", "20"))),
     "bad.toml", "[analysis] start", "max_epoch_gap_days = 20")
case("epoch-gap-option-not-a-number", lambda w: run("tiny.toml", "--max-epoch-gap-days", "nan"),
     "--max-epoch-gap-days", "nan")
case("epoch-gap-option-negative", lambda w: run("tiny.toml", "--max-epoch-gap-days", "-5"),
     "--max-epoch-gap-days")

# Sizes beyond the machine: refused at once, saying what fits
case("size-duration-1e12-days", lambda w: run(scenario(w, ("analysis", "duration_days", "1e12"))),
     "bad.toml", "step_s", "fit", fast=True)
case("size-step-1e-9-s", lambda w: run(scenario(w, ("analysis", "step_s", "1e-9"))),
     "bad.toml", "step_s", "fit", fast=True)
case("size-time-bin-1e-9-s", lambda w: run(scenario(w, ("analysis", "time_bin_s", "1e-9"))),
     "bad.toml", "time_bin_s", "fit", fast=True)
case("size-option-realizations-1e12", lambda w: run("tiny.toml", "--realizations", str(10**12)),
     "--realizations", "fit", fast=True)
case("size-option-realizations-1e30", lambda w: run("tiny.toml", "--realizations", str(10**30)),
     "--realizations", "at most 2**63 - 1", fast=True)  # the [analysis] realizations row's bound
case("size-batch-1e12", lambda w: run("tiny.toml", "--batch-size", str(10**12)),
     "--batch-size", "fit", fast=True)
case("size-fragments-1mm-heaviest", lambda w: run(scenario(
    w, ("parent", "mass_kg", "1e6"), ("event", "projectile_mass_kg", "1e6"),
    ("event", "lc_min_m", "0.001"))), "bad.toml", "lc_min_m", "fragments per realization", "fit",
     fast=True)
case("size-explosion-scale", lambda w: run(scenario(
    w, ("event", "type", '"explosion"'), ("event", "explosion_scale", "1e12"))),
     "bad.toml", "fragments per realization", "fit", fast=True)
case("time-a-year-of-cpu", lambda w: run(scenario(
    w, ("event", "lc_min_m", "0.01"), ("analysis", "duration_days", "30"), ("analysis", "step_s", "60"),
    ("analysis", "time_bin_s", "3600")), "--realizations", "100000", "--jobs", "1"),
     "--realizations", "fit", fast=True)  # in time (a year on one core), or on a small machine in memory
# The built-in's fitted fragmenting_mass_kg would stand for the count law's M: these two take the
# plain model's M (from the projectile's energy, sub-catastrophic here).
case("no-fragments-tiny-projectile", lambda w: run(scenario(
    w, ("event", "projectile_mass_kg", "1e-300"), without=("fragmenting_mass_kg",))),
     "bad.toml", "[event]", "no fragment")
case("no-fragments-slow-impact", lambda w: run(scenario(
    w, ("event", "projectile_mass_kg", "0.01"), ("event", "impact_velocity_km_s", "1"),
    without=("fragmenting_mass_kg",))),
     "bad.toml", "[event]", "no fragment")
case("no-fragments-fragmenting-mass", lambda w: run(scenario(
    w, ("event", "fragmenting_mass_kg", "1e-9"))), "bad.toml", "[event]", "no fragment")
case("no-fragments-explosion-scale", lambda w: run(scenario(
    w, ("event", "type", '"explosion"'), ("event", "explosion_scale", "1e-300"))),
     "bad.toml", "[event]", "no fragment")
case("lc-min-above-largest-fragment", lambda w: run(scenario(w, ("event", "lc_min_m", "1"))),
     "bad.toml", "[event]", "lc_min_m")

# Element sets: TLE, column by column (the first through a scenario, inline and as a file)
FULLWIDTH_MM = tle_with(line=2, col=53, text=FULLWIDTH_1)
case("tle-fullwidth-mean-motion-inline", lambda w: run(with_target(
    w, "tle = '''\n" + FULLWIDTH_MM + "'''")), "bad.toml", "[[targets]] #1 tle", "column 53", "U+FF11")
case("tle-fullwidth-mean-motion-file", lambda w: run(with_target(
    w, f'tle_file = "{tle_file(w, FULLWIDTH_MM)}"')), "bad.tle", "column 53")
case("tle-fullwidth-mean-motion-parent", lambda w: run(scenario(
    w, ("parent", "tle_file", f'"{tle_file(w, FULLWIDTH_MM)}"'))), "[parent] tle_file", "column 53")
for label, line, col, text in [
        ("mean-motion", 2, 53, FULLWIDTH_1), ("inclination", 2, 10, FULLWIDTH_1),
        ("eccentricity", 2, 27, FULLWIDTH_1), ("epoch-day", 1, 22, FULLWIDTH_1),
        ("bstar", 1, 55, FULLWIDTH_1), ("catalog-number", 1, 4, FULLWIDTH_1),
        ("revolution-number", 2, 65, ARABIC_5), ("element-set-number", 1, 66, ARABIC_5),
        ("ndot-minus", 1, 34, MINUS), ("tab", 2, 17, "\t"), ("nul", 2, 26, "\x00")]:
    case(f"tle-nonascii-{label}", lambda w, li=line, c=col, t=text: propagate(
        tle_file(w, tle_with(line=li, col=c, text=t))), "bad.tle", f"column {col}")
for label, line, col, text, needle in [
        ("letter-in-eccentricity", 2, 30, "x", "eccentricity (columns 27-33)"),
        ("letter-in-mean-motion", 2, 58, "O", "mean motion (columns 53-63)"),
        ("separator-not-blank", 1, 9, "0", "column 9"),
        ("classification", 1, 8, "X", "classification"),
        ("designator-lowercase", 1, 17, "a", "international designator"),
        ("epoch-day-400", 1, 21, "400.0000000", "epoch day"),
        ("inclination-190", 2, 9, "190.0000", "inclination"),
        ("mean-anomaly-400", 2, 44, "400.0000", "mean anomaly"),
        ("eccentricity-impossible", 2, 27, "9999999", "semilatus rectum"),
        ("mean-motion-zero", 2, 53, " 0.00000000", "mean motion"),
        ("catalog-numbers-differ", 2, 3, "25545", "differs")]:
    case(f"tle-{label}", lambda w, li=line, c=col, t=text: propagate(
        tle_file(w, tle_with(line=li, col=c, text=t))), "bad.tle", needle)
case("tle-bad-checksum", lambda w: propagate(tle_file(w, tle_with(
    line=2, col=69, text="0", fix_checksum=False))), "bad.tle", "checksum")
case("tle-short-line", lambda w: propagate(tle_file(w, f"{ISS_L1}\n{ISS_L2[:60]}\n")),
     "bad.tle", "characters")
case("tle-line-2-missing", lambda w: propagate(tle_file(w, f"{ISS_NAME}\n{ISS_L1}\n")),
     "bad.tle", "line 2")
case("tle-name-only", lambda w: propagate(tle_file(w, "ISS\n")), "bad.tle", "not followed")
case("tle-name-with-nul", lambda w: propagate(tle_file(w, f"IS\x00S\n{ISS_L1}\n{ISS_L2}\n")),
     "bad.tle", "control character")
case("tle-empty", lambda w: propagate(tle_file(w, "")), "bad.tle", "no two-line element sets")
case("tle-binary-garbage", lambda w: propagate(garbage(w, "g.tle")), "g.tle")
case("tle-huge-sparse", lambda w: propagate(sparse(w, "h.tle")), "h.tle", "bytes")
case("tle-is-a-folder", lambda w: propagate(symlink(w, "d.tle", str(w / "a_folder"))), "d.tle", "folder")
case("tle-dev-zero", lambda w: propagate(symlink(w, "z.tle", "/dev/zero")), "z.tle", "regular file")
case("tle-fifo", lambda w: propagate(fifo(w, "p.tle")), "p.tle", "regular file")
case("tle-missing", lambda w: propagate("nope.tle"), "nope.tle", "file not found")
case("target-tle-file-missing", lambda w: run(with_target(w, 'tle_file = "nope.tle"')),
     "bad.toml", "tle_file", "file not found")
case("target-tle-file-folder", lambda w: run(with_target(w, 'tle_file = "a_folder"')),
     "bad.toml", "tle_file", "is a folder")
case("target-decayed", lambda w: run(with_target(w, "tle = '''\n" + tle_with(
    line=2, col=27, text="9900000") + "'''")), "bad.toml", "[[targets]] #1 tle", "not in orbit")

# Element sets: OMM in each of the three encodings the reader takes
OMM_BAD = [
    ("MEAN_MOTION", "NaN"), ("MEAN_MOTION", "Infinity"), ("MEAN_MOTION", "-inf"),
    ("MEAN_MOTION", "1e999"), ("MEAN_MOTION", FULLWIDTH_1 + "5.48581038"),
    ("MEAN_MOTION", "1_5.48581038"), ("MEAN_MOTION", "15.4858x"), ("MEAN_MOTION", "0"),
    ("ECCENTRICITY", MINUS + "0.1"), ("ECCENTRICITY", "1.5"),
    ("INCLINATION", ARABIC_5 + "1.6442"), ("INCLINATION", "200"), ("BSTAR", "nan"),
    ("RA_OF_ASC_NODE", "0x10"), ("NORAD_CAT_ID", "1" + "0" * 25),
    ("NORAD_CAT_ID", FULLWIDTH_1 + "5544"), ("NORAD_CAT_ID", "-5"), ("NORAD_CAT_ID", "25544.5"),
    ("EPOCH", FULLWIDTH_1 + "021-11-15T20:43:34.526784"), ("EPOCH", "2021-13-15T20:43:34"),
    ("MEAN_ELEMENT_THEORY", "SDP8"), ("ECCENTRICITY", "0.9999999"), ("MEAN_MOTION", DELETE),
]
for fmt in ("xml", "csv", "json"):
    for key, value in OMM_BAD:
        shown = "missing" if value is DELETE else value.encode("ascii", "backslashreplace").decode()[:14]
        case(f"omm-{fmt}-{key}={shown}", lambda w, f=fmt, k=key, v=value: propagate(
            omm_file(w, f, **{k: v})), f"bad.{fmt}", key)
    case(f"omm-{fmt}-garbage", lambda w, f=fmt: propagate(garbage(w, f"g.{f}")), f"g.{fmt}")
    case(f"omm-{fmt}-empty", lambda w, f=fmt: propagate(omm_file(w, f, raw="")), f"bad.{fmt}")
    case(f"omm-{fmt}-fullwidth-in-scenario", lambda w, f=fmt: run(with_target(
        w, f'omm_file = "{omm_file(w, f, MEAN_MOTION=FULLWIDTH_1 + "5.48581038")}"')),
         "bad.toml", "omm_file", "MEAN_MOTION")
for key, value in [("MEAN_MOTION", float("nan")), ("MEAN_MOTION", float("inf")),
                   ("MEAN_MOTION", [15.5]), ("MEAN_MOTION", True), ("MEAN_MOTION", {"v": 1}),
                   ("NORAD_CAT_ID", 10**25), ("NORAD_CAT_ID", -1), ("NORAD_CAT_ID", 25544.0),
                   ("EPOCH", 2021), ("ECCENTRICITY", None)]:
    case(f"omm-json-number-{key}={str(value)[:10]}", lambda w, k=key, v=value: propagate(
        omm_file(w, "json", raw=json.dumps([{**ISS_OMM, k: v}]))), "bad.json", key)
case("omm-json-1e400", lambda w: propagate(omm_file(w, "json", raw=json.dumps(
    [{**ISS_OMM, "MEAN_MOTION": 0}]).replace('"MEAN_MOTION": 0', '"MEAN_MOTION": 1e400'))),
     "bad.json", "MEAN_MOTION")
case("omm-json-nested-deeply", lambda w: propagate(omm_file(w, "json", raw="[" * 100000 + "]" * 100000)),
     "bad.json", "nested")
case("omm-json-not-records", lambda w: propagate(omm_file(w, "json", raw="[1, 2]")), "bad.json")
case("omm-xml-entity-bomb", lambda w: propagate(omm_file(w, "xml", raw=(
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi"))
    + "]><x>&i;</x>"))), "bad.xml", "XML")
case("omm-xml-not-closed", lambda w: propagate(omm_file(w, "xml", raw="<ndm><omm>")), "bad.xml", "XML")

# Command-line options of run
for option, value, needle in [
        ("--realizations", "0", ">= 1"), ("--realizations", "-1", ">= 1"),
        ("--realizations", "abc", "--realizations"), ("--realizations", FULLWIDTH_1 + "0", "--realizations"),
        ("--realizations", "1e3", "--realizations"), ("--realizations", "1_0", "--realizations"),
        ("--seed", "-1", "--seed"), ("--seed", str(2**64), "2**64"), ("--seed", "x", "--seed"),
        ("--batch-size", "0", ">= 1"), ("--batch-size", "-3", ">= 1"),
        ("--shard", "0/3", "--shard"), ("--shard", "4/3", "--shard"), ("--shard", "1/0", "--shard"),
        ("--shard", "a/b", "--shard"), ("--shard", "1/2/3", "--shard"), ("--shard", "", "--shard"),
        ("--shard", FULLWIDTH_1 + "/3", "--shard"), ("--shard", " 1/3", "--shard"),
        ("--shard", "-1/3", "--shard"), ("--shard", "1/" + "9" * 11, "no realizations"),
        ("--shard", "1/" + "9" * 40, "--shard"),
        ("--workers", "0", "--workers"), ("--workers", "-1", "--workers"),
        ("--workers", str(10**6), "--workers"), ("--scheduler", "", "--scheduler"),
        ("--device", "tpu", "--device"), ("--device", "", "--device"),
        ("--frobnicate", "1", "--frobnicate")]:
    case(f"run-option{option}={value[:14]}", lambda w, o=option, v=value: run("tiny.toml", o, v),
         needle)
case("run-workers-and-scheduler", lambda w: run("tiny.toml", "--workers", "2", "--scheduler", "tcp://x:1"),
     "--scheduler")
case("run-device-gpu-without-one", lambda w: run("tiny.toml", "--device", "gpu"), "gpu",
     skip="a GPU is usable here" if gpu_usable() else None)
case("run-json-bad-scenario", lambda w: run("nope.toml", "--json"), "nope.toml")
case("unknown-command", lambda w: ["frobnicate"], "frobnicate")
case("run-o-missing-value", lambda w: ["run", "tiny.toml", "-o"], "-o")

# Output paths
case("run-o-empty", lambda w: ["run", "tiny.toml", "--device", "cpu", "-o", ""], "not a file name")
case("run-o-existing-folder", lambda w: ["run", "tiny.toml", "--device", "cpu", "-o", "a_folder"],
     "a_folder", "is a folder")
case("run-o-existing-folder-overwrite", lambda w: [
    "run", "tiny.toml", "--device", "cpu", "-o", "a_folder", "--overwrite"], "a_folder", "is a folder")
case("run-o-existing-file", lambda w: ["run", "tiny.toml", "--device", "cpu", "-o", "run.h5"],
     "run.h5", "--overwrite")
case("run-o-under-a-file", lambda w: ["run", "tiny.toml", "--device", "cpu", "-o", "plain.txt/r.h5"],
     "plain.txt", "is a file")
case("run-o-missing-folder", lambda w: ["run", "tiny.toml", "--device", "cpu", "-o", "nope/r.h5"],
     "nope", "does not exist")
case("run-o-read-only-folder", lambda w: [
    "run", "tiny.toml", "--device", "cpu", "-o", f"{readonly_folder(w)}/r.h5"], "cannot write")
case("run-o-checkpoint-is-a-file", lambda w: (write(w, "out/r.h5.checkpoint", "x"), run("tiny.toml"))[1],
     "r.h5.checkpoint", "not a checkpoint folder")
case("run-resume-another-runs-checkpoint", checkpoint_of_another_run,
     "r.h5.checkpoint", "different run")
case("run-default-folder-is-a-file", lambda w: (write(w, "results", "x"), [
    "run", "tiny.toml", "--device", "cpu"])[1], "results", "default output folder")
case("sample-o-folder", lambda w: ["sample", "tiny.toml", "--realizations", "1", "-o", "a_folder"],
     "a_folder", "is a folder")
case("sample-o-under-a-file", lambda w: ["sample", "tiny.toml", "--realizations", "1",
                                         "-o", "plain.txt/f.h5"], "plain.txt", "is a file")
case("propagate-o-existing", lambda w: ["propagate", "iss.tle", "--start", START, "--duration-min", "10",
                                        "--step-s", "60", "-o", "run.h5"], "run.h5", "--overwrite")
case("merge-o-folder", lambda w: ["merge", "a.h5", "b.h5", "-o", "a_folder"], "a_folder", "is a folder")
case("merge-o-existing", lambda w: ["merge", "a.h5", "b.h5", "-o", "run.h5"], "run.h5", "--overwrite")
case("merge-o-read-only", lambda w: ["merge", "a.h5", "b.h5", "-o", f"{readonly_folder(w)}/m.h5"],
     "cannot write")

# sample and propagate options
case("sample-realizations-0", lambda w: ["sample", "tiny.toml", "--realizations", "0", "-o", "out/f.h5"],
     "--realizations")
case("sample-realizations-1e12", lambda w: ["sample", "tiny.toml", "--realizations", str(10**12),
                                            "-o", "out/f.h5"], "--realizations", "fit", fast=True)
case("sample-format", lambda w: ["sample", "tiny.toml", "--realizations", "1", "-o", "out/f.h5",
                                 "--format", "csv"], "--format")
case("sample-no-output", lambda w: ["sample", "tiny.toml", "--realizations", "1"], "-o")
case("sample-format-omm-into-h5", lambda w: ["sample", "tiny.toml", "--realizations", "1", "-o", "out/f.h5",
                                             "--format", "omm"], "out/f.h5", "'.h5' (an HDF5 file)", "--format is omm")
case("sample-format-h5-into-xml", lambda w: ["sample", "tiny.toml", "--realizations", "1", "-o", "out/f.omm",
                                             "--format", "h5"], "out/f.omm", "(an OMM file)", "--format is h5")

# a file of another kind than the command reads: named by its kind
for argv, needle in [
        (["plot", "ephemeris.h5", "-o", "figs"], "ephemeris.h5: this is an ephemeris file (fragrisk propagate), not a results file"),
        (["plot", "fragments.h5", "-o", "figs"], "fragments.h5: this is a fragments file (fragrisk sample), not a results file"),
        (["encounters", "ephemeris.h5"], "this is an ephemeris file (fragrisk propagate), not a results file"),
        (["merge", "a.h5", "fragments.h5", "-o", "out/m.h5"], "fragments.h5: this is a fragments file"),
        (["plot", "iss.tle", "-o", "figs"], "iss.tle: this is a TLE file, not a results file"),
        (["plot", "tiny.toml", "-o", "figs"], "tiny.toml: this is a scenario (TOML), not a results file"),
        (["plot", "iss.xml", "-o", "figs"], "iss.xml: this is an OMM file (XML), not a results file"),
        (["info", "run.h5"], "run.h5: this is a results file (fragrisk run), not a scenario (TOML)"),
        (["info", "iss.tle"], "iss.tle: this is a TLE file, not a scenario (TOML)"),
        (["propagate", "run.h5", "--start", START, "--duration-min", "2", "--step-s", "60", "-o", "out/e.h5"],
         "run.h5: this is a results file (fragrisk run), not a TLE or OMM file"),
        (["propagate", "ephemeris.h5", "--start", START, "--duration-min", "2", "--step-s", "60", "-o", "out/e.h5"],
         "ephemeris.h5: this is an ephemeris file (fragrisk propagate), not a TLE or OMM file")]:
    case(f"wrong-kind-{argv[0]}-{argv[1]}", lambda w, argv=argv: argv, needle)
for option, value, needle in [
        ("--duration-min", "nan", "--duration-min"), ("--duration-min", "inf", "--duration-min"),
        ("--duration-min", "-5", "--duration-min"), ("--duration-min", "0", "--duration-min"),
        ("--duration-min", FULLWIDTH_1 + "0", "--duration-min"), ("--step-s", "0", "--step-s"),
        ("--step-s", "-1", "--step-s"), ("--step-s", "1e9", "--step-s"),
        ("--step-s", "1e-12", "--step-s"), ("--start", "yesterday", "--start"),
        ("--start", FULLWIDTH_1 + "021-11-15T02:47:00Z", "--start")]:
    case(f"propagate{option}={value[:10]}", lambda w, o=option, v=value: [
        "propagate", "iss.tle", "--start", START, "--duration-min", "10", "--step-s", "60",
        "-o", "out/e.h5", o, v], needle)
case("propagate-step-1e-12-is-fast", lambda w: [
    "propagate", "iss.tle", "--start", START, "--duration-min", "1440", "--step-s", "1e-9",
    "-o", "out/e.h5"], "--step-s", "fit", fast=True)

# calibrate: the observation files and the options
def calibrate_argv(*extra, observed="iss.tle", output="out/c.toml") -> list:
    return ["calibrate", "tiny.toml", "--observed", observed, "--device", "cpu", "-o", output, *extra]


case("calibrate-observed-missing", lambda w: calibrate_argv(observed="nope.tle"),
     "--observed nope.tle", "file not found")
case("calibrate-observed-empty", lambda w: calibrate_argv(observed=write(w, "e.tle", b"")),
     "--observed e.tle", "empty")
case("calibrate-observed-folder", lambda w: calibrate_argv(observed="a_folder"), "a_folder", "folder")
case("calibrate-observed-text", lambda w: calibrate_argv(observed="plain.txt"), "plain.txt")
case("calibrate-observed-results-file", lambda w: calibrate_argv(observed="run.h5"), "run.h5")
case("calibrate-observed-unrelated", lambda w: calibrate_argv(), "--observed iss.tle",
     "cannot belong to the event")
case("calibrate-no-observed", lambda w: ["calibrate", "tiny.toml", "-o", "out/c.toml"], "--observed")
for option, value in [("--min-size-m", "5"), ("--min-size-m", "0"), ("--min-size-m", "nan"),
                      ("--cataloged", "0"), ("--realizations", "0"), ("--bootstrap", "-1"),
                      ("--knobs", "dv_scale,nope")]:
    case(f"calibrate{option}={value}", lambda w, o=option, v=value: calibrate_argv(o, v), option)
case("calibrate-o-existing", lambda w: calibrate_argv(output="run.h5"), "run.h5", "--overwrite")
case("calibrate-o-folder", lambda w: calibrate_argv(output="a_folder"), "a_folder", "is a folder")

# Files given to plot, merge and encounters
for command in ("plot", "merge", "encounters"):
    def argv(path, c=command):
        return {"plot": ["plot", path, "-o", "figs"], "merge": ["merge", path, "b.h5", "-o", "out/m.h5"],
                "encounters": ["encounters", path]}[c]

    for label, make, needles in [
            ("missing", lambda w: "nope.h5", ("nope.h5", "no such file")),
            ("folder", lambda w: "a_folder", ("a_folder", "folder")),
            ("empty", lambda w: write(w, "e.h5", b""), ("e.h5",)),
            ("text", lambda w: "plain.txt", ("plain.txt", "not an HDF5")),
            ("garbage", lambda w: garbage(w, "g.h5"), ("g.h5",)),
            ("truncated", lambda w: write(w, "t.h5", (w / "run.h5").read_bytes()[:3000]), ("t.h5",)),
            ("a-tle-file", lambda w: "iss.tle", ("iss.tle",)),
            ("a-fragments-file", lambda w: "fragments.h5", ("fragments.h5: this is a fragments file", "not a results file")),
            ("a-tle-file-named", lambda w: "iss.tle", ("iss.tle: this is a TLE file, not a results file",)),
            ("no-attributes", lambda w: h5_edit(w, lambda f: [f.attrs.__delitem__(k) for k in list(f.attrs)]),
             ("bad.h5", "not a fragrisk results file")),
            ("nan-expected-collisions", lambda w: h5_edit(w, set_value("expected_collisions", (0, 1), np.nan)),
             ("bad.h5", "expected_collisions", "nan")),
            ("inf-by-time", lambda w: h5_edit(w, set_value("expected_collisions_by_time", (0, 1, 2), np.inf)),
             ("bad.h5", "expected_collisions_by_time", "inf")),
            ("negative-probability", lambda w: h5_edit(w, set_value("collision_probability", (0, 2), -0.5)),
             ("bad.h5", "collision_probability", "-0.5")),
            ("probability-above-1", lambda w: h5_edit(w, set_value("collision_probability", (0, 2), 1.5)),
             ("bad.h5", "collision_probability", "1.5")),
            ("probability-disagrees", lambda w: h5_edit(w, set_value("collision_probability", (0, 2), 0.25)),
             ("bad.h5", "collision_probability", "disagrees")),
            ("histogram-disagrees", lambda w: h5_edit(w, set_value("pc_histogram", (0, 0), 99)),
             ("bad.h5", "pc_histogram")),
            ("negative-fragments", lambda w: h5_edit(w, set_value("fragments_in_orbit", (1, 1), -4.0)),
             ("bad.h5", "fragments_in_orbit")),
            ("strings-for-numbers", lambda w: h5_edit(w, replace_var(
                "expected_collisions", np.array([[b"1e-4"] * 4]))), ("bad.h5", "expected_collisions")),
            ("huge-declared-shape", lambda w: h5_edit(w, huge_declared), ("bad.h5", "expected_collisions")),
            ("seed-attribute-negative", lambda w: h5_edit(w, lambda f: f.attrs.__setitem__("seed", -4)),
             ("bad.h5", "seed")),
            ("sparse-huge", lambda w: sparse(w, "s.h5"), ("s.h5",)),
    ]:
        case(f"{command}-{label}", lambda w, m=make, a=argv: a(m(w)), *needles)
case("plot-existing-figure", figure_exists, "by_size.png", "--overwrite")
case("plot-o-a-file", lambda w: ["plot", "run.h5", "-o", "plain.txt"], "plain.txt", "not a folder")
case("plot-o-under-a-file", lambda w: ["plot", "run.h5", "-o", "plain.txt/figs"], "plain.txt")
case("plot-o-read-only", lambda w: ["plot", "run.h5", "-o", readonly_folder(w)], "cannot")
case("plot-format", lambda w: ["plot", "run.h5", "--format", "jpg"], "--format")
case("merge-different-seeds", lambda w: ["merge", "a.h5", "b_seed.h5", "-o", "out/m.h5"],
     "b_seed.h5", "'seed' is 8", "a.h5")
case("merge-different-scenarios", lambda w: ["merge", "a.h5", "b_lc.h5", "-o", "out/m.h5"],
     "b_lc.h5", "[event] lc_min_m (0.2 vs 0.1)")
case("merge-overlap", lambda w: ["merge", "a.h5", "a.h5", "b.h5", "-o", "out/m.h5"], "a.h5", "overlap")
case("merge-gap", lambda w: ["merge", "a.h5", "-o", "out/m.h5"], "realizations 2..3")
case("merge-nothing", lambda w: ["merge", "-o", "out/m.h5"], "SHARD")

# [population] scenarios
def population(w: Path, *extra: str, start="2021-11-15T02:47:00Z") -> str:
    text = (f'name = "catalog"\n[population]\ntle_file = "{w / "iss.tle"}"\n'
            f'[[targets]]\nname = "ISS"\ntle_file = "{w / "iss.tle"}"\nhard_body_radius_m = 50\n'
            f'[analysis]\nstart = "{start}"\nduration_days = 0.01\n' + "".join(extra))
    (w / "pop.toml").write_text(text)
    return str(w / "pop.toml")


case("population-with-event", lambda w: run(population(w, '[event]\nepoch = "2021-11-15T02:47:00Z"\n')),
     "pop.toml", "[event]", "not allowed with [population]")
case("population-realizations-2", lambda w: run(population(w, "realizations = 2\n")),
     "pop.toml", "realizations", "single realization")
case("population-far-from-start", lambda w: run(population(w, start="2022-06-01T00:00:00Z")),
     "pop.toml", "[population]", "max_epoch_gap_days")
case("population-without-start", lambda w: (population(w), run(_no_start(w)))[1], "pop.toml", "start")
case("population-to-sample", lambda w: ["sample", population(w), "--realizations", "1", "-o", "out/f.h5"],
     "pop.toml", "[population]")


def _no_start(w: Path) -> str:
    path = w / "pop.toml"
    path.write_text("\n".join(line for line in path.read_text().splitlines()
                              if not line.startswith("start")) + "\n")
    return str(path)


# encounters' own options and tables
case("encounters-no-table", lambda w: ["encounters", "run.h5"], "run.h5", "no encounter table")
case("encounters-partial-table", lambda w: ["encounters", h5_edit(
    w, lambda f: f.create_dataset("encounter_miss_km", data=np.zeros(3)))], "bad.h5", "encounter")
for option, value in [("--top", "0"), ("--top", "-2"), ("--top", FULLWIDTH_1), ("--share", "0"),
                      ("--share", "1.5"), ("--share", "nan"), ("--width-s", "0"), ("--width-s", "inf"),
                      ("--within-h", "-1"), ("--within-h", "nan")]:
    case(f"encounters{option}={value}", lambda w, o=option, v=value: ["encounters", "run.h5", o, v], option)
case("encounters-csv-folder", lambda w: ["encounters", "run.h5", "--csv", "a_folder"], "a_folder", "folder")
case("encounters-csv-existing", lambda w: ["encounters", "run.h5", "--csv", "plain.txt"], "plain.txt",
     "--overwrite")
case("encounters-csv-under-a-file", lambda w: ["encounters", "run.h5", "--csv", "plain.txt/e.csv"],
     "plain.txt", "is a file")

# info
case("info-bad-scenario", lambda w: ["info", scenario(w, ("parent", "kind", '"asteroid"'))],
     "bad.toml", "kind", "asteroid")
case("info-device", lambda w: ["info", "--device", "tpu"], "--device", "tpu")


# --- running a case ---------------------------------------------------------------------------------
def copy_of(base: Path, tmp_path: Path) -> Path:
    """The folder of valid inputs, for one case: its files hard-linked (fragrisk writes through
    temporary files and os.replace, so a link is never written through; the snapshot would show
    it if one were)."""
    w = tmp_path / "w"
    shutil.copytree(base, w, symlinks=True, copy_function=os.link)
    return w


def snapshot(folder: Path) -> dict:
    """Every entry under `folder`: files by inode, size and modification time (a file written
    in place changes its size or time, one replaced through os.replace its inode), links by
    target, folders by name."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root) / name
            rel = str(p.relative_to(folder))
            st = p.lstat()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode)
    return out


def fragrisk_in_process(argv, capsys) -> tuple[int, str, str, list, float]:
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        with pytest.raises(SystemExit) as exit_:
            cli.main([str(a) for a in argv])
        elapsed = time.perf_counter() - t0
    out, err = capsys.readouterr()
    return exit_.value.code, out, err, [str(w.message) for w in caught], elapsed


@pytest.fixture(scope="module")
def work(base, tmp_path_factory):
    """One folder for every case (a folder per case costs more than the cases on a slow disk):
    a copy of `base`, put back as it was after each case. Yields (folder, restore)."""
    w = tmp_path_factory.mktemp("bad_inputs_work")
    shutil.copytree(base, w, symlinks=True, dirs_exist_ok=True)
    pristine = snapshot(w)

    def restore() -> None:
        for root, dirs, files in os.walk(w, topdown=False):
            for name in files + dirs:
                p = Path(root) / name
                rel = str(p.relative_to(w))
                if rel in pristine and not p.is_symlink():
                    continue
                if p.is_dir() and not p.is_symlink():
                    p.chmod(0o755)
                    shutil.rmtree(p)
                else:
                    p.unlink()
        if snapshot(w) != pristine:  # a case changed an input: start again from base
            shutil.rmtree(w)
            shutil.copytree(base, w, symlinks=True)

    return w, restore


@pytest.mark.parametrize("make, needles, fast", CASES)
def test_bad_input(make, needles, fast, work, monkeypatch, capsys):
    w, restore = work
    monkeypatch.chdir(w)
    try:
        argv = make(w)
        before = snapshot(w)
        code, out, err, warned, elapsed = fragrisk_in_process(argv, capsys)
        assert code not in (0, None), (code, out, err)
        assert "Traceback" not in out + err
        assert out == "", out
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        for needle in needles:
            assert needle in lines[0], (needle, lines[0])
        assert warned == [], warned
        assert snapshot(w) == before
        if fast:
            assert elapsed < 1.0, f"refused after {elapsed:.2f} s"
    finally:
        restore()


def test_the_table_is_large():
    """The table covers every kind of input (scenario files and fields, TLE columns, OMM files,
    options, output paths, results files): at least 400 cases."""
    assert len(CASES) >= 400, len(CASES)


def test_a_gpu_run_of_the_scenarios_own_count_is_checked_too(base):
    """On the CPU a scenario's own realization count is capped (montecarlo.CPU_DEFAULT_
    REALIZATIONS), so the table cannot reach this through the CLI here: the size check names the
    scenario's field when the count came from it."""
    import dataclasses

    from fragrisk.engine.errors import InputError
    from fragrisk.engine.run.limits import check_run
    from fragrisk.engine.scenario import load_scenario

    s = load_scenario(base / "tiny.toml")
    s = dataclasses.replace(s, analysis=dataclasses.replace(s.analysis, realizations=10**12))
    t0 = time.perf_counter()
    with pytest.raises(InputError) as e:
        check_run(s, "gpu", 10**12, realizations_label=f"{s.source}: [analysis] realizations")
    assert time.perf_counter() - t0 < 1.0
    assert str(e.value).startswith(f"{s.source}: [analysis] realizations = 1,000,000,000,000: ")
    assert "realizations fit" in str(e.value)
    check_run(s, "gpu", 1000, realizations_label="x")  # the built-in count fits


# --- what must still work next to the refusals ----------------------------------------------------
def test_the_largest_seed_goes_through_a_results_file(tmp_path):
    """2**64 - 1 is the largest seed a scenario or --seed may give: written and read back."""
    path = write_results(tmp_path / "s.h5", synthetic_results(np.arange(4), seed=2**64 - 1))
    assert read_results(path).attrs["seed"] == 2**64 - 1



def test_a_gap_beyond_30_days_runs_when_allowed(base, tmp_path, monkeypatch, capsys):
    w = copy_of(base, tmp_path)
    monkeypatch.chdir(w)
    path = scenario(w, ("analysis", "start", '"2021-12-20T02:47:00Z"'), ("analysis", "duration_days", "0.02"),
                    ("analysis", "realizations", "1"))
    code, out, err, _, _ = fragrisk_in_process(["info", path, "--device", "cpu"], capsys)
    assert code == 2 and "max_epoch_gap_days = 30" in err
    code, out, err, _, _ = fragrisk_in_process(["info", path, "--device", "cpu",
                                                "--max-epoch-gap-days", "40"], capsys)
    assert code == 0 and "accepted by max_epoch_gap_days = 40" in err


def test_plot_overwrite_replaces_every_figure(base, tmp_path, monkeypatch, capsys):
    """Without --overwrite one existing figure stops plot before it draws (the table); with it,
    every figure is replaced. The drawing itself is test_plot_cli's: cheap figures stand in."""
    from fragrisk.engine import plots
    from matplotlib.figure import Figure

    w = copy_of(base, tmp_path)
    monkeypatch.chdir(w)
    monkeypatch.setattr(plots, "_FIGURES", tuple((name, lambda src: Figure()) for name, _ in plots._FIGURES))
    # run.h5 has no encounter table: the figures of every results file.
    names = [name for name, _ in plots._FIGURES if name not in plots._ENCOUNTER_FIGURES]
    for name in names:
        (w / "figs" / f"{name}.png").write_bytes(b"old")
    code, out, err, _, _ = fragrisk_in_process(["plot", "run.h5", "-o", "figs", "--overwrite"], capsys)
    assert code == 0
    assert err.splitlines() == [f"note: {name} not drawn: no encounter table (the file was written before "
                                f"fragrisk recorded encounters); run the scenario again with [analysis] "
                                f'encounters = "all"' for name in plots._ENCOUNTER_FIGURES]
    assert out.splitlines() == [str(Path("figs") / f"{name}.png") for name in names]
    assert sorted(p.name for p in (w / "figs").iterdir()) == sorted(f"{n}.png" for n in names)
    for name in names:
        assert (w / "figs" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_a_damaged_checkpoint_batch_is_run_again(base, tmp_path, monkeypatch, capsys):
    """--resume after a crash that left a damaged batch (a cut .npz, a batch of the wrong
    shape): those realizations are run again, and the file equals an uninterrupted run's."""
    from fragrisk.engine.run import jobs
    from fragrisk.engine.scenario import load_scenario

    w = copy_of(base, tmp_path)
    monkeypatch.chdir(w)
    s = load_scenario(w / "tiny.toml")  # absolute here, relative below: the same run
    clean = jobs.run_job(s, "cpu", w / "clean.h5", realizations=3, checkpoint=False)
    out = w / "out" / "r.h5"

    def stop_after_all(done, total, batch):
        if done == total:
            raise KeyboardInterrupt  # after the last checkpoint batch, before the results file

    with pytest.raises(KeyboardInterrupt):
        jobs.run_job(s, "cpu", out, realizations=3, batch_size=1, on_progress=stop_after_all)
    folder = jobs.checkpoint_dir(out)
    batches = sorted(folder.glob("batch_*.npz"))
    assert len(batches) == 3 and not out.exists()
    batches[0].write_bytes(batches[0].read_bytes()[:200])           # cut short: BadZipFile
    with np.load(batches[1]) as z:                                   # readable, wrong shapes
        arrays = {k: z[k] for k in z.files}
    arrays["by_time"] = arrays["by_time"][..., :2]
    np.savez(batches[1], **arrays)
    code, stdout, err, _, _ = fragrisk_in_process(
        ["run", "tiny.toml", "--device", "cpu", "--realizations", "3", "--batch-size", "1",
         "-o", str(out), "--resume"], capsys)
    assert code == 0, err
    assert "resumed: 1 realization from" in err
    a, b = read_results(clean.path), read_results(out)
    np.testing.assert_array_equal(a.expected_collisions_by_time, b.expected_collisions_by_time)
    np.testing.assert_array_equal(a.fragments_in_orbit, b.fragments_in_orbit)
    assert not folder.exists()


# --- signals (subprocesses: slow) ------------------------------------------------------------------
def _long_run(scenario_path: Path, out: Path, *extra, new_session=False) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from fragrisk import cli; cli.main()", "run", str(scenario_path),
         "--device", "cpu", "--realizations", "200", "--batch-size", "1", "-o", str(out), *extra],
        cwd=out.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=new_session)


def _wait_for_batches(proc, folder: Path, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(list(folder.glob("batch_*.npz"))) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint batches"
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.parametrize("dask", [False, True], ids=["one-process", "dask-workers"])
def test_sigterm_keeps_the_checkpoint_and_exits_143(base, tmp_path, dask):
    """A batch scheduler's SIGTERM (to the whole process group where Dask workers run): one
    line, exit 143, finished batches kept, no results file, nothing temporary left behind."""
    pytest.importorskip("distributed") if dask else None
    w = copy_of(base, tmp_path)
    out = w / "out" / "r.h5"
    folder = out.with_name("r.h5.checkpoint")
    extra = ("--workers", "1") if dask else ()
    proc = _long_run(w / "tiny.toml", out, *extra, new_session=dask)
    try:
        _wait_for_batches(proc, folder, 2)
        if dask:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGTERM)
        stdout, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL) if dask else proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert "Traceback" not in err and stdout == ""
    assert err.splitlines() == [f"terminated (SIGTERM): finished batches are kept in {folder}; "
                                f"continue with the same command and --resume"], err
    assert not out.exists() and not list(out.parent.glob(".r.h5.*"))
    assert (folder / "manifest.json").exists() and len(list(folder.glob("batch_*.npz"))) >= 2


def test_an_ephemeris_dataset_given_to_a_figure_is_named(base):
    """The notebook path: an xarray Dataset of an ephemeris or fragments file is named as such."""
    xr = pytest.importorskip("xarray")
    pytest.importorskip("matplotlib")
    from fragrisk.engine import plots
    from fragrisk.engine.errors import InputError

    for name, kind in (("ephemeris.h5", "an ephemeris file (fragrisk propagate)"),
                       ("fragments.h5", "a fragments file (fragrisk sample)")):
        with xr.open_dataset(base / name, engine="h5netcdf") as ds:
            with pytest.raises(InputError) as e:
                plots.gabbard(ds)
        assert str(e.value).endswith(f"{name}: this is {kind}, not a results file (fragrisk run)")
