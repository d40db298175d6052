"""Every CARA test conjunction through `fragrisk pc`'s methods, against CARA's values: the table
of docs/conjunction.md (between its `pc_cases` markers) and benchmarks/results/pc_cases.json.

    python -m benchmarks.pc_cases [--trials N] [--rel-halfwidth F] [--only NAME...] [--no-docs]

Per case: our 2D Pc (TCA-adjusted and as given), 3D Nc and Monte Carlo (NumPy, one core, at most
--trials trials, stopping at --rel-halfwidth), CARA's values and the ratios, the time each took,
and whether each agrees within docs/conjunction.md's tolerances (2D 1e-3 relative above 1e-10, 3D 2 %
where CARA's exceeds 1e-8, Monte Carlo intervals overlapping above 1e-5).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the case tables live beside the tests that use them

from benchmarks.common import environment, write_json  # noqa: E402
from conjunction_cases import DATA, KNOWN_3D, alfano, operational  # noqa: E402
import numpy as np  # noqa: E402
from fragrisk.engine.conjunction import montecarlo, pc2d, pc3d  # noqa: E402
from fragrisk.engine.conjunction.assess import inertial_covariances  # noqa: E402
from fragrisk.engine.conjunction.cdm import read_cdm  # noqa: E402

DOC = ROOT / "docs" / "conjunction.md"
BEGIN, END = "<!-- pc_cases: begin (python -m benchmarks.pc_cases) -->", "<!-- pc_cases: end -->"
#: CARA's unit tests of its two-body Monte Carlo on the Omitron cases (Pc_MC_Kep2body_parallel_UnitTest,
#: HBR as there, 10 % tolerance): case -> (HBR m, Pc).
OMITRON_MC = {1: (20.0, 0.420), 2: (100.0, 3.0216e-3), 3: (100.0, 2.6516e-3), 4: (100.0, 2.4989e-3),
              5: (20.0, 1.70e-3), 6: (20.0, 0.240983606557377)}
TOL_2D, TOL_3D = 1e-3, 0.02
#: Monte Carlo budget per case in trial x grid-time steps (~1/2 minute of one core): a fast LEO
#: encounter (3 grid times) gets the full --trials, a GEO one of 200 grid times 5e4.
TRIAL_STEPS = 1e7


def cases() -> list[dict]:
    rows = []
    for r in alfano():
        r = dict(r, group="Alfano 2009")
        rows.append(r)
    for path in sorted((DATA / "sample").glob("OmitronTestCase_Test0*.cdm")):
        n = int(path.name[len("OmitronTestCase_Test0")])
        hbr, mc = OMITRON_MC.get(n, (read_cdm(path).hbr_m or 20.0, None))
        rows.append({"name": path.stem.replace("OmitronTestCase_", "Omitron "), "path": path, "hbr_m": hbr,
                     "pc2d": None, "pc2d_noadj": None, "nc3d": None, "mc": mc, "mc_low": None, "mc_high": None,
                     "mc_trials": None, "group": "Omitron (CARA unit tests)", "case": None})
    for r in operational():
        rows.append(dict(r, group="operational", case=None))
    return rows


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def run_case(row, trials: int, rel_halfwidth: float) -> dict:
    """One case through the engine's methods, as `fragrisk pc --method all` runs them (the 3D
    span computed once, for the 3D value and the Monte Carlo's window), each timed."""
    c = read_cdm(row["path"])
    (c1, c2), repairs = inertial_covariances(c)
    x1, x2 = c.objects[0].state_km, c.objects[1].state_km
    h = row["hbr_m"] * 1e-3
    out = {"group": row["group"], "name": row["name"], "hbr_m": row["hbr_m"],
           "miss_m": 1e3 * float(np.linalg.norm(x2[:3] - x1[:3])),
           "speed_m_s": 1e3 * float(np.linalg.norm(x2[3:] - x1[3:])), "repaired": bool(repairs)}
    t = time.perf_counter()
    try:
        out["pc_2d"] = float(pc2d.pc2d(x1[:3], x1[3:], c1[:3, :3], x2[:3], x2[3:], c2[:3, :3], h, True))
        out["pc_2d_unadjusted"] = float(pc2d.pc2d(x1[:3], x1[3:], c1[:3, :3], x2[:3], x2[3:], c2[:3, :3], h, False))
        out["pc_2d_refused"] = None
    except pc2d.NotApplicable as exc:
        out.update(pc_2d=None, pc_2d_unadjusted=None, pc_2d_refused=str(exc))
    out["seconds_2d"] = time.perf_counter() - t
    t = time.perf_counter()
    r3 = pc3d.nc3d(x1, c1, x2, c2, h)
    out["seconds_3d"] = time.perf_counter() - t
    out["nc_3d"] = r3.nc
    # The Monte Carlo's cost is trials x grid times: long (slow) encounters get fewer trials.
    enc = montecarlo.encounter(x1, c1, x2, c2, h, (r3.t_min_s, r3.t_max_s))
    budget = max(10_000, min(trials, int(TRIAL_STEPS / len(enc.times_s))))
    mc = montecarlo.run(enc, budget, seed=2026, rel_halfwidth=rel_halfwidth)
    out.update(pc_mc=mc.pc, pc_mc_low=mc.low, pc_mc_high=mc.high, trials=mc.trials, hits=mc.hits,
               seconds_mc=mc.seconds, grid_times=len(enc.times_s),
               cara_pc2d=row["pc2d"], cara_pc2d_noadj=row["pc2d_noadj"], cara_nc3d=row["nc3d"],
               cara_mc=row["mc"], cara_mc_low=row["mc_low"], cara_mc_high=row["mc_high"],
               cara_mc_trials=row["mc_trials"])
    out["ratio_2d"] = _ratio(out["pc_2d"], row["pc2d"])
    out["ratio_2d_unadjusted"] = _ratio(out["pc_2d_unadjusted"], row["pc2d_noadj"])
    out["ratio_3d"] = _ratio(out["nc_3d"], row["nc3d"])
    out["ratio_mc"] = _ratio(out["pc_mc"], row["mc"])
    checks = {}
    if row["pc2d"] is not None and row["pc2d"] > 1e-10:
        checks["2d"] = bool(abs(out["ratio_2d"] - 1) <= TOL_2D)
        if row["pc2d_noadj"] is not None:
            checks["2d_unadjusted"] = bool(abs(out["ratio_2d_unadjusted"] - 1) <= TOL_2D)
    if row["nc3d"] is not None and row["nc3d"] > 1e-8:  # ours then must be there too
        checks["3d"] = bool(abs(out["ratio_3d"] - 1) <= TOL_3D)
    if row["mc"] is not None and row["mc"] > 1e-5:
        if row["mc_low"] is not None:
            checks["mc"] = bool(out["pc_mc_low"] <= row["mc_high"] and row["mc_low"] <= out["pc_mc_high"])
        else:  # CARA's unit tests: within 10 % of their value
            checks["mc"] = bool(out["pc_mc_low"] <= row["mc"] * 1.1 and row["mc"] * 0.9 <= out["pc_mc_high"])
    out["checks"] = checks
    out["known"] = KNOWN_3D.get(row["case"]) if row["group"] == "Alfano 2009" else None
    return out


def _g(x, digits=4):
    return "–" if x is None else f"{x:.{digits}g}"


def _r(x):
    return "–" if x is None else f"{x:.4f}"


def table(results: list[dict]) -> str:
    lines = ["| case | HBR m | miss m | speed m/s | 2D Pc | CARA 2D | ratio | 2D as given | CARA | ratio | "
             "3D Nc | CARA 3D | ratio | MC Pc [95 %] | trials | CARA MC [95 %] | ok |",
             "|" + "---|" * 17]
    for r in results:
        mc = "–" if r["pc_mc"] is None else f"{_g(r['pc_mc'], 3)} [{_g(r['pc_mc_low'], 3)}, {_g(r['pc_mc_high'], 3)}]"
        cara_mc = _g(r["cara_mc"], 3)
        if r["cara_mc_low"] is not None:
            cara_mc += f" [{_g(r['cara_mc_low'], 3)}, {_g(r['cara_mc_high'], 3)}]"
        ok = " ".join(f"{k}:{'yes' if v else 'NO'}" for k, v in r["checks"].items()) or "–"
        two_d = "refused" if r["pc_2d_refused"] else _g(r["pc_2d"])
        lines.append(f"| {r['name'][:36]} | {r['hbr_m']:g} | {r['miss_m']:,.1f} | {r['speed_m_s']:,.3g} | {two_d} | "
                     f"{_g(r['cara_pc2d'])} | {_r(r['ratio_2d'])} | {_g(r['pc_2d_unadjusted'])} | "
                     f"{_g(r['cara_pc2d_noadj'])} | {_r(r['ratio_2d_unadjusted'])} | {_g(r['nc_3d'])} | "
                     f"{_g(r['cara_nc3d'])} | {_r(r['ratio_3d'])} | {mc} | {r['trials']:,} | {cara_mc} | {ok} |")
    return "\n".join(lines)


def summary(results: list[dict]) -> str:
    lines = []
    for key, what in (("2d", "2D (TCA-adjusted) within 1e-3 of CARA, Pc > 1e-10"),
                      ("2d_unadjusted", "2D as given within 1e-3 of CARA's Pc2D_NoAdj"),
                      ("3d", "3D within 2 % of CARA, CARA's > 1e-8"),
                      ("mc", "Monte Carlo interval overlapping CARA's, Pc > 1e-5")):
        done = [r for r in results if key in r["checks"]]
        bad = [r["name"] for r in done if not r["checks"][key]]
        lines.append(f"- {what}: **{len(done) - len(bad)} of {len(done)}**"
                     + (f" (not: {', '.join(bad)})" if bad else ""))
    t2 = sum(r["seconds_2d"] for r in results) / len(results)
    t3 = sum(r["seconds_3d"] for r in results) / len(results)
    tm = sum(r["seconds_mc"] for r in results) / len(results)
    lines.append(f"- time per case (mean, one shared core): 2D {t2 * 1e3:.1f} ms, 3D {t3:.1f} s, "
                 f"Monte Carlo {tm:.1f} s ({sum(r['trials'] for r in results):,} trials in all)")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1_000_000)
    ap.add_argument("--rel-halfwidth", type=float, default=0.1)
    ap.add_argument("--only", nargs="*", default=None, help="case names containing any of these")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/conjunction.md's table")
    ap.add_argument("--out", default=None)
    ap.add_argument("--from-json", default=None, metavar="PATH",
                    help="only rewrite docs/conjunction.md's table from a pc_cases.json of an earlier run")
    args = ap.parse_args(argv)
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())["cases"]
        write_doc(summary(results), results)
        return
    rows = [r for r in cases() if not args.only or any(s in r["name"] for s in args.only)]
    results = []
    for row in rows:
        res = run_case(row, args.trials, args.rel_halfwidth)
        results.append(res)
        print(f"{res['name'][:40]:40s} 2D {_g(res['pc_2d'])} ({_r(res['ratio_2d'])})  3D {_g(res['nc_3d'])} "
              f"({_r(res['ratio_3d'])})  MC {_g(res['pc_mc'])} ({res['trials']:,})  {res['checks']}", flush=True)
    text = summary(results)
    print(text)
    payload = {"benchmark": "pc_cases", "environment": environment("cpu"), "trials_max": args.trials,
               "rel_halfwidth": args.rel_halfwidth, "summary": text, "cases": results}
    print("wrote", write_json("pc_cases", payload, Path(args.out) if args.out else None))
    if not args.no_docs and not args.only:
        write_doc(text, results)


def write_doc(text: str, results: list[dict]) -> None:
    """Replace the table between docs/conjunction.md's pc_cases markers."""
    doc = DOC.read_text()
    head, rest = doc.split(BEGIN)
    _, tail = rest.split(END)
    DOC.write_text(f"{head}{BEGIN}\n{text}\n\n{table(results)}\n{END}{tail}")
    print("wrote", DOC)


if __name__ == "__main__":
    main()
