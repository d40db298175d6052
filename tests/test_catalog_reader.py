"""The whole-text TLE reader (NumPy over the fixed columns) against python-sgp4 and against the
object-by-object reader it falls back to: same values bit for bit, same verdict and message on
every corrupted line; catalogs with objects SGP4 cannot start; the field named in messages."""

import os
from pathlib import Path

import numpy as np
import pytest
from fragrisk.engine.errors import InputError
from fragrisk.engine.orbits import element_set, tle
from fragrisk.engine.orbits import elements as E
from sgp4.api import WGS72, Satrec

DATA = Path(__file__).parent / "data"
# 82 objects of Space-Track's catalog of 2022-01-22 (3LE, "0 NAME" lines): LEO, 27 deep-space,
# 5 Alpha-5 analyst objects (T....), blank-padded catalog numbers, negative ndot, mean motions
# below 10 rev/day, STARLINK and FLOCK satellites, and JWST (which SGP4 cannot start).
SAMPLE = DATA / "catalog_2022-01-22_sample.tle"
# The whole catalogs (not in the repository): $FRAGRISK_CATALOG_DIR, else the project's data
# folder beside the checkout, where there is one.
SHARED_CATALOG = next((p for p in ([Path(os.environ["FRAGRISK_CATALOG_DIR"])]
                                   if "FRAGRISK_CATALOG_DIR" in os.environ else
                                   [d / "shared" / "data" / "catalog" for d in Path(__file__).parents])
                       if p.is_dir()), Path("/nonexistent"))
JWST_NAME = "0 JWST"


def sample_text(without_jwst=True) -> str:
    lines = SAMPLE.read_text().splitlines()
    if without_jwst:
        k = lines.index(JWST_NAME)
        del lines[k:k + 3]
    return "\n".join(lines) + "\n"


def twoline2rv_values(es: E.ElementSet) -> dict:
    """Each field of ``es`` as python-sgp4's own twoline2rv reads its TLE lines."""
    sats = [Satrec.twoline2rv(a, b, WGS72) for a, b in es.tle_lines]
    names = {"epoch_jd": "jdsatepoch", "epoch_fr": "jdsatepochF"}
    out = {f: np.array([getattr(s, names.get(f, f)) for s in sats]) for f in element_set._ARRAY_FIELDS}
    out["satnum"] = np.array([s.satnum for s in sats])
    return out


def assert_same_as_twoline2rv(es: E.ElementSet) -> None:
    ref = twoline2rv_values(es)
    for f in element_set._ARRAY_FIELDS:   # bit for bit: the same float64 operations on the same fields
        np.testing.assert_array_equal(getattr(es, f), ref[f], err_msg=f)
    np.testing.assert_array_equal(es.satnum, ref["satnum"])


def test_sample_reads_bit_for_bit_like_python_sgp4():
    es = E.parse_tle(sample_text(), "sample.tle")
    assert len(es) == 81 and es.is_deep_space.sum() == 27
    assert tle._tle_fast(tle._tle_rows(sample_text()), False) is not None   # the fast path ran
    assert_same_as_twoline2rv(es)
    assert es == tle._parse_tle_objects(tle._tle_rows(sample_text()), "sample.tle", False)[0]


def test_alpha5_numbers_and_space_track_name_lines_read_as_they_are():
    es = E.parse_tle(sample_text(), "sample.tle")
    analyst = [k for k, (l1, _) in enumerate(es.tle_lines) if l1[2] == "T"]
    assert len(analyst) == 5
    for k in analyst:   # T = 27 in Alpha-5 (I and O skipped): T0000 is 270000
        assert es.satnum[k] == 270000 + int(es.tle_lines[k][0][3:7])
        assert es.name[k] == "TBA - TO BE ASSIGNED"
    assert not any(name.startswith("0 ") for name in es.name)
    padded = [k for k, (l1, _) in enumerate(es.tle_lines) if l1[2] == " "]
    assert padded and all(es.satnum[k] == int(es.tle_lines[k][0][2:7]) for k in padded)


def test_unstartable_object_stops_the_reader_or_is_dropped_from_a_catalog(tmp_path):
    text = sample_text(without_jwst=False)
    with pytest.raises(InputError, match=r"x\.tle: line \d+: SGP4 cannot start from this element "
                                         r"set: perturbed eccentricity"):
        E.parse_tle(text, "x.tle")
    path = tmp_path / "cat.tle"
    path.write_text(text)
    es, dropped = E.read_catalog(path)
    assert len(es) == 81 and 50463 not in es.satnum
    (lineno, satnum, name, why), = dropped
    assert (satnum, name) == (50463, "JWST") and "SGP4 error 3" in why
    assert text.splitlines()[lineno - 1].startswith("2 50463 ")
    assert es == E.parse_tle(sample_text(), str(path))


@pytest.mark.skipif(not SHARED_CATALOG.is_dir(), reason="the shared catalog data is not here")
@pytest.mark.parametrize("name", ["catalog_2022-01-22.tle", "active_2022-01-06.tle",
                                  "active_2021-12-07.tle"])
def test_whole_catalogs_read_bit_for_bit_like_python_sgp4(name):
    es, dropped = E.read_catalog(SHARED_CATALOG / name)
    assert [d[1] for d in dropped] in ([], [50463])
    assert_same_as_twoline2rv(es)


# --- every corruption: the two readers agree -----------------------------------------------------
def verdict(text: str):
    """(message or None, ElementSet or None) of the whole-text reader and of the
    object-by-object reader."""
    out = []
    for read in (lambda: E.parse_tle(text, "f.tle"),
                 lambda: tle._parse_tle_objects(tle._tle_rows(text), "f.tle", False)[0]):
        try:
            out.append((None, read()))
        except InputError as exc:
            out.append((str(exc), None))
    return out


CHARACTERS = "0123456789 +-.ABTUZaxe\t\x00\uff11\u0665\u2212"


def test_one_corrupted_character_gives_the_object_readers_verdict():
    """Every line check the whole-text reader makes at once must refuse what the object-by-object
    reader refuses (else garbage would propagate): one character of 6 objects changed at random,
    checksum refreshed half the time, 3,000 times."""
    rng = np.random.default_rng(24)
    base = sample_text().splitlines()[:18]
    refused = 0
    for trial in range(3000):
        lines = list(base)
        k = int(rng.integers(len(lines)))
        col = int(rng.integers(len(lines[k])))
        ch = CHARACTERS[int(rng.integers(len(CHARACTERS)))]
        line = lines[k][:col] + ch + lines[k][col + 1:]
        if line[:2] in ("1 ", "2 ") and len(line) == 69 and rng.random() < 0.5:
            line = line[:68] + str(E.tle_checksum(line))
        lines[k] = line
        (msg_fast, es_fast), (msg_ref, es_ref) = verdict("\n".join(lines))
        assert msg_fast == msg_ref, (trial, lines[k])
        assert (es_fast is None) == (es_ref is None) and (es_fast is None or es_fast == es_ref)
        refused += msg_ref is not None
    assert 1000 < refused < 2900  # both outcomes well represented


@pytest.mark.parametrize("change", ["drop-line", "swap-lines", "blank-lines", "name-only",
                                    "two-names"])
def test_layout_faults_give_the_object_readers_verdict(change):
    lines = sample_text().splitlines()[:12]
    if change == "drop-line":
        del lines[5]
    elif change == "swap-lines":
        lines[4], lines[5] = lines[5], lines[4]
    elif change == "blank-lines":
        lines[3:3] = ["", "   "]
    elif change == "name-only":
        lines.append("LONELY NAME")
    else:
        lines.insert(3, "0 EXTRA NAME")
    (msg_fast, es_fast), (msg_ref, es_ref) = verdict("\n".join(lines))
    assert msg_fast == msg_ref
    assert (es_fast is None) == (es_ref is None) and (es_fast is None or es_fast == es_ref)


# --- messages ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("line,col,field", [(1, 55, "B* (columns 54-61)"),
                                            (2, 53, "mean motion (columns 53-63)"),
                                            (1, 8, "classification (column 8)"),
                                            (2, 69, "checksum (column 69)")])
def test_non_ascii_character_names_its_field(line, col, field):
    lines = sample_text().splitlines()[:3]
    text = lines[line][:col - 1] + "\uff11" + lines[line][col:]
    lines[line] = text
    with pytest.raises(InputError) as exc:
        E.parse_tle("\n".join(lines), "f.tle")
    assert str(exc.value) == (f"f.tle: line {line + 1}: {field}: column {col} holds '\uff11' "
                              f"(U+FF11), not a printable ASCII character; element sets are "
                              f"ASCII text")


def test_omm_csv_with_an_unterminated_quote_says_so(tmp_path):
    path = tmp_path / "cat.csv"
    path.write_text('OBJECT_NAME,NORAD_CAT_ID,EPOCH,MEAN_MOTION\n'
                    '"ISS (ZARYA),25544,2021-11-15T20:43:34,15.48\n'
                    'OTHER,99999,2021-11-15T20:43:34,15.48\n')
    with pytest.raises(InputError) as exc:
        E.read_omm_file(path)
    assert str(exc.value) == (f"{path}: not valid CSV: a quoted field is not closed (the quote "
                              f"opened on line 2 has no closing quote)")
