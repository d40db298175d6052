"""Element sets: TLE parsing and validation, CCSDS OMM (XML, CSV, JSON), derived orbit values."""

import json
import math

import numpy as np
import pytest
from fragrisk.engine.errors import InputError
from fragrisk.engine.orbits.elements import (
    ElementSet,
    concat,
    load_elements,
    parse_tle,
    read_omm_file,
    read_tle_file,
    tle_checksum,
)
from sgp4.api import Satrec
from sgp4.earth_gravity import wgs72
from sgp4.io import twoline2rv as py_twoline2rv

ISS_NAME = "ISS (ZARYA)"
ISS_L1 = "1 25544U 98067A   21319.86359406  .00001699  00000-0  39549-4 0  9996"
ISS_L2 = "2 25544  51.6442 312.7312 0004574 201.3017 242.9752 15.48581038312108"
COSMOS_L1 = "1 13552U 82092A   21319.03826954  .00002024  00000-0  69413-4 0  9995"
COSMOS_L2 = "2 13552  82.5637 123.6906 0018570 108.1104 252.2161 15.29390138142807"

# The ISS element set above as CCSDS OMM keywords (values copied from the TLE; the epoch is
# day 319.86359406 of 2021 = 2021-11-15 20:43:34.526784 UTC).
ISS_OMM = {
    "OBJECT_NAME": ISS_NAME,
    "OBJECT_ID": "1998-067A",
    "CENTER_NAME": "EARTH",
    "REF_FRAME": "TEME",
    "TIME_SYSTEM": "UTC",
    "MEAN_ELEMENT_THEORY": "SGP4",
    "EPOCH": "2021-11-15T20:43:34.526784",
    "MEAN_MOTION": "15.48581038",
    "ECCENTRICITY": "0.0004574",
    "INCLINATION": "51.6442",
    "RA_OF_ASC_NODE": "312.7312",
    "ARG_OF_PERICENTER": "201.3017",
    "MEAN_ANOMALY": "242.9752",
    "EPHEMERIS_TYPE": "0",
    "CLASSIFICATION_TYPE": "U",
    "NORAD_CAT_ID": "25544",
    "ELEMENT_SET_NO": "999",
    "REV_AT_EPOCH": "31210",
    "BSTAR": "0.39549e-4",
    "MEAN_MOTION_DOT": "0.00001699",
    "MEAN_MOTION_DDOT": "0",
}
_META = ("OBJECT_NAME", "OBJECT_ID", "CENTER_NAME", "REF_FRAME", "TIME_SYSTEM",
         "MEAN_ELEMENT_THEORY")
_MEAN = ("EPOCH", "MEAN_MOTION", "ECCENTRICITY", "INCLINATION", "RA_OF_ASC_NODE",
         "ARG_OF_PERICENTER", "MEAN_ANOMALY")


def set_columns(line, start, end, text):
    """Replace 0-based columns [start, end) of a TLE line and fix its checksum."""
    assert len(text) == end - start
    line = line[:start] + text + line[end:]
    return line[:68] + str(tle_checksum(line))


def omm_xml(records):
    """A minimal CCSDS OMM XML document (the layout Space-Track writes)."""
    segments = []
    for r in records:
        def block(tag, keys):
            inner = "".join(f"<{k}>{r[k]}</{k}>" for k in keys if k in r)
            return f"<{tag}>{inner}</{tag}>"
        tle_keys = [k for k in r if k not in _META and k not in _MEAN]
        segments.append("<segment>" + block("metadata", _META) + "<data>"
                        + block("meanElements", _MEAN) + block("tleParameters", tle_keys)
                        + "</data></segment>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<ndm><omm id="CCSDS_OMM_VERS" '
            'version="2.0"><header><CREATION_DATE/></header><body>' + "".join(segments)
            + "</body></omm></ndm>\n")


def omm_csv(records):
    keys = list(records[0])
    rows = [",".join(keys)] + [",".join(str(r.get(k, "")) for k in keys) for r in records]
    return "\n".join(rows) + "\n"


# --- TLE parsing ---------------------------------------------------------------------------------
def test_three_line_tle_matches_python_sgp4():
    es = parse_tle(f"{ISS_NAME}\n{ISS_L1}\n{ISS_L2}\n", "iss.tle")
    sat = Satrec.twoline2rv(ISS_L1, ISS_L2)
    assert len(es) == 1 and es.name == (ISS_NAME,) and es.satnum.dtype == np.int64
    assert es.satnum[0] == 25544 and es.source == "iss.tle"
    assert es.tle_lines == ((ISS_L1, ISS_L2),)
    for ours, theirs in [("epoch_jd", "jdsatepoch"), ("epoch_fr", "jdsatepochF"),
                         ("no_kozai", "no_kozai"), ("ecco", "ecco"), ("inclo", "inclo"),
                         ("nodeo", "nodeo"), ("argpo", "argpo"), ("mo", "mo"),
                         ("bstar", "bstar")]:
        arr = getattr(es, ours)
        assert arr.dtype == np.float64 and arr.shape == (1,)
        assert arr[0] == getattr(sat, theirs), ours
    assert es.epoch_jd[0] == 2459533.5


def test_two_line_and_many_objects_and_3le_prefix():
    text = f"{COSMOS_L1}\n{COSMOS_L2}\n\n0 {ISS_NAME}\n{ISS_L1}   \r\n{ISS_L2}\n"
    es = parse_tle(text, "mixed.tle")
    assert list(es.satnum) == [13552, 25544]
    assert es.name == ("13552", ISS_NAME)  # no name line: the catalog number stands in


def test_checksum_error_names_file_line_and_values():
    bad = ISS_L2[:68] + "5"
    with pytest.raises(InputError) as exc:
        parse_tle(f"{ISS_NAME}\n{ISS_L1}\n{bad}\n", "iss.tle")
    assert str(exc.value) == "iss.tle: line 3: checksum is 5, expected 8"


def test_line_length_error():
    with pytest.raises(InputError) as exc:
        parse_tle(f"{ISS_L1[:-2]}{ISS_L1[-1]}\n{ISS_L2}", "scenario.toml: [parent] tle")
    assert str(exc.value) == "scenario.toml: [parent] tle: line 1 has 68 characters, expected 69"


def test_catalog_number_mismatch():
    l2 = set_columns(ISS_L2, 2, 7, "25545")
    with pytest.raises(InputError, match=r"x\.tle: line 2: catalog number '25545' differs "
                                         r"from '25544' on line 1"):
        parse_tle(f"{ISS_L1}\n{l2}", "x.tle")


def test_wrong_line_numbers():
    l2 = "3" + ISS_L2[1:]
    with pytest.raises(InputError, match=r"x\.tle: line 2: starts with '3 ', expected line 2"):
        parse_tle(f"{ISS_L1}\n{l2[:68]}{tle_checksum(l2)}", "x.tle")
    with pytest.raises(InputError, match=r"x\.tle: line 2: expected line 1"):
        parse_tle(f"{ISS_NAME}\n{ISS_L2}\n{ISS_L1}", "x.tle")


def test_garbage_field_is_refused_not_silently_truncated():
    l2 = set_columns(ISS_L2, 52, 63, "15.4858x038")
    with pytest.raises(InputError, match=r"line 2: mean motion \(columns 53-63\) '15.4858x038'"):
        parse_tle(f"{ISS_L1}\n{l2}", "x.tle")


def test_incomplete_and_empty_texts():
    with pytest.raises(InputError, match="x.tle: line 1: 'ISS' is not followed"):
        parse_tle("ISS\n", "x.tle")
    with pytest.raises(InputError, match="x.tle: line 1: line 1 is not followed by line 2"):
        parse_tle(ISS_L1, "x.tle")
    with pytest.raises(InputError, match="x.tle: no two-line element sets found"):
        parse_tle("\n  \n", "x.tle")


def test_missing_files(tmp_path):
    for reader in (read_tle_file, read_omm_file, load_elements):
        path = tmp_path / "nope.tle"
        with pytest.raises(InputError) as exc:
            reader(path)
        assert str(exc.value) == f"{path}: file not found"


# --- derived values --------------------------------------------------------------------------------
@pytest.mark.parametrize("l1,l2", [(ISS_L1, ISS_L2), (COSMOS_L1, COSMOS_L2)])
def test_perigee_apogee_period_match_python_sgp4(l1, l2):
    es = parse_tle(f"{l1}\n{l2}", "x")
    sat = Satrec.twoline2rv(l1, l2)
    legacy = py_twoline2rv(l1, l2, wgs72)  # pure-Python model exposes no_unkozai
    assert es.perigee_km[0] == pytest.approx(sat.altp * sat.radiusearthkm, rel=1e-13)
    assert es.apogee_km[0] == pytest.approx(sat.alta * sat.radiusearthkm, rel=1e-13)
    assert es.period_min[0] == pytest.approx(2 * math.pi / legacy.no_unkozai, rel=1e-14)
    assert not es.is_deep_space[0]


def test_deep_space_threshold():
    geo = set_columns(ISS_L2, 52, 63, " 1.00270000")
    es = parse_tle(f"{ISS_L1}\n{geo}", "geo.tle")
    assert es.period_min[0] > 1400 and es.is_deep_space[0]
    assert py_twoline2rv(ISS_L1, geo, wgs72).method == "d"


def test_built_in_orbits_are_leo():
    cosmos = parse_tle(f"{COSMOS_L1}\n{COSMOS_L2}", "c")
    iss = parse_tle(f"{ISS_L1}\n{ISS_L2}", "i")
    assert 455 < cosmos.perigee_km[0] < 470 and 480 < cosmos.apogee_km[0] < 495
    assert 410 < iss.perigee_km[0] < 420 and 420 < iss.apogee_km[0] < 430


def test_to_satrecs_propagates_like_twoline2rv():
    es = parse_tle(f"{COSMOS_L1}\n{COSMOS_L2}\n{ISS_L1}\n{ISS_L2}", "x")
    ours = es.to_satrecs()
    for sat, (l1, l2) in zip(ours, es.tle_lines):
        ref = Satrec.twoline2rv(l1, l2)
        assert (sat.jdsatepoch, sat.jdsatepochF) == (ref.jdsatepoch, ref.jdsatepochF)
        for minutes in (-720.0, 0.0, 1440.0 * 7):
            e1, r1, v1 = sat.sgp4_tsince(minutes)
            e2, r2, v2 = ref.sgp4_tsince(minutes)
            assert e1 == e2 == 0
            np.testing.assert_allclose(r1, r2, rtol=0, atol=1e-9)
            np.testing.assert_allclose(v1, v2, rtol=0, atol=1e-12)


# --- container behaviour ------------------------------------------------------------------------------
def test_take_concat_len_eq_and_read_only():
    a = parse_tle(f"{COSMOS_L1}\n{COSMOS_L2}", "a.tle")
    b = parse_tle(f"{ISS_NAME}\n{ISS_L1}\n{ISS_L2}", "b.tle")
    both = concat([a, b])
    assert len(both) == 2 and both.source == "a.tle + b.tle"
    assert both.take([1]) == b and both.take(np.array([True, False])) == a
    swapped = both.take([1, 0])
    assert list(swapped.satnum) == [25544, 13552] and swapped.name[0] == ISS_NAME
    assert swapped.tle_lines[0] == (ISS_L1, ISS_L2)
    assert both != swapped
    with pytest.raises(ValueError):
        both.no_kozai[0] = 1.0
    with pytest.raises(ValueError, match="shape"):
        ElementSet(satnum=[1], name=("x",), epoch_jd=[1.0, 2.0], epoch_fr=[0.0], no_kozai=[0.06],
                   ecco=[0.0], inclo=[0.0], nodeo=[0.0], argpo=[0.0], mo=[0.0], bstar=[0.0])


# --- OMM ---------------------------------------------------------------------------------------------
def _assert_same_as_iss_tle(es):
    ref = parse_tle(f"{ISS_NAME}\n{ISS_L1}\n{ISS_L2}", "iss.tle")
    assert es.tle_lines is None and es.name == (ISS_NAME,) and es.satnum[0] == 25544
    assert es.epoch_jd[0] == ref.epoch_jd[0]
    assert abs(es.epoch_fr[0] - ref.epoch_fr[0]) * 86400.0 < 1e-6  # OMM epochs: microseconds
    for f in ("no_kozai", "ecco", "inclo", "nodeo", "argpo", "mo", "bstar"):
        assert getattr(es, f)[0] == pytest.approx(getattr(ref, f)[0], rel=1e-14, abs=1e-18), f


@pytest.mark.parametrize("suffix", ["xml", "csv", "json"])
def test_omm_formats_read_like_the_tle(tmp_path, suffix):
    text = {"xml": omm_xml([ISS_OMM]), "csv": omm_csv([ISS_OMM]),
            "json": json.dumps([ISS_OMM])}[suffix]
    path = tmp_path / f"iss.{suffix}"
    path.write_text(text)
    _assert_same_as_iss_tle(read_omm_file(path))
    es = load_elements(path)
    _assert_same_as_iss_tle(es)
    assert es.source == str(path)


def test_omm_json_single_record_with_numbers_and_sniffing(tmp_path):
    record = dict(ISS_OMM, MEAN_MOTION=15.48581038, NORAD_CAT_ID=25544, BSTAR=3.9549e-05)
    path = tmp_path / "iss.dat"  # unknown extension: the content decides
    path.write_text(json.dumps(record))
    _assert_same_as_iss_tle(load_elements(path))


def test_omm_many_records_csv(tmp_path):
    second = dict(ISS_OMM, NORAD_CAT_ID="99999", OBJECT_NAME="OTHER")
    path = tmp_path / "cat.csv"
    path.write_text(omm_csv([ISS_OMM, second]))
    es = load_elements(path)
    assert list(es.satnum) == [25544, 99999] and es.name == (ISS_NAME, "OTHER")


@pytest.mark.parametrize("suffix", ["xml", "csv", "json"])
def test_omm_missing_field(tmp_path, suffix):
    record = {k: v for k, v in ISS_OMM.items() if k != "MEAN_MOTION"}
    text = {"xml": omm_xml([record]), "csv": omm_csv([record]),
            "json": json.dumps([record])}[suffix]
    path = tmp_path / f"file.{suffix}"
    path.write_text(text)
    with pytest.raises(InputError) as exc:
        load_elements(path)
    assert str(exc.value) == f"{path}: OMM record 1: missing field MEAN_MOTION"


def test_omm_missing_field_in_second_record_of_xml(tmp_path):
    second = {k: v for k, v in ISS_OMM.items() if k != "BSTAR"}
    path = tmp_path / "file.xml"
    path.write_text(omm_xml([ISS_OMM, second]))
    with pytest.raises(InputError, match=r"file\.xml: OMM record 2: missing field BSTAR$"):
        read_omm_file(path)


@pytest.mark.parametrize("key,value,expect", [
    ("MEAN_MOTION", "fast", "MEAN_MOTION = 'fast' is not a number"),
    ("ECCENTRICITY", "1.5", "ECCENTRICITY = 1.5, expected in [0, 1)"),
    ("EPOCH", "2021-11-15", "EPOCH: '2021-11-15' is not a valid UTC time"),
    ("MEAN_ELEMENT_THEORY", "SGP4-XP", "MEAN_ELEMENT_THEORY = 'SGP4-XP', expected 'SGP4'"),
])
def test_omm_bad_values(tmp_path, key, value, expect):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([dict(ISS_OMM, **{key: value})]))
    with pytest.raises(InputError) as exc:
        read_omm_file(path)
    assert str(exc.value).startswith(f"{path}: OMM record 1: ")
    assert expect in str(exc.value)


def test_omm_malformed_documents(tmp_path):
    xml = tmp_path / "broken.xml"
    xml.write_text("<ndm><segment>")
    with pytest.raises(InputError, match=r"broken\.xml: not valid XML"):
        read_omm_file(xml)
    js = tmp_path / "broken.json"
    js.write_text("[1, 2]")
    with pytest.raises(InputError, match=r"broken\.json: expected a JSON list of OMM records"):
        read_omm_file(js)


def test_load_elements_dispatch_tle_extensions(tmp_path):
    for suffix in ("tle", "txt", "3le"):
        path = tmp_path / f"iss.{suffix}"
        path.write_text(f"{ISS_NAME}\n{ISS_L1}\n{ISS_L2}\n")
        es = load_elements(path)
        assert es.tle_lines == ((ISS_L1, ISS_L2),) and es.source == str(path)
