"""`fragrisk plot` end to end: a results file written by the real `fragrisk run` on a tiny
scenario, every figure in every format, units on every axis, and one-line refusals."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("matplotlib")

from fragrisk import cli  # noqa: E402
from fragrisk.engine import plots  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "engine" / "data"
NAMES = ("gabbard", "pc_histogram", "rate_vs_time", "by_size", "fragments_in_orbit", "encounter_timeline",
         "risk_windows", "summary")
FIGURES = ("gabbard", "pc_histogram", "rate_vs_time", "by_size", "fragments_in_orbit",
           "encounter_timeline", "risk_windows", "summary_page")
UNIT = re.compile(r"\[[^\]]+\]")


def tiny_scenario(folder: Path) -> Path:
    """The built-in scenario, shortened: 0.1 days in 120 s steps, fragments >= 0.2 m."""
    text = (DATA / "cosmos1408.toml").read_text()
    replacements = {
        r'^tle_file = "(.+)"$': lambda m: f'tle_file = "{(DATA / m.group(1)).as_posix()}"',
        r"^lc_min_m = .*$": "lc_min_m = 0.2",
        r"^duration_days = .*$": "duration_days = 0.1",
        r"^step_s = .*$": "step_s = 120",
        r"^time_bin_s = .*$": "time_bin_s = 1800",
    }
    for pattern, new in replacements.items():
        text, n = re.subn(pattern, new, text, flags=re.M)
        assert n >= 1, pattern
    path = folder / "tiny.toml"
    path.write_text(text)
    return path


def fragrisk(capsys, *args: str) -> tuple[int, str, str]:
    """cli.main in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def fragrisk_process(*args: str) -> subprocess.CompletedProcess:
    """The console entry point in a fresh interpreter (stderr as a user sees it)."""
    return subprocess.run([sys.executable, "-c", "from fragrisk import cli; cli.main()", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def results_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plot_cli")
    out = folder / "tiny.h5"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        with pytest.raises(SystemExit) as exit_:
            cli.main(["run", str(tiny_scenario(folder)), "--realizations", "3", "--device", "cpu",
                      "-o", str(out)])
    assert exit_.value.code == 0
    assert out.is_file()
    return out


def listed_paths(stdout: str) -> list[Path]:
    return [Path(line) for line in stdout.splitlines()]


# --- every figure in every format -----------------------------------------------------------------
def test_png_default_folder(results_file, capsys):
    code, out, err = fragrisk(capsys, "plot", results_file)
    assert (code, err) == (0, "")
    folder = results_file.parent / f"{results_file.stem}_plots"
    assert listed_paths(out) == [folder / f"{n}.png" for n in NAMES]
    from matplotlib.image import imread

    for p in listed_paths(out):
        assert p.is_file() and p.stat().st_size > 5_000, p
        w, h = plots.PAGE_SIZE_PX if p.stem == "summary" else plots.FIGURE_SIZE_PX
        image = imread(p)
        assert image.shape[:2] == (h, w), p
        assert image[..., :3].std() > 0.01, f"{p}: blank image"


@pytest.mark.slow  # renders every figure again; test_png_default_folder covers the command quickly
@pytest.mark.parametrize("fmt", ["pdf", "svg"])
def test_vector_formats_into_a_folder(results_file, tmp_path, capsys, fmt):
    folder = tmp_path / "figs" / fmt
    code, out, err = fragrisk(capsys, "plot", results_file, "--format", fmt, "-o", folder)
    assert (code, err) == (0, "")
    assert listed_paths(out) == [folder / f"{n}.{fmt}" for n in NAMES]
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.{fmt}" for n in NAMES)
    for p in listed_paths(out):
        data = p.read_bytes()
        assert len(data) > 5_000, p
        w_in, h_in = plots.PAGE_SIZE_IN if p.stem == "summary" else plots.FIGURE_SIZE_IN
        if fmt == "pdf":
            assert data.startswith(b"%PDF")
            box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
            assert box and (float(box[1]), float(box[2])) == (72 * w_in, 72 * h_in), p
        else:
            root = ET.fromstring(data)
            assert root.tag.endswith("svg")
            assert (root.get("width"), root.get("height")) == (f"{72 * w_in:g}pt",
                                                               f"{72 * h_in:g}pt"), p


@pytest.mark.parametrize("name", FIGURES)
def test_every_axis_of_every_figure_has_a_unit(results_file, name):
    fig = getattr(plots, name)(results_file)
    axes = [ax for ax in fig.axes if ax.axison]
    assert len(axes) == (7 if name == "summary_page" else 1)  # a run writes the encounter table
    for ax in axes:
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            assert UNIT.search(label), f"{name}: axis label without a unit: {label!r}"


# --- refusals: one line on stderr, non-zero exit, nothing written --------------------------------
def assert_one_line_refusal(proc: subprocess.CompletedProcess, expected: str) -> None:
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.endswith("\n"), proc.stderr
    assert proc.stderr.startswith("error: ")
    assert expected in proc.stderr, proc.stderr


def test_an_hdf5_file_without_the_attributes(tmp_path):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["expected_collisions"] = np.zeros((1, 3))
    proc = fragrisk_process("plot", foreign, "-o", tmp_path / "figs")
    assert_one_line_refusal(proc, f"{foreign}: not a fragrisk results file")
    assert not (tmp_path / "figs").exists()


def test_a_text_file(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not HDF5\n")
    proc = fragrisk_process("plot", text, "--format", "pdf")
    assert_one_line_refusal(proc, f"{text}: damaged or not an HDF5 file")
    assert not (tmp_path / "notes_plots").exists()


@pytest.mark.parametrize("variable,figure", [("gabbard_period_min", "gabbard"),
                                             ("fragments_in_orbit", "fragments_in_orbit")])
def test_a_results_file_lacking_a_variable(results_file, tmp_path, variable, figure):
    partial = tmp_path / "partial.h5"
    partial.write_bytes(results_file.read_bytes())
    with h5py.File(partial, "a") as f:
        del f[variable]
    proc = fragrisk_process("plot", partial, "-o", tmp_path / "figs")
    assert_one_line_refusal(
        proc, f"{partial}: variable {variable!r} is missing; the {figure} figure needs it")
    assert proc.returncode == 2
    assert not (tmp_path / "figs").exists()  # checked before anything is written
