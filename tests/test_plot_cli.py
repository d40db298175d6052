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


def tiny_scenario(folder: Path, *, days: float = 0.3, lc_min_m: float = 0.1, name: str = "tiny") -> Path:
    """The built-in scenario, shortened: 0.3 days in 120 s steps (4 encounters in 3 realizations;
    0.1 days with fragments >= 0.2 m: none)."""
    text = (DATA / "cosmos1408.toml").read_text()
    replacements = {
        r'^tle_file = "(.+)"$': lambda m: f'tle_file = "{(DATA / m.group(1)).as_posix()}"',
        r"^lc_min_m = .*$": f"lc_min_m = {lc_min_m}",
        r"^duration_days = .*$": f"duration_days = {days}",
        r"^step_s = .*$": "step_s = 120",
        r"^time_bin_s = .*$": "time_bin_s = 1800",
    }
    for pattern, new in replacements.items():
        text, n = re.subn(pattern, new, text, flags=re.M)
        assert n >= 1, pattern
    path = folder / f"{name}.toml"
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
    out = run_file(folder, tiny_scenario(folder), "tiny.h5", "--realizations", "3")
    assert out.is_file()
    return out


def run_file(folder: Path, scenario: Path, name: str, *extra: str) -> Path:
    out = folder / name
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        with pytest.raises(SystemExit) as exit_:
            cli.main(["run", str(scenario), "--device", "cpu", "--jobs", "1", "-o", str(out), *extra])
    assert exit_.value.code == 0
    return out


@pytest.fixture(scope="module")
def quiet_file(tmp_path_factory) -> Path:
    """A breakup run without any encounter (0.1 days, fragments >= 0.2 m)."""
    folder = tmp_path_factory.mktemp("plot_cli_quiet")
    return run_file(folder, tiny_scenario(folder, days=0.1, lc_min_m=0.2, name="quiet"), "quiet.h5",
                    "--realizations", "3")


def population_scenario(folder: Path, days: float) -> Path:
    """The tracked debris of engine/data (half of COSMOS 1408's, January 2022) against the ISS."""
    path = folder / "debris.toml"
    path.write_text(f'''name = "debris"
[population]
tle_file = "{(DATA / "cosmos1408_debris_2022-01-11_half.tle").as_posix()}"
[[targets]]
name = "ISS"
tle_file = "{(DATA / "iss_2021-11-15.tle").as_posix()}"
hard_body_radius_m = 66.1
[analysis]
start = "2022-01-11T00:00:00Z"
duration_days = {days}
step_s = 60
max_epoch_gap_days = 60
''')
    return path


@pytest.fixture(scope="module")
def population_file(tmp_path_factory) -> Path:
    """A population run of 3 days: one encounter, 65 h after the start (none in the first day)."""
    folder = tmp_path_factory.mktemp("plot_cli_population")
    return run_file(folder, population_scenario(folder, 3), "debris.h5")


def texts(fig) -> str:
    """Every text of a figure (titles, notes, words, labels, legends), one string."""
    out = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    return " ".join(" ".join(out).split())


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


POPULATION_NOT_DRAWN = ("pc_histogram", "by_size", "risk_windows")


def test_a_population_run_plots_what_applies_and_says_why_not_the_rest(population_file, capsys):
    code, out, err = fragrisk(capsys, "plot", population_file)
    assert code == 0
    folder = population_file.parent / f"{population_file.stem}_plots"
    assert listed_paths(out) == [folder / f"{n}.png" for n in NAMES if n not in POPULATION_NOT_DRAWN]
    notes = err.splitlines()
    assert [line.split(" not drawn: ")[0] for line in notes] == [f"note: {n}" for n in POPULATION_NOT_DRAWN]
    assert "sizes unknown: a population's objects count as points" in notes[1]
    assert "no encounter in the first 24 h" in notes[2] and "2022-01-13" in notes[2]


# Sentences that are false of a population run (no breakup event, no realization 0 to miss,
# sizes unknown, no encounter on the first day).
FALSE_OF_A_POPULATION = ("does not hold realization 0", "event epoch", "breakup event", "0 carry",
                         "0 windows", "fragment characteristic length", "5–95 %")


@pytest.mark.parametrize("name", FIGURES)
def test_a_population_runs_figures_say_nothing_false(population_file, name):
    fig = getattr(plots, name)(population_file)
    words = texts(fig)
    for false in FALSE_OF_A_POPULATION:
        assert false not in words, (name, false, words)
    if name in ("gabbard", "summary_page"):
        assert "Gabbard diagram of the objects at the analysis start, 2022-01-11 00:00 UTC" in words
        ax = fig.axes[0]
        assert 80 < ax.get_xlim()[0] < ax.get_xlim()[1] < 110  # the objects' periods [min]
    if name in ("by_size", "summary_page"):
        assert "sizes unknown" in words
    if name in ("risk_windows", "summary_page"):
        assert "no encounter in the first 24 h" in words and "2022-01-13" in words
    if name in ("rate_vs_time", "fragments_in_orbit", "encounter_timeline"):
        assert fig.axes[0].get_xlabel() == "time [UTC]; from 2022-01-11 00:00 UTC"
    if name == "summary_page":
        assert "(fixed objects)" in words and "a fixed population of 462 objects (no breakup)" in words


def test_a_run_without_encounters(quiet_file, capsys):
    code, out, err = fragrisk(capsys, "plot", quiet_file)
    assert code == 0
    assert [p.stem for p in listed_paths(out)] == [n for n in NAMES if n not in plots._ENCOUNTER_FIGURES]
    assert err.splitlines() == [f"note: {n} not drawn: no encounter in any realization"
                                for n in plots._ENCOUNTER_FIGURES]
    for name in ("encounter_timeline", "risk_windows", "summary_page"):
        words = texts(getattr(plots, name)(quiet_file))
        assert ("no encounter: no fragment passed through a target's kernel sphere" in words
                or "no encounter in the whole 2.4 h window: no risk windows" in words), (name, words)
        assert "0 carry" not in words and "0 windows" not in words


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
