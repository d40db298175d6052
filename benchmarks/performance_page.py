"""docs/performance.md, written from the benchmark JSON files, so the page cannot go stale.

    python -m benchmarks.performance_page            # rewrite docs/performance.md
    python -m benchmarks.performance_page --check    # exit 1 if the page differs from the files

Every number on the page comes from a file under benchmarks/results/ (subfolders included, e.g.
a GPU check's folder), and every row says which file and which machine gave it. The text around
the tables holds no measured number. tests/test_docs.py regenerates the page and fails when the
committed one differs: rerun this after a benchmark writes its JSON.

Only the standard library is used, so the page can be made anywhere the repository is.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
PAGE = REPO / "docs" / "performance.md"

#: Files left out of the tables, with the reason the page gives.
SKIPPED = {
    "profile_risk_kernel_ncu_run": "the fused kernel run under Nsight Compute, whose timings the "
                                   "profiler inflates; its operation counts are in the kernel section",
}


# --- numbers ------------------------------------------------------------------------------------

def num(x) -> str:
    """Three significant digits; 1.57e10 rather than 1.57e+10; integers with separators."""
    if x is None:
        return ""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        a = abs(x)
        if a == 0:
            return "0"
        if a >= 1e5 or a < 1e-2:
            mantissa, exponent = f"{x:.2e}".split("e")
            return f"{mantissa}e{int(exponent)}"
        if a >= 1e3:
            return f"{x:,.0f}"
        return f"{x:.3g}"
    return str(x)


def percent(x) -> str:
    return "" if x is None else f"{100 * x:.3g} %"


def mib(x) -> str:
    return "" if not x else f"{x:.0f} MiB"


# --- the files ----------------------------------------------------------------------------------

def load(results: Path) -> list[tuple[str, dict]]:
    """[(path relative to results/, data)] of every JSON file, sorted; a file whose content
    repeats an earlier one (gpu_check.sh copies its JSON up) is listed once, under its first
    path."""
    out, seen = [], set()
    for path in sorted(results.rglob("*.json"), key=lambda p: (len(p.relative_to(results).parts), p)):
        text = path.read_text(encoding="utf-8")
        key = json.dumps(json.loads(text), sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        out.append((path.relative_to(results).as_posix(), json.loads(text)))
    return out


def kind(name: str, data: dict) -> str:
    """The benchmark that wrote a file: its `benchmark` field, else its name's stem."""
    stem = Path(name).stem
    if stem in SKIPPED:
        return "skipped"
    if "benchmark" in data:
        return data["benchmark"]
    for known in ("profile_risk_kernel", "ncu_flops"):
        if stem.startswith(known):
            return known
    return stem


def machine(data: dict) -> str:
    """Which card or processor gave a file's numbers, in words."""
    env = data.get("environment")
    if not env:
        return "not recorded in the file"
    dev = env.get("device", {})
    name = dev.get("name", "?")
    if dev.get("device") == "gpu":
        return f"{name} ({dev.get('memory_gib', 0):.0f} GiB), host of {env.get('cpu_count', '?')} cores"
    return f"{name}, {dev.get('cores', env.get('cpu_count', '?'))} cores"


def date(data: dict) -> str:
    return data.get("environment", {}).get("date_utc", "")[:10]


def link(name: str) -> str:
    return f"[{name}](../benchmarks/results/{name})"


# --- tables -------------------------------------------------------------------------------------

def table(rows: list[dict], columns: list[tuple[str, object]]) -> list[str]:
    """A markdown table: `columns` is [(header, key or function of the row)]; a column that is
    empty in every row is left out."""
    cells = []
    for row in rows:
        line = []
        for _, how in columns:
            value = how(row) if callable(how) else row.get(how)
            line.append(value if isinstance(value, str) else num(value))
        cells.append(line)
    keep = [i for i in range(len(columns)) if any(line[i] for line in cells)]
    out = ["| " + " | ".join(columns[i][0] for i in keep) + " |", "|" + "---|" * len(keep)]
    out += ["| " + " | ".join(line[i].replace("|", "\\|") for i in keep) + " |" for line in cells]
    return out


def tagged(files, kinds, key="rows") -> list[dict]:
    """The rows (under `key`) of every file of the given kinds, each with `_file` and `_machine`."""
    rows = []
    for name, data in files:
        if kind(name, data) in kinds:
            for row in data.get(key, []):
                rows.append({**row, "_file": link(name), "_machine": machine(data)})
    return rows


SOURCE = [("measured on", "_machine"), ("file", "_file")]


def machines_section(files) -> list[str]:
    rows = []
    for name, data in files:
        env = data.get("environment", {})
        load_start = env.get("load_average_start")
        versions = ", ".join(f"{k} {env[k]}" for k in ("fragrisk", "python", "numpy", "cupy", "sgp4")
                             if env.get(k))
        rows.append({"file": link(name), "benchmark": kind(name, data), "machine": machine(data),
                     "date": date(data), "versions": versions,
                     "load": num(load_start[0]) if load_start else ""})
    out = table(rows, [("file", "file"), ("benchmark", "benchmark"), ("measured on", "machine"),
                       ("date (UTC)", "date"), ("load average at start", "load"),
                       ("versions", "versions")])
    skipped = [(name, SKIPPED[Path(name).stem]) for name, data in files if kind(name, data) == "skipped"]
    if skipped:
        out += ["", "Not in the tables below: " + "; ".join(f"{link(n)}, {why}" for n, why in skipped) + "."]
    return out


def sgp4_section(files) -> list[str]:
    rows = tagged(files, {"propagate"})
    return table(rows, [
        ("objects", "objects"), ("times", "times"), ("path", "path"), ("seconds", "seconds"),
        ("propagations / s", "rate_per_s"), ("NumPy / python-sgp4", "ratio_to_satrecarray"),
        ("largest position difference from python-sgp4 (km)", "max_dr_km_vs_satrecarray"),
        ("largest position difference from NumPy (km)", "max_dr_km_vs_numpy"), *SOURCE])


def run_sections(files) -> list[str]:
    rows = tagged(files, {"run"})
    out = table(rows, [
        ("case", lambda r: r.get("case", r.get("path"))),
        ("`--set`", lambda r: f"`{r['set']}`" if r.get("set") else ""),
        ("path", lambda r: r.get("path", "") if "case" in r else ""),
        ("realizations", "realizations"), ("`--jobs`", "jobs"),
        ("fragments per realization", "fragments_per_realization"),
        ("wall (s)", lambda r: r.get("wall_s", r.get("seconds"))),
        ("processor time (s)", "cpu_s"), ("host stage (s)", "host_s"),
        ("estimator (s)", lambda r: r.get("kernel_s", r.get("estimator_s"))),
        ("waited for the host (s)", "host_wait_s"),
        ("peak memory", lambda r: mib(r.get("peak_rss_mib"))),
        ("largest worker", lambda r: mib(r.get("peak_rss_workers_mib"))),
        ("fragment-steps / s, effective", "effective_rate"), ("raw", "raw_rate"),
        ("time against `--jobs 1`", lambda r: percent(r.get("time_vs_first")) if r.get("jobs", 1) > 1 else ""),
        ("identical to `--jobs 1`", lambda r: r.get("identical_to_first") if r.get("jobs", 1) > 1 else None),
        ("ISS: mean expected collisions", "mean_lambda_iss"),
        ("load average before", "load_average_before"), *SOURCE])
    monthly = [r for r in rows if r.get("lambda_iss_by_month")]
    if monthly:
        out += ["", "### The year-long case, by month", "",
                "The ISS's mean expected collisions by calendar month of the year-long case's "
                "realizations (the shape of a year, not a statistic, where few realizations ran):", ""]
        months = sorted({m for r in monthly for m in r["lambda_iss_by_month"]})
        header = "| month | " + " | ".join(f"{r['realizations']} realizations, {r['_machine']} ({r['_file']})"
                                        for r in monthly) + " |"
        out += [header, "|" + "---|" * (len(monthly) + 1)]
        out += ["| " + m + " | " + " | ".join(num(r["lambda_iss_by_month"].get(m)) for r in monthly) + " |"
                for m in months]
    return out


def sample_section(files) -> list[str]:
    rows = tagged(files, {"sample"}, "sampling")
    out = table(rows, [
        ("event", "event"), ("Lc min (m)", "lc_min_m"), ("A/m sampling", "am_sampling"),
        ("mass policy", "mass_policy"), ("realizations", "realizations"),
        ("fragments per realization", "fragments_per_realization"),
        ("ms per realization", "ms_per_realization"), ("µs per fragment", "us_per_fragment"),
        ("ESA's C++, ms per realization", "esa_ms_per_realization"),
        ("speed-up over ESA's", "speedup_vs_esa"), *SOURCE])
    notes = sorted({data["reference"]["esa_cpp_note"] for name, data in files
                    if kind(name, data) == "sample" and "esa_cpp_note" in data.get("reference", {})})
    if notes:
        out += ["", "ESA's figures are reference values the benchmark carries, not measured here: "
                + "; ".join(notes) + "."]
    out += ["", "### The element fit", "",
            "`fit` is the element fit alone; `sample_cloud` is sampling, the fit and the states "
            "together, per fragment fitted.", ""]
    out += table(tagged(files, {"sample"}, "fit"), [
        ("stage", "stage"), ("Lc min (m)", "lc_min_m"), ("realizations", "realizations"),
        ("fragments fitted", "fragments_fitted"), ("µs per fragment", "us_per_fragment"),
        ("goal (µs)", "goal_us_per_fragment"), ("deep-space share", lambda r: percent(r.get("deep_space_fraction"))),
        *SOURCE])
    return out


def encounters_section(files) -> list[str]:
    return table(tagged(files, {"encounters"}), [
        ("`[analysis] encounters`", "encounters"), ("realizations", "realizations"),
        ("best of", "repeat"), ("seconds", "seconds"), ("encounters recorded", "n_encounters"),
        ("cost against `none`", lambda r: percent(r.get("overhead")) if r.get("encounters") != "none" else ""),
        ("closest-approach refinement (s)", "refinement_s"), *SOURCE])


def calibrate_section(files) -> list[str]:
    rows = []
    for name, data in files:
        if kind(name, data) == "calibrate":
            stages = data.get("stage_seconds", {})
            for row in data.get("rows", []):
                rows.append({**row, **{f"stage_{k}": v for k, v in stages.items()},
                             "goal_s": data.get("goal_s"), "_file": link(name), "_machine": machine(data)})
    return table(rows, [
        ("device", "device"), ("realizations per candidate", "realizations"),
        ("objects compared", "observed"), ("fragments per candidate", "fragments_per_candidate"),
        ("evaluations", "evaluations"), ("bootstrap resamples", "bootstrap"), ("seconds", "seconds"),
        ("fit (s)", "stage_fit"), ("steps (s)", "stage_steps"), ("bootstrap design (s)", "stage_design"),
        ("goal (s)", "goal_s"), ("statistic before", "T_before"), ("after", "T_after"), *SOURCE])


def deep_space_section(files) -> list[str]:
    return table(tagged(files, {"deep_space"}), [
        ("Lc min (m)", "lc_min_m"), ("days", "duration_days"), ("target", "target"),
        ("realizations", "realizations"), ("fragments", "fragments"),
        ("deep-space fragments", "deep_space_fragments"),
        ("of them with expected collisions > 0", "deep_space_fragments_with_lambda"),
        ("their expected collisions per realization", "deep_space_lambda_per_realization"),
        ("kept fragments' expected collisions per realization", "kept_lambda_per_realization"),
        ("realizations for the kept fragments", "kept_realizations"), *SOURCE])


def kernel_section(files) -> list[str]:
    out = []
    for name, data in files:
        if kind(name, data) != "profile_risk_kernel":
            continue
        facts = [f"kernel `{data.get('kernel')}`", f"{num(data.get('realizations'))} realizations",
                 f"{num(data.get('fragments'))} fragments", f"{num(data.get('sm_count'))} SMs at "
                 f"{num(data.get('clock_ghz'))} GHz", f"float64 peak {num(data.get('peak_fp64_flop_s'))} flop/s"]
        if data.get("fp64_flop_per_fragment_step"):
            facts.append(f"{num(data['fp64_flop_per_fragment_step'])} float64 flop per fragment-step "
                         "(counted by Nsight Compute)")
        out += [f"{machine(data)}, {link(name)}: " + ", ".join(facts) + ".", ""]
        default, best = data.get("default_launch"), data.get("best_launch")
        marked = [{**r, "launch": "default" if [r["threads_per_block"], r["min_blocks_per_sm"]] == default
                   else "fastest" if [r["threads_per_block"], r["min_blocks_per_sm"]] == best else ""}
                  for r in data.get("rows", [])]
        out += table(marked, [
            ("threads per block", "threads_per_block"), ("min. blocks per SM", "min_blocks_per_sm"),
            ("", "launch"), ("registers per thread", "registers_per_thread"),
            ("local bytes per thread", "local_bytes_per_thread"),
            ("occupancy (theoretical)", lambda r: percent(r.get("theoretical_occupancy"))),
            ("seconds", "seconds"), ("fragment-steps / s", "fragment_steps_per_s"),
            ("share of float64 peak", lambda r: percent(r.get("fraction_of_fp64_peak"))),
            ("largest difference from the first", "max_rel_diff_vs_first")])
        out.append("")
    return out[:-1] if out else out


def other_section(name: str, data: dict) -> list[str]:
    """A file no section knows: its scalars, or its rows as they are."""
    if data.get("rows"):
        columns = []
        for row in data["rows"]:
            columns += [c for c in row if c not in columns and not isinstance(row[c], (list, dict))]
        return [f"{link(name)}, {machine(data)}:", "", *table(data["rows"], [(c, c) for c in columns])]
    scalars = {k: v for k, v in data.items() if not isinstance(v, (dict, list))}
    return [f"{link(name)}, {machine(data)}: " + ", ".join(f"{k} {num(v)}" for k, v in scalars.items()) + "."]


# --- the page -----------------------------------------------------------------------------------

HEADER = """\
# Performance

<!-- Written by `python -m benchmarks.performance_page` from benchmarks/results/; do not edit by
hand: tests/test_docs.py fails when this page differs from what the files give. -->

Every number here comes from a JSON file under `benchmarks/results/`, written by a benchmark in
`benchmarks/` that prints a table, records the machine (device, cores, versions, date) and runs
its baseline (python-sgp4's `SatrecArray`, one core) in the same process. Each row names its
file and the card or processor that gave it. Rows of different dates measure different states
of the code; rows of one machine compare, rows of different machines only roughly. Speed is
measured there and never asserted in tests. How the benchmarks are run, GPU ones included:
[maintainers.md](maintainers.md), "GPU checks and benchmarks". What the rates mean:
a fragment-step is one fragment at one time sample; *effective* counts every kept fragment's
samples over the wall time, *raw* the samples the estimator propagated (after the exact
prefilter, [estimator.md](estimator.md) §6) over the estimator's time.
"""

SECTIONS = [
    ("The files", None, machines_section),
    ("SGP4 propagation", "python -m benchmarks.propagate",
     "SGP4 states of many objects at many times (`fragrisk propagate`'s work): the NumPy path, "
     "python-sgp4's C++ `SatrecArray` on one core, and on a GPU the CUDA kernel, over every "
     "(object, time) pair or one object per thread.", sgp4_section),
    ("Whole runs", "python -m benchmarks.run",
     "`fragrisk run` of the built-in scenario end to end, each case in a process of its own (its "
     "peak memory its own): the wall time split into the host stage (sampling, element fit, SGP4 "
     "table, prefilter) and the estimator (the NumPy path, or the fused CUDA kernel with its "
     "copies), the processor time the run got, and the rates. The cases are described in "
     "`benchmarks/run.py`. An effective rate far below the raw one means the host stage, not "
     "the estimator, bounds the run; on a shared machine, wall time times `--jobs` well above the "
     "processor time means the run waited for cores others used.", run_sections),
    ("Breakup sampling and the element fit", "python -m benchmarks.sample",
     "Sampling the NASA Standard Breakup Model's fragments ([breakup-model.md](breakup-model.md)) "
     "over its model choices, against the figures ESA's C++ implementation reports for the same "
     "event, and fitting SGP4 elements to the fragments ([sgp4.md](sgp4.md) §4).", sample_section),
    ("The encounter table's cost", "python -m benchmarks.encounters",
     "The same run with `[analysis] encounters = \"all\"` and `\"none\"`, alternated, best of "
     "several: what recording every passage and refining its closest approach costs.",
     encounters_section),
    ("Calibration", "python -m benchmarks.calibrate",
     "`fragrisk calibrate` of the plain model to the tracked COSMOS 1408 fragments "
     "([calibration.md](calibration.md)), with its stages.", calibrate_section),
    ("Deep-space fragments left out", "python -m benchmarks.deep_space",
     "What leaving deep-space fragments unpropagated ([estimator.md](estimator.md) §4) costs: "
     "python-sgp4 (SDP4) propagates them at 1 s steps and their expected collisions with the "
     "target are counted, against the kept fragments'.", deep_space_section),
    ("The fused kernel", "python -m benchmarks.profile_kernel",
     "The CUDA kernel that propagates, screens and accumulates (`kernels/risk.cu`) on one batch: "
     "registers, occupancy and rate over launch shapes (the results must not change with the "
     "shape). A small share of the float64 peak means the kernel waits on latency (memory, "
     "branches), not on arithmetic.", kernel_section),
]


def render(results: Path = RESULTS) -> str:
    files = load(results)
    out = [HEADER]
    known = {"skipped", "propagate", "run", "sample", "encounters", "calibrate", "deep_space",
             "profile_risk_kernel", "ncu_flops"}
    gpu = [date(d) for _, d in files if d.get("environment", {}).get("device", {}).get("device") == "gpu"]
    cpu = [date(d) for _, d in files if d.get("environment", {}).get("device", {}).get("device") == "cpu"]
    if gpu and cpu and max(gpu) < max(cpu):
        out.append(f"The newest GPU file is of {max(gpu)}, the newest CPU file of {max(cpu)}: the "
                   "code has changed since the GPU last ran. `bash benchmarks/gpu_check.sh` "
                   "measures every GPU row again.\n")
    elif not gpu:
        out.append("No GPU has run the benchmarks of this state: the files are the CPU's only.\n")
    for title, command, *rest in SECTIONS:
        text, make = (rest if len(rest) == 2 else (None, rest[0]))
        body = make(files)
        if not body:
            continue
        out.append(f"## {title}\n")
        if command:
            out.append(f"`{command}`. {text}\n")
        out.append("\n".join(body) + "\n")
    others = [(n, d) for n, d in files if kind(n, d) not in known]
    if others:
        out.append("## Other files\n")
        out += ["\n".join(other_section(n, d)) + "\n" for n, d in others]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/performance.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != text:
            print(f"{PAGE.relative_to(REPO)} is stale: run python -m benchmarks.performance_page",
                  file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
