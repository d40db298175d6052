"""docs/ against the code it describes.

- Every scenario field (engine/scenario/schema.py's table, row by row), every variable, dimension
  and global attribute of the results, fragments and ephemeris files (as the writers write them,
  and the results module's FILE_VARIABLES), every OMM keyword, and every command-line command
  and option (click's command objects) has its row in docs/, and docs/ lists nothing the code
  does not have. A field added without its documentation fails here.
- No file of the package, the tests or the benchmarks cites a document outside the repository;
  every `docs/<page>.md §n` citation names an existing page and section.
- The Python session in docs/ (```pycon blocks) runs as written, and the complete scenario
  example of docs/scenario.md loads.
- The README's worked example prints what the README shows (`slow`).
- docs/performance.md is exactly what `python -m benchmarks.performance_page` writes from the
  benchmark JSON files, so no measured number on it can go stale.

The files are made by the CLI on tiny scenarios (a few seconds in all), as a user would make them.
"""

from __future__ import annotations

import doctest
import importlib
import json
import pkgutil
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import click
import fragrisk
import h5py
import pytest
from click.testing import CliRunner
from conftest import COSMOS_TLE, ISS_TLE, write_tiny_scenario
from fragrisk import cli
from fragrisk.engine.scenario import schema as scenario_schema

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
DATA = REPO / "engine" / "data"

#: Where code may not cite documents that live outside the repository.
CODE_FOLDERS = ("engine", "kernels", "tests", "benchmarks")
CODE_FILES = ("cli.py", "__init__.py")
CODE_SUFFIXES = {".py", ".cu", ".cuh", ".c", ".h", ".sh", ".toml"}


# --- reading the pages -------------------------------------------------------------------------

def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$", re.MULTILINE)


def section(text: str, title: str) -> str:
    """The body of the first heading whose title contains `title`, up to the next heading of the
    same or a higher level (so a section includes its subsections)."""
    headings = list(_HEADING.finditer(text))
    for i, h in enumerate(headings):
        if title in h.group(2):
            level = len(h.group(1))
            end = next((g.start() for g in headings[i + 1:] if len(g.group(1)) <= level), len(text))
            return text[h.end():end]
    raise AssertionError(f"no section titled {title!r}")


def row_names(body: str) -> set[str]:
    """Backticked names in the first cell of the markdown table rows of `body` (header and
    separator rows excluded). A cell may hold several: "`-o`, `--output PATH`"."""
    names = set()
    for line in body.splitlines():
        line = line.strip()
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        first = re.split(r"(?<!\\)\|", line)[1]
        names.update(token.split()[0] for token in re.findall(r"`([^`]+)`", first))
    return names


def table_rows(body: str) -> dict[str, dict[str, str]]:
    """{name: {column header: cell text}} of the first markdown table of `body`, keyed by the
    first backticked name of the first cell."""
    rows, header = {}, None
    for line in body.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            if header is not None:
                break
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if header is None:
            header = cells
        elif not set(line) <= set("|-: "):
            name = re.findall(r"`([^`]+)`", cells[0])[0].split()[0]
            rows[name] = dict(zip(header, cells))
    return rows


def compare(documented: set, actual: set, where: str) -> None:
    missing, stale = sorted(actual - documented), sorted(documented - actual)
    assert not missing and not stale, (
        f"{where}: not documented: {missing}; documented but not in the code: {stale}")


# --- the files, made by the CLI -------------------------------------------------------------------

def invoke(*args) -> None:
    result = CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def population_scenario(folder: Path) -> Path:
    path = folder / "population.toml"
    path.write_text(f'''name = "population"
[population]
tle = """{COSMOS_TLE}"""
[[targets]]
name = "ISS"
tle = """{ISS_TLE}"""
hard_body_radius_m = 66.1
[analysis]
start = "2021-11-15T02:47:00Z"
duration_days = 0.02
step_s = 120
conjunction_thresholds_km = [1, 5, 10]
''')
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """{name: path} of a results file of each kind of scenario (the breakup one as a shard), a
    fragments file, an OMM file and an ephemeris file."""
    folder = tmp_path_factory.mktemp("docs-files")
    breakup = write_tiny_scenario(folder, realizations=1, duration_days=0.02)
    out = {name: folder / name for name in
           ("breakup.h5", "population.h5", "fragments.h5", "fragments.xml", "ephemeris.h5")}
    invoke("run", breakup, "--device", "cpu", "--shard", "1/1", "-o", out["breakup.h5"])
    invoke("run", population_scenario(folder), "--device", "cpu", "-o", out["population.h5"])
    invoke("sample", breakup, "--realizations", 1, "--device", "cpu", "-o", out["fragments.h5"])
    invoke("sample", breakup, "--realizations", 1, "--device", "cpu", "-o", out["fragments.xml"])
    invoke("propagate", DATA / "iss_2021-11-15.tle", "--start", "2021-11-15T02:47:00Z",
           "--duration-min", 2, "--step-s", 60, "--device", "cpu", "-o", out["ephemeris.h5"])
    return out


def contents(*paths) -> tuple[set, set, set]:
    """(variables, dimensions, global attributes) of netCDF-4 files, as written."""
    variables, dimensions, attributes = set(), set(), set()
    for path in paths:
        with h5py.File(path, "r") as f:
            attributes.update(f.attrs)
            for name, obj in f.items():
                scale = obj.attrs.get("CLASS") == b"DIMENSION_SCALE"
                if scale:
                    dimensions.add(name)
                if not (scale and obj.attrs["NAME"].startswith(b"This is a netCDF dimension")):
                    variables.add(name)
    return variables, dimensions, attributes


def variable_facts(path) -> dict[str, tuple[str, str, str]]:
    """{variable: (dimensions as "(a, b)", dtype as documented, units or "–")} as written."""
    facts = {}
    with h5py.File(path, "r") as f:
        for name, obj in f.items():
            scale = obj.attrs.get("CLASS") == b"DIMENSION_SCALE"
            if scale and obj.attrs["NAME"].startswith(b"This is a netCDF dimension"):
                continue
            # A coordinate variable is its own dimension's scale.
            dims = [name] if scale else [obj.dims[i][0].name.lstrip("/") for i in range(obj.ndim)]
            kind = "string" if h5py.check_string_dtype(obj.dtype) else obj.dtype.name
            units = obj.attrs.get("units", "–")
            facts[name] = ("(" + ", ".join(dims) + ")", kind,
                           units.decode() if isinstance(units, bytes) else str(units))
    return facts


def check_variable_rows(body: str, path, where: str) -> None:
    """Each documented variable's dimensions, dtype and units are those of the file at `path`."""
    rows = table_rows(body)
    bad = []
    for name, (dims, kind, units) in variable_facts(path).items():
        row = rows[name]
        if row["dimensions"] != dims:
            bad.append(f"{name}: dimensions {row['dimensions']} in the docs, {dims} in the file")
        if not row["dtype"].startswith(kind):
            bad.append(f"{name}: dtype {row['dtype']} in the docs, {kind} in the file")
        time_like = units.startswith("seconds since") and row["units"].startswith("seconds since")
        if row["units"] != units and not time_like:
            bad.append(f"{name}: units {row['units']} in the docs, {units} in the file")
    assert not bad, f"{where}:\n" + "\n".join(bad)


def engine_constant(name: str):
    """A module-level constant of fragrisk.engine, wherever the engine keeps it."""
    import fragrisk.engine as engine

    for info in pkgutil.walk_packages(engine.__path__, "fragrisk.engine."):
        module = importlib.import_module(info.name)
        if hasattr(module, name):
            return getattr(module, name)
    raise AssertionError(f"no fragrisk.engine module defines {name}")


# --- scenario fields ----------------------------------------------------------------------------

def scenario_heading(section: str, text: str) -> str:
    if not section:
        return "Top level"
    title = f"`{scenario_schema.label(section)}`"
    assert title in text, f"docs/scenario.md has no section for the table {title}"
    return title


def _plain(cell: str) -> str:
    """A docs cell without its markdown links: "[breakup-model.md](breakup-model.md) §1" ->
    "breakup-model.md §1"."""
    return re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", cell)


def test_every_top_level_table_has_its_section():
    # A table in the schema's top level needs its own SECTIONS entry, or nothing would check it.
    tables = {f.name for f in scenario_schema.TOP if f.type in ("table", "tables")}
    assert tables == set(scenario_schema.SECTIONS) - {""}


@pytest.mark.parametrize("table", list(scenario_schema.SECTIONS))
def test_scenario_fields_are_documented_row_by_row(table):
    """Each table of docs/scenario.md has one row per schema field (engine/scenario/schema.py),
    with the row's type, unit, default and allowed values as the schema renders them, and a
    meaning that begins with the row's doc line (its final period aside: the page may go on)."""
    text = page("scenario.md")
    title = scenario_heading(table, text)
    body = section(text, title)
    compare(row_names(body), set(scenario_schema.keys(table)), f"docs/scenario.md, {title}")
    rows = table_rows(body)
    for f in scenario_schema.SECTIONS[table]:
        row = rows[f.name]
        expected = {"type": f.type_doc(), "unit": f.unit, "default": f.default_text(),
                    "allowed": f.allowed_text()}
        for column, value in expected.items():
            if column in row:
                assert row[column] == value, (
                    f"docs/scenario.md, {title} {f.name}: {column} column {row[column]!r}, the "
                    f"schema says {value!r}")
        assert _plain(row["meaning"]).startswith(_plain(f.doc).rstrip(".")), (
            f"docs/scenario.md, {title} {f.name}: the meaning should begin with the schema's "
            f"doc line {f.doc!r}")


def test_scenario_example_loads(tmp_path):
    blocks = re.findall(r"```toml\n(.*?)```", page("scenario.md"), re.DOTALL)
    examples = [b for b in blocks if "[analysis]" in b]
    assert examples, "docs/scenario.md has no complete example"
    for k, text in enumerate(examples):
        path = tmp_path / f"example{k}.toml"
        path.write_text(text)
        loaded = fragrisk.load_scenario(path)
        assert loaded.targets and loaded.analysis.duration_days > 0


# --- file formats ------------------------------------------------------------------------------

def compare_tables(text: str, where: str, variables, dimensions, attributes) -> None:
    """The page's Variables, Dimensions and Global attributes tables name exactly what the file
    holds (`where` names the page in messages)."""
    for heading, names in (("Variables", variables), ("Dimensions", dimensions),
                           ("Global attributes", attributes)):
        compare(row_names(section(text, heading)), names, f"{where}, {heading}")


def test_results_file_is_documented(files):
    variables, dimensions, attributes = contents(files["breakup.h5"], files["population.h5"])
    variables |= set(engine_constant("FILE_VARIABLES"))
    text = page("results-file.md")
    compare_tables(text, "docs/results-file.md", variables, dimensions, attributes)
    for name in ("breakup.h5", "population.h5"):
        check_variable_rows(section(text, "Variables"), files[name], "docs/results-file.md")


def test_fragments_file_is_documented(files):
    variables, dimensions, attributes = contents(files["fragments.h5"])
    text = section(page("fragments-file.md"), "HDF5")
    compare_tables(text, "docs/fragments-file.md", variables, dimensions, attributes)
    check_variable_rows(section(text, "Variables"), files["fragments.h5"], "docs/fragments-file.md")


def test_omm_keywords_are_documented(files):
    root = ET.parse(files["fragments.xml"]).getroot()
    keywords = {e.tag for e in root.iter() if len(e) == 0}
    assert "MEAN_MOTION" in keywords
    compare(row_names(section(page("fragments-file.md"), "CCSDS OMM")), keywords,
            "docs/fragments-file.md, CCSDS OMM")


def test_ephemeris_file_is_documented(files):
    variables, dimensions, attributes = contents(files["ephemeris.h5"])
    text = page("ephemeris-file.md")
    compare_tables(text, "docs/ephemeris-file.md", variables, dimensions, attributes)
    check_variable_rows(section(text, "Variables"), files["ephemeris.h5"], "docs/ephemeris-file.md")


# --- the command line ---------------------------------------------------------------------------

def parameter_names(params) -> set[str]:
    names = set()
    for p in params:
        if p.name == "help":
            continue
        if p.param_type_name == "argument":
            names.add((p.metavar or p.name.upper()).strip("[]"))
        else:
            names.update(p.opts + p.secondary_opts)
    return names


def test_every_command_and_option_is_documented():
    text = page("cli.md")
    documented_commands = set(re.findall(r"^## `fragrisk (\w[\w-]*)`", text, re.MULTILINE))
    assert documented_commands == set(cli.cli.commands), (
        f"docs/cli.md sections {sorted(documented_commands)}; commands {sorted(cli.cli.commands)}")
    for name, command in cli.cli.commands.items():
        # A group (fragrisk scenario) documents its subcommands' parameters in its section.
        params = ([p for sub in command.commands.values() for p in sub.params]
                  if isinstance(command, click.Group) else command.params)
        compare(row_names(section(text, f"`fragrisk {name}`")), parameter_names(params),
                f"docs/cli.md, fragrisk {name}")
    group = parameter_names(cli.cli.params) | set(cli.cli.context_settings["help_option_names"])
    compare(row_names(section(text, "Global options")), group, "docs/cli.md, Global options")


# --- citations ---------------------------------------------------------------------------------

def code_files():
    for name in CODE_FILES:
        yield REPO / name
    for folder in CODE_FOLDERS:
        for path in sorted((REPO / folder).rglob("*")):
            if (path.is_file() and path.suffix in CODE_SUFFIXES and "results" not in path.parts
                    and "__pycache__" not in path.parts):
                yield path


#: Documents outside the repository that code used to cite (assembled so this file does not match).
OUTSIDE = re.compile("|".join(("design" + r"\.md", "nasa" + "-sbm", r"(?<![\w.])shared/", "/work/",
                                "[Tt]he " + r"issue(?:'s)?\b", "[Ii]ssue " + r"#?\d")))


def test_no_code_cites_a_document_outside_the_repository():
    me = Path(__file__).resolve()
    hits = []
    for path in code_files():
        if path.resolve() == me:
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(REPO)}:{lineno}: {line.strip()}")
    assert not hits, "cites a document outside the repository:\n" + "\n".join(hits)


def test_code_cites_docs_not_the_readme():
    # The README is a tour that changes shape; the facts code refers to live in docs/.
    me = Path(__file__).resolve()
    hits = [f"{path.relative_to(REPO)}:{lineno}: {line.strip()}"
            for path in code_files() if path.resolve() != me
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
            if "README" in line and line.strip() != 'readme = "README.md"']
    assert not hits, "cites the README instead of docs/:\n" + "\n".join(hits)


def sections_of(name: str) -> set[str]:
    return set(re.findall(r"^#+ §(\d+)\.", page(name), re.MULTILINE))


#: Files whose bare "§n" refer to docs/breakup-model.md (their docstrings say so).
BREAKUP_CITERS = ("engine/physics/breakup.py", "tests/test_breakup.py")


def test_citations_of_docs_resolve():
    pages = {p.name for p in DOCS.glob("*.md")}
    bad = []
    for path in [*code_files(), REPO / "README.md", *DOCS.glob("*.md")]:
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(REPO)
        for m in re.finditer(r"docs/([\w-]+\.md)(?:,?\s*§(\d+))?", text):
            if m.group(1) not in pages:
                bad.append(f"{where}: {m.group(0)}: no such page")
            elif m.group(2) and m.group(2) not in sections_of(m.group(1)):
                bad.append(f"{where}: {m.group(0)}: no such section")
        if path.parent == DOCS:
            for m in re.finditer(r"\]\(([\w-]+\.md)(#[\w-]+)?\)", text):
                if m.group(1) not in pages:
                    bad.append(f"{where}: link {m.group(0)}: no such page")
    for name in BREAKUP_CITERS:
        cited = set(re.findall(r"§(\d+)", (REPO / name).read_text(encoding="utf-8")))
        assert cited, f"{name} cites no section of docs/breakup-model.md"
        for n in sorted(cited - sections_of("breakup-model.md")):
            bad.append(f"{name}: §{n}: not a section of docs/breakup-model.md")
    assert not bad, "\n".join(bad)


def test_breakup_citers_name_their_page():
    for name in BREAKUP_CITERS:
        assert "docs/breakup-model.md" in (REPO / name).read_text(encoding="utf-8"), name


#: `path` or `path: name` in the pages: a file of the repository, and a name defined or used in it.
CODE_REFERENCE = re.compile(
    r"`((?:engine|kernels|tests|benchmarks)/[\w./-]+\.\w+|cli\.py|[\w-]+\.(?:py|cuh|cu))"
    r"(?::\s*(\w+))?`")


def test_code_named_in_docs_exists():
    bad = []
    for path in [*DOCS.glob("*.md"), REPO / "README.md"]:
        for m in CODE_REFERENCE.finditer(path.read_text(encoding="utf-8")):
            target, name = m.group(1), m.group(2)
            if "/" in target or target == "cli.py":
                candidates = [REPO / target]
            else:  # a bare file name, as in the twin table: a module under engine/ or kernels/
                candidates = [c for folder in ("engine", "kernels")
                              for c in (REPO / folder).rglob(target)]
            found = [c for c in candidates if c.is_file()]
            if not found:
                if "/" in target or name:
                    bad.append(f"{path.name}: {m.group(0)}: no such file")
                continue
            if name and not any(re.search(rf"\b{name}\b", c.read_text(encoding="utf-8"))
                                for c in found):
                bad.append(f"{path.name}: {m.group(0)}: {name} is not in {target}")
    assert not bad, "\n".join(bad)


# --- generated pages ----------------------------------------------------------------------------

def performance_page(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    return importlib.import_module("benchmarks.performance_page")


def test_performance_page_is_what_the_benchmark_files_give(monkeypatch):
    generator = performance_page(monkeypatch)
    assert page("performance.md") == generator.render(), (
        "docs/performance.md is stale: run `python -m benchmarks.performance_page`")


def test_performance_page_follows_a_changed_file(monkeypatch, tmp_path):
    # A new measurement must change the page: a rate changed in a copy of the files shows up,
    # and the row still names its machine.
    generator = performance_page(monkeypatch)
    source = REPO / "benchmarks" / "results" / "propagate_cpu.json"
    data = json.loads(source.read_text(encoding="utf-8"))
    data["rows"][0]["rate_per_s"] = 1.234e9
    (tmp_path / source.name).write_text(json.dumps(data), encoding="utf-8")
    text = generator.render(tmp_path)
    row = next(line for line in text.splitlines() if "1.23e9" in line)
    assert data["environment"]["device"]["name"] in row and source.name in row
    assert text != generator.render(REPO / "benchmarks" / "results")


# --- the README's worked example ---------------------------------------------------------------

@pytest.mark.slow
def test_readme_worked_example_prints_what_the_readme_shows(tmp_path):
    # The README runs the windows on the quick start's 7-day file; the first day's encounters,
    # and so its windows, are the same in a 1-day run of the same seed (a third of the time).
    text = (REPO / "README.md").read_text(encoding="utf-8")
    m = re.search(r"```\n(fragrisk encounters results/cosmos1408\.h5 --windows[^\n]*)\n```"
                  r".*?```\n(.*?)```", text, re.DOTALL)
    assert m, "README.md: no worked example (the encounters command and its output)"
    command, shown = m.group(1).split()[1:], m.group(2)
    results = tmp_path / "cosmos1408.h5"
    invoke("run", "--device", "cpu", "--jobs", 1, "--set", "analysis.duration_days=1", "-o", results)
    result = CliRunner().invoke(cli.cli, [str(results) if a == "results/cosmos1408.h5" else a
                                          for a in command], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout == shown


# --- runnable examples --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(p.name for p in DOCS.glob("*.md")
                                        if "```pycon" in p.read_text(encoding="utf-8")))
def test_python_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = page(name)
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs: dict = {}
    report: list[str] = []
    for m in re.finditer(r"```pycon\n(.*?)```", text, re.DOTALL):
        lineno = text.count("\n", 0, m.start(1))
        test = parser.get_doctest(m.group(1), globs, f"docs/{name}", str(DOCS / name), lineno)
        runner.run(test, out=report.append, clear_globs=False)
    assert runner.failures == 0, "".join(report)
    assert runner.tries > 0
