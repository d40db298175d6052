"""CDM reading and writing (engine/conjunction/cdm.py) on NASA CARA's 62 test CDMs, and the bad
inputs: one line naming the file, the key and the value."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conjunction_cases import DATA, alfano, operational
from fragrisk.engine.conjunction import covariance
from fragrisk.engine.conjunction.cdm import read_cdm, write_cdm
from fragrisk.engine.errors import InputError

ALL = sorted(DATA.glob("*/*.cdm"))
HIGH_PC = DATA / "sample" / "OmitronTestCase_Test01_HighPc.cdm"
OPS = DATA / "operational" / "000025994_conj_000026132_20220224_100307_20220221_225515.cdm"


def test_reads_every_cara_file():
    assert len(ALL) == 63  # 43 operational, Alfano 1-12, Omitron 1-8
    for path in ALL:
        c = read_cdm(path)
        for obj in c.objects:
            assert obj.state_km.shape == (6,) and obj.covariance_rtn.shape[0] in (6, 8)
            assert np.allclose(obj.covariance_rtn, obj.covariance_rtn.T)
        # The states are at TCA: their separation is the MISS_DISTANCE the file writes (CARA
        # rounds it to 1 m in the operational files).
        miss_m = 1e3 * np.linalg.norm(c.objects[1].state_km[:3] - c.objects[0].state_km[:3])
        assert abs(miss_m - c.miss_distance_m) <= 0.5 + 1e-6 * miss_m, path.name


def test_units_hbr_and_layout():
    c = read_cdm(OPS)
    assert c.hbr_m == 15.0  # COMMENT HBR = 15 [m]
    assert c.objects[0].covariance_rows == ("R", "T", "N", "RDOT", "TDOT", "NDOT")
    assert c.objects[0].covariance_rtn[1, 1] == pytest.approx(float(c.objects[0].fields["CT_T"][0]))
    alf = read_cdm(DATA / "sample" / "AlfanoTestCase01.cdm")
    assert alf.hbr_m == 15.0  # COMMENT HBR = 15.0, no unit
    assert alf.objects[0].covariance_rows[-2:] == ("DRG", "SRP")
    # The one tolerated mislabel: Alfano's RELATIVE_VELOCITY_* in [m], read with a warning.
    assert len(alf.warnings) == 3 and "RELATIVE_VELOCITY_R" in alf.warnings[0]
    # Day-of-year times.
    assert read_cdm(DATA / "sample" / "OmitronTestCase_Test07_NonPDCovariance.cdm").tca_utc.day == 2


def test_hbr_per_case_matches_cara_tables():
    for row in operational() + alfano():
        assert read_cdm(row["path"]).hbr_m == row["hbr_m"], row["name"]


@pytest.mark.parametrize("fmt", ["kvn", "xml"])
def test_write_read_round_trip_is_exact(tmp_path, fmt):
    for src in (OPS, DATA / "sample" / "AlfanoTestCase05.cdm"):
        c = read_cdm(src)
        out = tmp_path / f"copy.{fmt}"
        write_cdm(out, c, fmt=fmt)
        back = read_cdm(out)
        assert back.tca == c.tca and back.hbr_m == c.hbr_m
        for a, b in zip(c.objects, back.objects):
            assert np.array_equal(a.state_km, b.state_km)
            assert np.array_equal(a.covariance_rtn, b.covariance_rtn)
            assert a.designator == b.designator and a.covariance_rows == b.covariance_rows


def test_rtn_rotation_round_trip_and_axes():
    c = read_cdm(OPS)
    obj = c.objects[0]
    eci = covariance.rtn_to_inertial(obj.covariance_rtn_km, obj.state_km)
    back = covariance.inertial_to_rtn(eci, obj.state_km)
    sd = np.sqrt(np.diag(obj.covariance_rtn_km))
    # Compared in units of the sigmas (entries span 1e-5 to 1e-13 km^2/s^k): rounding only.
    assert np.abs((back - obj.covariance_rtn_km) / np.outer(sd, sd)).max() < 1e-12
    # The radial variance is the variance along the position vector.
    rhat = obj.state_km[:3] / np.linalg.norm(obj.state_km[:3])
    assert rhat @ eci[:3, :3] @ rhat == pytest.approx(obj.covariance_rtn_km[0, 0], rel=1e-12)


def test_non_positive_definite_is_repaired_and_flagged():
    from fragrisk.engine.conjunction.assess import inertial_covariances

    c = read_cdm(DATA / "sample" / "OmitronTestCase_Test07_NonPDCovariance.cdm")
    (c1, c2), notes = inertial_covariances(c)
    assert len(notes) == 1 and notes[0].startswith("OBJECT2") and "clipped" in notes[0]
    assert np.linalg.eigvalsh(c2).min() >= -1e-12 * np.abs(c2).max()
    assert np.linalg.eigvalsh(c.objects[1].covariance_rtn[:6, :6]).min() < 0  # as given: not PSD
    assert inertial_covariances(read_cdm(OPS))[1] == []


# --- bad input: one line naming the file, the key and the value ---------------------------------

def _lines():
    return HIGH_PC.read_text().splitlines()


def _write(tmp_path, lines, name="bad.cdm"):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


def _error(path) -> str:
    with pytest.raises(InputError) as exc:
        read_cdm(path)
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_truncated_file(tmp_path):
    lines = _lines()
    cut = next(i for i, l in enumerate(lines) if l.startswith("CT_T") and i > len(lines) // 2)
    msg = _error(_write(tmp_path, lines[:cut + 1]))
    assert "truncated" in msg and "OBJECT2" in msg and "CT_T" in msg
    assert "truncated" in _error(_write(tmp_path, lines[:20]))


def test_missing_mandatory_key(tmp_path):
    msg = _error(_write(tmp_path, [l for l in _lines() if not l.startswith("TCA ")]))
    assert "missing mandatory key TCA" in msg
    first_x = next(i for i, l in enumerate(_lines()) if l.startswith("X "))
    lines = _lines()
    del lines[first_x]
    msg = _error(_write(tmp_path, lines))
    assert "OBJECT1" in msg and "missing mandatory key X" in msg


def test_wrong_unit(tmp_path):
    lines = [l.replace("[km]", "[m]", 1) if l.startswith("X ") else l for l in _lines()]
    msg = _error(_write(tmp_path, lines))
    assert "X = " in msg and "[m]" in msg and "wrong unit" in msg and "[km]" in msg
    lines = [l.replace("[m**2]", "[km**2]") if l.startswith("CR_R") else l for l in _lines()]
    assert "CR_R" in _error(_write(tmp_path, lines))
    lines = [("COMMENT HBR = 20 [ft]" if l.startswith("COMMENT HBR") else l) for l in _lines()]
    assert "HBR" in _error(_write(tmp_path, lines)) and "[ft]" in _error(_write(tmp_path, lines))


def test_wrong_covariance_size(tmp_path):
    lines = [l for l in _lines() if not l.startswith("CNDOT_NDOT")]
    lines.append("CNDOT_NDOT = 1e-4 [m**2/s**2]")  # OBJECT2 keeps its own; OBJECT1 loses it
    msg = _error(_write(tmp_path, lines))
    assert "OBJECT1" in msg and "covariance of the wrong size" in msg and "CNDOT_NDOT" in msg
    lines = [l for l in _lines() if not l.startswith("CDRG_DRG")]
    msg = _error(_write(tmp_path, lines))
    assert "wrong size" in msg and "CDRG" in msg


def test_no_covariance(tmp_path):
    keep, obj = [], 0
    for l in _lines():
        obj += l.startswith("OBJECT ")
        if obj == 2 and l.startswith("C") and "_" in l.split("=")[0] and not l.startswith(("CATALOG", "COVARIANCE", "CD_", "CR_AREA")):
            continue
        keep.append(l)
    msg = _error(_write(tmp_path, keep))
    assert "OBJECT2 has no covariance" in msg


def test_tca_not_the_states_closest_approach(tmp_path):
    # Move OBJECT2 10 s along its velocity: its state is then not at the TCA the file names.
    c = read_cdm(HIGH_PC)
    o2 = c.objects[1]
    moved = o2.state_km.copy()
    moved[:3] += 10.0 * moved[3:]
    bad = dataclasses.replace(c, objects=(c.objects[0], dataclasses.replace(o2, state_km=moved)))
    p = tmp_path / "moved.cdm"
    write_cdm(p, bad)
    msg = _error(p)
    assert "TCA = 2008-06-27T15:34:55.320" in msg and "not at the TCA" in msg


def test_not_a_number_and_missing_file(tmp_path):
    lines = [("X = abc [km]" if l.startswith("X ") else l) for l in _lines()]
    assert "'abc'" in _error(_write(tmp_path, lines))
    with pytest.raises(InputError, match="no such CDM file"):
        read_cdm(tmp_path / "absent.cdm")
    assert "not a well-formed XML CDM" in _error(_write(tmp_path, ["<cdm><header>"], "x.xml"))
