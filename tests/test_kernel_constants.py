"""The CUDA sources take every number they share with the Python engine from Python.

kernels/build.py generates the #defines (constant_defines); these tests check that the generated
literals are the Python values exactly, that no kernels/ source writes a number of its own into
a #define (where a retyped constant would hide), and that the sources use what is generated.
"""

from __future__ import annotations

import re
from pathlib import Path

from fragrisk.engine.physics import risk
from fragrisk.engine.physics import sgp4_numpy as sgp4
from fragrisk.kernels import build

KERNELS = Path(build.__file__).resolve().parent
SOURCES = sorted(KERNELS.glob("*.cu")) + sorted(KERNELS.glob("*.cuh"))
_NUMBER = r"[-+(]*\d[\d.]*(?:[eE][-+]?\d+)?\)?"


def test_generated_literals_are_the_python_values():
    defines = dict(build.constant_defines())
    rows = {name: k for k, name in enumerate(sgp4.COEFFICIENTS)}
    assert {n[len("SGP4_C_"):].lower(): int(v) for n, v in defines.items()
            if n.startswith("SGP4_C_")} == rows
    expected = {
        "SGP4_N_COEFFICIENTS": sgp4.N_COEFFICIENTS, "SGP4_RADIUS_EARTH_KM": sgp4.RADIUS_EARTH_KM,
        "SGP4_J2": sgp4.J2, "SGP4_XKE": sgp4.XKE, "SGP4_VKMPERSEC": sgp4.VKMPERSEC,
        "SGP4_TWOPI": sgp4.TWOPI, "SGP4_KEPLER_TOLERANCE_RAD": sgp4.KEPLER_TOLERANCE_RAD,
        "SGP4_KEPLER_MAX_ITERATIONS": sgp4.KEPLER_MAX_ITERATIONS,
        "SGP4_SMALL_ANGLE_RAD": sgp4.SMALL_ANGLE_RAD, "SGP4_OK": sgp4.ERR_OK,
        "SGP4_ERR_ECCENTRICITY": sgp4.ERR_ECCENTRICITY, "SGP4_ERR_MEAN_MOTION": sgp4.ERR_MEAN_MOTION,
        "SGP4_ERR_SEMILATUS": sgp4.ERR_SEMILATUS, "SGP4_ERR_DECAYED": sgp4.ERR_DECAYED,
        "RISK_DECAY_RADIUS_KM": risk.DECAY_RADIUS_KM,
    }
    for name, value in expected.items():
        text = defines[name]
        # float(text) is how a C compiler reads the literal: the same double, bit for bit.
        assert type(value)(text) == value, (name, text, value)
        assert isinstance(value, int) or re.search(r"[.e]", text), (name, text)  # a double in C


def test_no_kernel_source_defines_a_number_of_its_own():
    generated = {name for name, _ in build.constant_defines()}
    for path in SOURCES:
        for name, value in re.findall(r"^\s*#\s*define\s+(\w+)[ \t]*(.*)$", path.read_text(), re.M):
            assert name not in generated, f"{path.name} defines {name}, which kernels/build.py generates"
            assert not re.fullmatch(_NUMBER, value.strip()), (
                f"{path.name}: #define {name} {value}: a number belongs in Python, as a generated define")


def test_every_generated_constant_is_used():
    text = "".join(p.read_text() for p in SOURCES)
    unused = [name for name, _ in build.constant_defines() if not re.search(rf"\b{name}\b", text)]
    assert unused == []
