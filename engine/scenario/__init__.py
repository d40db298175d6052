"""Scenario files (TOML, docs/scenario.md): load, validate every field, and write back resolved.

A scenario is either a breakup ([parent] + [event]: the cloud is sampled from the NASA Standard
Breakup Model) or a fixed [population] of real objects, plus one or more [[targets]] and an
[analysis] window.  ``load_scenario`` returns frozen dataclasses with element sets loaded and
epochs as split Julian dates; every bad value raises ``InputError`` with one line naming the file,
the field and the value.  Warnings (not errors) are collected in ``Scenario.warnings``: the engine
never prints.  ``scenario_to_toml`` writes the resolved scenario (defaults filled in, TLE text
inline, OMM files as absolute paths) so that loading the text gives the same scenario again.

The modules, top-down:

- schema: every table and field (type, default, bounds, unit, meaning), declared once; what
  the others read.
- model: the dataclasses a loaded scenario is made of (and the analysis window's sizes).
- values: reading TOML values against the schema, showing them in messages.
- overrides: --set SECTION.FIELD=VALUE over the file's values.
- checks: the rules that tie fields together or need the models (epochs, orbits, counts).
- load: text or file -> Scenario; write: Scenario -> text.
- derived: what the engine derives from a scenario (the breakup's parameters, the objects of a
  realization, the model attributes of results and fragments files).
"""

from .derived import (
    analysis_attributes,
    breakup_params,
    event_attributes,
    knob_attributes,
    objects_per_realization,
    uses_screen,
)
from .load import builtin_data_text, builtin_names, load_scenario, scenario_from_text
from .model import Analysis, Event, Parent, Population, Scenario, Target, window_samples
from .overrides import apply_overrides, parse_override
from .schema import (
    CALIBRATION_FIELDS,
    CLOUD_DV_FIELDS,
    LC_MIN_RANGE_M,
    MAX_EPOCH_GAP_DAYS,
    MAX_REALIZATIONS,
    MAX_SEED,
    SECTIONS,
)
from .write import scenario_to_toml

__all__ = [
    "CALIBRATION_FIELDS", "CLOUD_DV_FIELDS", "LC_MIN_RANGE_M", "MAX_EPOCH_GAP_DAYS",
    "MAX_REALIZATIONS", "MAX_SEED", "SECTIONS", "Analysis", "Event", "Parent", "Population",
    "Scenario", "Target", "analysis_attributes", "apply_overrides", "breakup_params",
    "builtin_data_text", "builtin_names", "event_attributes", "knob_attributes", "load_scenario",
    "objects_per_realization", "parse_override", "scenario_from_text", "scenario_to_toml",
    "uses_screen", "window_samples",
]
