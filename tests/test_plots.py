"""engine.plots: every figure renders from a path, a Dataset or a RunResults, with units."""

from __future__ import annotations

import io
import re
import struct
import warnings

import h5py
import numpy as np
import pytest

pytest.importorskip("matplotlib")

from fragrisk.engine import plots  # noqa: E402
from fragrisk.engine import results as res  # noqa: E402
from fragrisk.engine.errors import InputError  # noqa: E402
from fragrisk.engine.results import RunResults  # noqa: E402

UNIT = re.compile(r"\[[^\]]+\]|\([^)]+\)")
FIGURES = ("gabbard", "pc_histogram", "rate_vs_time", "by_size", "fragments_in_orbit")
SCENARIO = ('name = "synthetic"\n[event]\nepoch = "2021-11-15T01:47:00Z"\n'
            '[analysis]\nstart = "2021-11-15T02:47:00Z"\n')


def make_results(n=30, *, realization=None, zero=False, scenario=SCENARIO) -> RunResults:
    """Seeded synthetic results: K = 2 targets, T = 48 hourly bins, S = 6 size bins."""
    rng = np.random.default_rng(5)
    K, T, S, F = 2, 48, 6, 300
    real = np.arange(n) if realization is None else np.asarray(realization)
    lam = 10.0 ** rng.uniform(-10, -1, size=(K, n))
    lam[:, ::5] = 0.0
    if zero:
        lam[:] = 0.0
    by_time = lam[..., None] * rng.dirichlet(np.ones(T), size=(K, n))
    by_size = lam[..., None] * rng.dirichlet(np.ones(S), size=(K, n))
    F = F if 0 in set(real.tolist()) else 0
    return RunResults(
        target_names=["ISS", "CSS"], realization=real,
        time_edges_s=np.arange(T + 1) * 3600.0, size_edges_m=np.geomspace(0.1, 10.0, S + 1),
        expected_collisions=by_time.sum(-1)[:, real],
        expected_collisions_by_time=by_time[:, real], expected_collisions_by_size=by_size[:, real],
        fragments_in_orbit=(1500 - 5 * np.arange(T) + rng.normal(0, 20, (n, T)))[real],
        n_fragments=rng.integers(1400, 1600, n)[real],
        gabbard_apogee_km=rng.uniform(480, 1000, F), gabbard_perigee_km=rng.uniform(250, 480, F),
        gabbard_period_min=rng.uniform(92, 102, F),
        target_perigee_km=[415.0, 380.0], target_apogee_km=[422.0, 392.0],
        attrs=dict(scenario=scenario, seed=3, n_realizations=n, device="cpu", elapsed_s=42.0,
                   analysis_start="2021-11-15T02:47:00Z", am_sampling="mixture",
                   mass_policy="remnants", kernel="sphere", kernel_radius_km=10.0),
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    r = make_results()
    path = res.write_results(tmp_path_factory.mktemp("plots") / "run.h5", r)
    return r, path


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def assert_units_everywhere(fig) -> None:
    axes = [ax for ax in fig.axes if ax.axison]
    assert axes
    for ax in axes:
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            assert UNIT.search(label), f"axis label without a unit: {label!r}"


def render(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=plots.DPI)
    return buf.getvalue()


def assert_renders(name: str, kind: str, r, path, *, page_axes: int) -> None:
    """plots.<name> draws from one kind of source (the RunResults `r`, the results file `path`,
    or that file opened as an xarray Dataset, the lenient loader) without a warning, at the
    figure's (or the page's) pixel size, with a unit on every axis label, and with one axes (the
    page: `page_axes`, the text panel not counted)."""
    import xarray as xr

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if kind == "dataset":
            with xr.open_dataset(path, engine="h5netcdf") as ds:
                fig = getattr(plots, name)(ds)
        else:
            fig = getattr(plots, name)(path if kind == "path" else r)
        data = render(fig)
    assert len(data) > 10_000
    expected = plots.PAGE_SIZE_PX if name == "summary_page" else plots.FIGURE_SIZE_PX
    assert png_size(data) == expected
    assert_units_everywhere(fig)
    assert len([ax for ax in fig.axes if ax.axison]) == (page_axes if name == "summary_page" else 1)


@pytest.mark.parametrize("kind", ["path", "dataset", "runresults"])
@pytest.mark.parametrize("name", FIGURES + ("summary_page",))
def test_every_figure_renders_from_every_source(run, name, kind):
    r, path = run
    assert_renders(name, kind, r, path, page_axes=5)


def test_pc_histogram_marks_mean_and_median(run):
    r, path = run
    ax = plots.pc_histogram(path).axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    P = r.collision_probability
    for k, name in enumerate(("ISS", "CSS")):
        assert f"{name}: mean P = {P[k].mean():.3g}" in labels
        assert f"{name}: median P = {np.median(P[k]):.3g}" in labels
    mean_line = [ln for ln in ax.lines if ln.get_label().startswith("ISS: mean P")][0]
    assert mean_line.get_xdata()[0] == pytest.approx(P[0].mean())
    heights = [patch for patch in ax.patches]  # one stairs patch per target
    assert len(heights) == 2


def dates(*iso: str) -> np.ndarray:
    """matplotlib date numbers of UTC times (what the time axes plot)."""
    from matplotlib.dates import date2num

    return date2num(np.array(iso, dtype="datetime64[ns]"))


def test_rate_vs_time_is_in_utc_and_per_hour(run):
    r, path = run
    ax = plots.rate_vs_time(path).axes[0]
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "time [UTC]; breakup event 2021-11-15 01:47 UTC"
    assert ax.get_ylabel() == "expected collisions per hour [1/h]"
    median = [ln for ln in ax.lines if ln.get_label() == "ISS: median"][0]
    # the bin centres in UTC: the analysis start 02:47 plus 0.5 h, 1.5 h, ...
    np.testing.assert_allclose(median.get_xdata()[:2], dates("2021-11-15T03:17", "2021-11-15T04:17"), rtol=0,
                               atol=1e-9)  # days: 0.1 ms
    np.testing.assert_allclose(ax.get_xlim(), dates("2021-11-15T02:47", "2021-11-17T02:47"), rtol=0, atol=1e-9)
    np.testing.assert_allclose(median.get_ydata(),
                               np.median(r.expected_collisions_by_time[0], axis=0) / 1.0)
    # Tick labels are dates and hours ("Nov-16", "06:00"), not hours since the start.
    fig = ax.figure
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert "Nov-16" in ticks and any(re.fullmatch(r"\d\d:00", t) for t in ticks), ticks


def test_time_axis_without_event_says_from_the_analysis_start():
    r = make_results(scenario='name = "catalog"\n[population]\ntle_file = "x.tle"\n')
    ax = plots.fragments_in_orbit(r).axes[0]
    assert ax.get_xlabel() == "time [UTC]; from 2021-11-15 02:47 UTC"
    np.testing.assert_allclose(ax.lines[0].get_xdata()[0], dates("2021-11-15T03:17")[0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), np.median(r.fragments_in_orbit, axis=0))


def test_legends_name_only_what_is_drawn():
    """A median that is 0 in every bin is not drawn on the log axis, so not in the legend."""
    r = make_results()
    bt = np.zeros_like(r.expected_collisions_by_time)
    bt[:, :3, 5] = 1e-4  # 3 of 30 realizations: the mean > 0 in bin 5, the median 0 everywhere
    kw = {f: getattr(r, f) for f in ("target_names", "realization", "time_edges_s", "size_edges_m",
                                     "fragments_in_orbit", "n_fragments", "gabbard_apogee_km",
                                     "gabbard_perigee_km", "gabbard_period_min", "target_perigee_km",
                                     "target_apogee_km", "attrs")}
    r = RunResults(**kw, expected_collisions=bt.sum(-1), expected_collisions_by_time=bt,
                   expected_collisions_by_size=np.repeat(bt.sum(-1)[..., None] / 6, 6, -1))
    ax = plots.rate_vs_time(r).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "ISS: mean" in labels and "ISS: median" not in labels
    assert {ln.get_label() for ln in ax.lines} == {"ISS: mean", "CSS: mean"}


def test_gabbard_shows_target_bands_and_fragments(run):
    r, path = run
    ax = plots.gabbard(path).axes[0]
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets[:, 0], r.gabbard_period_min)
    np.testing.assert_allclose(offsets[:, 1], r.gabbard_apogee_km)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "ISS altitude band 415–422 km" in labels and "CSS altitude band 380–392 km" in labels


def test_figures_of_a_shard_without_realization_0_and_of_zero_risk(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shard = make_results(30, realization=np.arange(10, 30))
        fig = plots.gabbard(shard)
        assert png_size(render(fig)) == plots.FIGURE_SIZE_PX
        words = " ".join(t.get_text() for t in fig.axes[0].texts).replace("\n", " ")
        assert "this shard does not hold realization 0, whose fragments the diagram shows" in words
        assert fig.axes[0].get_legend() is not None  # the target band, not the empty markers
        assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
            "ISS altitude band 415–422 km", "CSS altitude band 380–392 km"]
        lo, hi = fig.axes[0].get_xlim()
        assert 88 < lo < hi < 100  # about the targets' periods (92 min), not -0.05..0.05
        quiet = make_results(zero=True)
        for name in FIGURES + ("summary_page",):
            fig = getattr(plots, name)(quiet)
            render(fig)
            assert_units_everywhere(fig)
        assert plots.rate_vs_time(quiet).axes[0].get_yscale() == "linear"


# Renders every figure once per format (twice for PNG): slow. The quick loop draws every figure
# through plot_all in test_plot_cli.test_png_default_folder.
@pytest.mark.slow
@pytest.mark.parametrize("fmt,magic", [("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_plot_all_writes_every_figure(tmp_path, fmt, magic):
    path = res.write_results(tmp_path / "run.h5", make_results())
    written = plots.plot_all(path, fmt=fmt)
    folder = tmp_path / "run_plots"
    names = ["gabbard", "pc_histogram", "rate_vs_time", "by_size", "fragments_in_orbit", "summary"]
    assert written == [folder / f"{n}.{fmt}" for n in names]
    for p in written:
        data = p.read_bytes()
        assert data.startswith(magic) and len(data) > 5_000, p
        if fmt == "png":
            expected = plots.PAGE_SIZE_PX if p.stem == "summary" else plots.FIGURE_SIZE_PX
            assert png_size(data) == expected
    if fmt == "png":  # an explicit folder, created with its parents; format case-insensitive
        other = plots.plot_all(path, tmp_path / "elsewhere" / "figs", fmt=".PNG")
        assert [p.parent for p in other] == [tmp_path / "elsewhere" / "figs"] * 6


def test_plot_all_refusals(tmp_path, run):
    _, path = run
    with pytest.raises(InputError) as e:
        plots.plot_all(path, tmp_path / "x", fmt="jpg")
    assert str(e.value) == "--format: 'jpg' is not one of png, pdf, svg"

    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(InputError) as e:
        plots.plot_all(foreign)
    assert str(e.value) == (f"{foreign}: not a fragrisk results file "
                            "(global attribute 'source' is None)")
    assert not (tmp_path / "foreign_plots").exists()

    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(InputError, match="damaged or not an HDF5 file"):
        plots.rate_vs_time(text)


def test_missing_variable_fails_only_the_figures_that_need_it(tmp_path, run):
    _, path = run
    partial = tmp_path / "partial.h5"
    partial.write_bytes(path.read_bytes())
    with h5py.File(partial, "a") as f:
        del f["gabbard_period_min"]
    with pytest.raises(InputError) as e:
        plots.gabbard(partial)
    msg = str(e.value)
    assert msg == f"{partial}: variable 'gabbard_period_min' is missing; the gabbard figure needs it"
    assert "\n" not in msg
    render(plots.rate_vs_time(partial))  # figures that do not need it still work
    with pytest.raises(InputError, match="gabbard_period_min"):
        plots.plot_all(partial)
    assert not (tmp_path / "partial_plots").exists()  # nothing written


def test_bad_shape_in_a_dataset_is_one_line(run):
    import xarray as xr

    _, path = run
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        bad = ds.assign(fragments_in_orbit=(("realization", "t2"), np.zeros((30, 10))))
        with pytest.raises(InputError) as e:
            plots.fragments_in_orbit(bad)
    msg = str(e.value)
    assert "'fragments_in_orbit' has shape (30, 10); expected (realization, time) = (30, 48)" in msg
    assert "\n" not in msg


def test_unknown_source_type():
    with pytest.raises(InputError, match="is not a results path, xarray Dataset or RunResults"):
        plots.by_size(42)


# --- the encounter figures ----------------------------------------------------------------------

def with_encounters(r: RunResults, seed: int = 9) -> RunResults:
    """r with an encounter table: each target's lambda of each realization split into 1-3
    encounters, their times clustered every 93 minutes as the ISS's passes through a cloud."""
    import dataclasses

    from fragrisk.engine.results.encounter_table import EncounterTable

    rng = np.random.default_rng(seed)
    cols = {k: [] for k in ("realization", "target", "fragment", "tca_s", "miss_km", "speed_km_s",
                            "expected_collisions", "lc_m")}
    for k in range(r.n_targets):
        for j, real in enumerate(r.realization):
            lam = r.expected_collisions[k, j]
            if lam == 0:
                continue
            parts = rng.dirichlet(np.ones(rng.integers(1, 4))) * lam
            for share in parts:
                cols["realization"].append(real)
                cols["target"].append(k)
                cols["fragment"].append(rng.integers(0, 1500))
                cols["tca_s"].append(5580.0 * rng.integers(0, 30) + rng.normal(0, 40) + 600.0)
                cols["miss_km"].append(rng.uniform(0, 10))
                cols["speed_km_s"].append(rng.uniform(8, 15))
                cols["expected_collisions"].append(share)
                cols["lc_m"].append(rng.uniform(0.1, 1))
    table = EncounterTable(**{k: np.array(v, dtype=np.int64 if k in ("realization", "target", "fragment") else float)
                              for k, v in cols.items()})
    return dataclasses.replace(r, encounters=table.canonical())


@pytest.fixture(scope="module")
def run_with_table(tmp_path_factory):
    r = with_encounters(make_results())
    path = res.write_results(tmp_path_factory.mktemp("plots-encounters") / "run.h5", r)
    return r, path


@pytest.mark.parametrize("name, kind", [("encounter_timeline", "dataset"), ("risk_windows", "dataset"),
                                        ("summary_page", "path")])
def test_encounter_figures_render(run_with_table, name, kind):
    """From an xarray Dataset (the lenient loader) and from a file; RunResults in the tests below.
    The page adds the two encounter figures to the five."""
    r, path = run_with_table
    assert_renders(name, kind, r, path, page_axes=7)


def test_encounter_timeline_shows_every_encounter(run_with_table):
    r, _ = run_with_table
    ax = plots.encounter_timeline(r).axes[0]
    from matplotlib.dates import date2num

    points = np.concatenate([c.get_offsets() for c in ax.collections])
    assert points.shape[0] == len(r.encounters)
    # x: the time of closest approach in UTC
    np.testing.assert_allclose(np.sort(points[:, 0]), np.sort(date2num(r.encounter_tca_utc)), rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.sort(points[:, 1]), np.sort(r.encounters.miss_km))


def test_risk_windows_figure_marks_the_windows_of_the_first_day(run_with_table):
    from fragrisk.engine.results.windows import table_risk_windows

    from matplotlib.dates import date2num

    r, _ = run_with_table
    ax = plots.risk_windows(r).axes[0]
    assert ax.get_ylabel() == "expected collisions per minute [1/min]"
    curves = [p for p in ax.patches if p.get_label().endswith("mean expected collisions per minute")]
    assert len(curves) == 2
    for k, name in enumerate(r.target_names.tolist()):
        for share in plots.RISK_WINDOW_SHARES:
            want = table_risk_windows(r.encounters, k, r.n_realizations_held, share=share,
                                      width_s=plots.RISK_WINDOW_WIDTH_S, end_s=86400.0)
            n = len(want.windows)
            label = f"{name}: the {n} window{'' if n == 1 else 's'} of 2 min carrying {100 * share:g} %"
            bars = [c for c in ax.collections if c.get_label() == label]
            assert len(bars) == 1 and len(bars[0].get_paths()) == len(want.windows) > 0, label
            # Each bar in its strip above the curves (axes fractions > the curves' top), at
            # its window's centre in UTC.
            centres = np.array([0.5 * (p.vertices[:, 0].min() + p.vertices[:, 0].max()) for p in bars[0].get_paths()])
            want_c = date2num(r.utc([0.5 * (w.start_s + w.end_s) for w in want.windows]))
            np.testing.assert_allclose(np.sort(centres), np.sort(want_c), rtol=0, atol=1e-6)
            assert min(p.vertices[:, 1].min() for p in bars[0].get_paths()) > 0.6


@pytest.mark.slow  # renders all eight figures; the quick loop draws them in test_plot_cli
def test_plot_all_with_and_without_the_table(tmp_path, run_with_table):
    _, path = run_with_table
    written = plots.plot_all(path, tmp_path / "with")
    assert [p.stem for p in written] == ["gabbard", "pc_histogram", "rate_vs_time", "by_size", "fragments_in_orbit",
                                         "encounter_timeline", "risk_windows", "summary"]
    # A file as written before the table existed: plot_all gives the other six figures
    # (test_plot_all_writes_every_figure); the encounter figures alone say why they cannot.
    old = res.write_results(tmp_path / "old.h5", make_results())
    with pytest.raises(InputError) as e:
        plots.encounter_timeline(old)
    msg = str(e.value)
    assert "no encounter table" in msg and "encounter_timeline figure" in msg and "\n" not in msg


def test_a_dataset_without_the_analysis_start_is_one_line(run):
    import xarray as xr

    _, path = run
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        bare = ds.copy()
        del bare.attrs["analysis_start"]
        for figure in (plots.rate_vs_time, plots.summary_page):
            with pytest.raises(InputError) as e:
                figure(bare)
            assert "global attribute 'analysis_start' is missing" in str(e.value)
