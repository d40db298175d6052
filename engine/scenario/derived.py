"""What the engine derives from a loaded scenario: the breakup model's parameters, the objects of
one realization, and the model attributes of results and fragments files (from the schema's
``attribute`` and ``knob`` columns)."""

from __future__ import annotations

from ..physics import breakup
from .schema import ANALYSIS, EVENT, SCREEN_AUTO_TARGETS, Field


def breakup_params(event, parent) -> breakup.BreakupParams:
    """BreakupParams of a scenario's [event] and [parent] tables."""
    return breakup.BreakupParams(
        event_type=event.type, parent_mass_kg=parent.mass_kg, parent_kind=parent.kind,
        projectile_mass_kg=event.projectile_mass_kg, impact_velocity_km_s=event.impact_velocity_km_s,
        lc_min_m=event.lc_min_m, am_sampling=event.am_sampling, mass_policy=event.mass_policy,
        explosion_scale=event.explosion_scale, fragmenting_mass_kg=event.fragmenting_mass_kg,
        dv_scale=event.dv_scale, dv_sigma_log10=event.dv_sigma_log10)


def objects_per_realization(scenario) -> int:
    """The most objects one realization holds: the SBM count plus the most remnants of a
    breakup (breakup.MAX_REMNANTS), or the objects of a [population].  The run sizes its
    batches and its limits with it."""
    if scenario.population is not None:
        return len(scenario.population.elements)
    # The scenario loader has checked that the breakup model takes these.
    return breakup_params(scenario.event, scenario.parent).n_fragments + breakup.MAX_REMNANTS


def _typed(f: Field, value):
    return {"number": float, "integer": int}.get(f.type, str)(value)


def knob_attributes(event, parent) -> dict:
    """The calibration knobs of a scenario's breakup (the schema's knob rows) as file attributes
    (floats); fragmenting_mass_kg, for collisions only, is the count law's M in use (the SBM's
    M where the scenario leaves it unset)."""
    attrs = {f.attribute: float(getattr(event, f.name)) for f in EVENT
             if f.knob and f.name != "fragmenting_mass_kg"}
    if event.type == "collision":
        attrs["fragmenting_mass_kg"] = float(breakup_params(event, parent).count_mass_kg)
    return attrs


def event_attributes(event, parent) -> dict:
    """The breakup's model choices as file attributes: every [event] row with an attribute
    (event_type, lc_min_m, ..., the knobs of knob_attributes)."""
    attrs = {f.attribute: _typed(f, getattr(event, f.name)) for f in EVENT
             if f.attribute and not f.knob}
    return {**attrs, **knob_attributes(event, parent)}


def analysis_attributes(analysis) -> dict:
    """The [analysis] rows with an attribute, as file attributes (duration_days, step_s, ...)."""
    return {f.attribute: _typed(f, getattr(analysis, f.name)) for f in ANALYSIS if f.attribute}


def uses_screen(scenario) -> bool:
    """Whether a run of the scenario takes the screened estimator ([analysis] screen: "grid",
    or "auto" with conjunction counts or more than SCREEN_AUTO_TARGETS targets)."""
    a = scenario.analysis
    if a.screen != "auto":
        return a.screen == "grid"
    return bool(a.conjunction_thresholds_km) or len(scenario.targets) > SCREEN_AUTO_TARGETS
