"""The scenario schema (engine/scenario/schema.py) is the one table of the scenario's fields: the
dataclasses carry exactly its rows, its defaults pass its own checks, the loader refuses what
its bounds refuse and takes what they take, the writer writes its rows in order, --set types
values by it, and calibrate's knobs are its knob rows (the docs are checked in test_docs.py)."""

from __future__ import annotations

import dataclasses
import math

import pytest
from fragrisk.engine.calibration import knobs as calibration_knobs
from fragrisk.engine.errors import InputError
from fragrisk.engine.scenario import (
    Analysis,
    Event,
    Parent,
    Population,
    Target,
    load_scenario,
    parse_override,
    scenario_to_toml,
    schema,
)
from fragrisk.engine.scenario.derived import event_attributes

MODELS = {"parent": Parent, "event": Event, "targets": Target, "analysis": Analysis,
          "population": Population}


@pytest.mark.parametrize("section", list(MODELS))
def test_each_dataclass_carries_exactly_its_tables_rows(section):
    expected = set()
    for f in schema.SECTIONS[section]:
        if f.type == "elements":
            expected.add("elements")
        elif f.type == "utc":
            expected |= {f.name, f"{f.name}_jd", f"{f.name}_fr"}
        else:
            expected.add(f.name)
    fields = dataclasses.fields(MODELS[section])
    assert {f.name for f in fields} == expected
    # Defaults live in the schema only.
    assert all(f.default is dataclasses.MISSING for f in fields)


def test_every_default_passes_its_own_row():
    for section, fields in schema.SECTIONS.items():
        for f in fields:
            if f.default not in (None, schema.REQUIRED):
                assert f.ok(f.default), (section, f.name, f.default)
                assert isinstance(f.default, {"number": float, "integer": int, "string": str, "boolean": bool}[f.type])


def _bound_cases():
    """(section, field, value inside, value outside) at each bound of every bounded row."""
    for section, fields in schema.SECTIONS.items():
        for f in fields:
            if f.type not in ("number", "integer") or f.lo is None or section == "":
                continue
            step = 1 if f.type == "integer" else max(abs(f.lo), 1.0) * 1e-9
            yield pytest.param(section, f, f.lo if not f.lo_open else f.lo + step,
                               f.lo - step if not f.lo_open else f.lo, id=f"{f.name}-lo")
            if f.hi is not None:
                yield pytest.param(section, f, f.hi,
                                   f.hi + 1 if f.type == "integer" else f.hi * (1 + 1e-9),
                                   id=f"{f.name}-hi")


@pytest.mark.parametrize("section, f, inside, outside", list(_bound_cases()))
def test_the_rows_bounds_are_what_the_file_is_checked_against(section, f, inside, outside):
    assert f.ok(inside) and not f.ok(outside)
    path = "targets.1." if section == "targets" else f"{section}."
    # A value the row refuses is refused with the row's expectation, naming the field.
    with pytest.raises(InputError) as exc:
        load_scenario("cosmos1408-sbm", [f"{path}{f.name}={outside!r}"])
    assert f"{f.name} = " in str(exc.value) and f.expect() in str(exc.value)


@pytest.mark.parametrize("name", [f.name for f in schema.EVENT
                                  if f.type == "number" and f.default not in (None, schema.REQUIRED)])
def test_defaults_are_filled_in_from_the_rows(name):
    f = schema.field("event", name)
    text = scenario_to_toml(load_scenario("cosmos1408-sbm"))
    assert f"\n{name} = " in text
    s = load_scenario("cosmos1408-sbm", [f"event.{name}={f.default!r}"])
    assert getattr(s.event, name) == f.default


def test_the_writer_writes_the_rows_in_order():
    text = scenario_to_toml(load_scenario("cosmos1408"))
    for section in ("parent", "event", "analysis"):
        block = text.split(f"[{section}]\n")[1].split("\n\n")[0]
        written = [line.split(" = ")[0] for line in block.splitlines() if " = " in line]
        written = ["tle" if k in schema.ELEMENT_KEYS else k for k in written]
        order = [k for k in schema.keys(section) if k in written]
        assert written == order, section


def test_set_types_string_fields_by_the_schema():
    # A target's name of digits stays a name; a number field still reads TOML.
    assert parse_override("targets.1.name=1408") == (("targets", 0, "name"), "1408")
    assert parse_override("name=true") == (("name",), "true")
    assert parse_override("targets.1.hard_body_radius_m=50") == (("targets", 0, "hard_body_radius_m"), 50)
    assert load_scenario("cosmos1408", ["targets.1.name=1408"]).targets[0].name == "1408"


def test_calibrates_knobs_are_the_schemas_knob_rows():
    knobs = {f.name for f in schema.EVENT if f.knob}
    assert knobs == set(calibration_knobs.SHAPE_KNOBS) | set(calibration_knobs.COUNT_KNOB.values())
    assert knobs == set(calibration_knobs.KNOB_LABELS) and set(schema.CALIBRATION_FIELDS) == knobs
    for name, spec in calibration_knobs.KNOB_SPECS.items():
        f = schema.field("event", name)
        # A search range the scenario would refuse could fit a value the loader then rejects.
        assert f.ok(spec.lo) and f.ok(spec.hi), name


def test_file_attributes_come_from_the_rows():
    s = load_scenario("cosmos1408")
    attrs = event_attributes(s.event, s.parent)
    assert set(attrs) == {f.attribute for f in schema.EVENT if f.attribute}
    assert attrs["event_type"] == "collision" and attrs["fragmenting_mass_kg"] == s.event.fragmenting_mass_kg
    explosion = load_scenario("cosmos1408", ["event.type=explosion"])
    assert "fragmenting_mass_kg" not in event_attributes(explosion.event, explosion.parent)
    assert all(not isinstance(v, float) or math.isfinite(v) for v in attrs.values())
