"""One conjunction, every method: what `fragrisk pc` prints for each CDM.

`assess` takes a read CDM, rotates both covariances to the inertial frame, repairs any that is
not positive semi-definite (reported), and runs the methods asked for: Foster's 2D Pc with and
without the move to the exact TCA (pc2d.py), Hall's 3D Nc (pc3d.py), the two-body Monte Carlo
(montecarlo.py) over the 3D method's time span. Methods that do not apply give None and a reason.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from ..errors import InputError
from . import covariance, montecarlo, pc2d, pc3d
from .cdm import Cdm

METHODS = ("2d", "3d", "mc")
#: The result's keys, in order (`fragrisk pc --json` and --csv write exactly these).
COLUMNS = ("cdm", "tca", "object1", "object2", "hbr_m", "miss_km", "relative_speed_km_s",
           "pc_2d", "pc_2d_unadjusted", "pc_2d_refused", "nc_3d", "nc_3d_t_min_s", "nc_3d_t_max_s",
           "pc_mc", "pc_mc_low", "pc_mc_high", "trials", "hits", "mc_seconds", "seed",
           "covariance_repaired", "warnings")


def inertial_covariances(cdm: Cdm):
    """((cov1, cov2), repairs): each object's 6x6 inertial covariance [km, s] after CARA's
    eigenvalue clipping, and a line per object whose covariance needed it."""
    covs, notes = [], []
    for obj in cdm.objects:
        fixed = covariance.repair(obj.covariance_rtn_km)
        if fixed.repaired:
            notes.append(f"{obj.object}: covariance not positive semi-definite (smallest eigenvalue "
                         f"{fixed.min_eigenvalue * 1e6:.3g} m^2 units); {fixed.n_clipped} "
                         f"eigenvalue{'s' if fixed.n_clipped > 1 else ''} clipped to 0")
        covs.append(covariance.rtn_to_inertial(fixed.matrix, obj.state_km))
    return tuple(covs), notes


def assess(cdm: Cdm, methods=METHODS, hbr_m: float | None = None, trials: int = 100_000,
           seed: int = 0, rel_halfwidth: float | None = None, count_hits=None) -> dict:
    """A dict with every key of COLUMNS (None where a method was not run or does not apply).
    count_hits: the Monte Carlo's chunk counter (montecarlo.run), None for NumPy."""
    hbr_m = cdm.hbr_m if hbr_m is None else hbr_m
    if hbr_m is None:
        raise InputError(f"{cdm.source}: no COMMENT HBR in the file; give the hard-body radius "
                         f"with --hbr-m")
    if not (np.isfinite(hbr_m) and hbr_m > 0):
        raise InputError(f"--hbr-m: {hbr_m!r} is not a radius > 0 m")
    hbr_km = hbr_m * 1e-3
    x1, x2 = cdm.objects[0].state_km, cdm.objects[1].state_km
    (c1, c2), repairs = inertial_covariances(cdm)
    out = dict.fromkeys(COLUMNS)
    out.update(cdm=cdm.source, tca=cdm.tca, object1=cdm.objects[0].designator,
               object2=cdm.objects[1].designator, hbr_m=float(hbr_m),
               miss_km=float(np.linalg.norm(x2[:3] - x1[:3])),
               relative_speed_km_s=float(np.linalg.norm(x2[3:] - x1[3:])),
               covariance_repaired=bool(repairs), warnings=list(cdm.warnings) + repairs)
    if "2d" in methods:
        try:
            out["pc_2d"] = pc2d.pc2d(x1[:3], x1[3:], c1[:3, :3], x2[:3], x2[3:], c2[:3, :3], hbr_km, True)
            out["pc_2d_unadjusted"] = pc2d.pc2d(x1[:3], x1[3:], c1[:3, :3], x2[:3], x2[3:], c2[:3, :3],
                                                hbr_km, False)
        except pc2d.NotApplicable as exc:
            out["pc_2d_refused"] = str(exc)
    span = None
    if "3d" in methods or "mc" in methods:
        res3 = pc3d.nc3d(x1, c1, x2, c2, hbr_km)
        span = (res3.t_min_s, res3.t_max_s)
        if "3d" in methods:
            out.update(nc_3d=res3.nc, nc_3d_t_min_s=res3.t_min_s, nc_3d_t_max_s=res3.t_max_s)
    if "mc" in methods:
        enc = montecarlo.encounter(x1, c1, x2, c2, hbr_km, span)
        mc = montecarlo.run(enc, trials, seed=seed, rel_halfwidth=rel_halfwidth,
                            count_hits=count_hits, window_s=span)
        out.update(pc_mc=mc.pc, pc_mc_low=mc.low, pc_mc_high=mc.high, trials=mc.trials,
                   hits=mc.hits, mc_seconds=mc.seconds, seed=seed)
    return out


def csv_text(results: list[dict]) -> str:
    """The results as CSV: a header of COLUMNS, a row per CDM (empty where None; warnings joined
    by '; ')."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in results:
        w.writerow(["" if r[k] is None else ("; ".join(r[k]) if k == "warnings" else r[k])
                    for k in COLUMNS])
    return buf.getvalue()


def _g(x) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def summary_lines(r: dict) -> list[str]:
    """What `fragrisk pc` prints for one conjunction."""
    lines = [f"{r['cdm']}: {r['object1']} x {r['object2']} at {r['tca']}, miss {r['miss_km'] * 1e3:,.1f} m, "
             f"relative speed {r['relative_speed_km_s'] * 1e3:,.1f} m/s, HBR {r['hbr_m']:g} m"
             + (", covariance repaired" if r["covariance_repaired"] else "")]
    if r["pc_2d_refused"] is not None:
        lines.append(f"  2D Pc: not applicable: {r['pc_2d_refused']}")
    elif r["pc_2d"] is not None:
        lines.append(f"  2D Pc (Foster): {_g(r['pc_2d'])} (states as given: {_g(r['pc_2d_unadjusted'])})")
    if r["nc_3d"] is not None:
        lines.append(f"  3D Nc (Hall):   {_g(r['nc_3d'])} over {r['nc_3d_t_min_s']:+.1f} .. "
                     f"{r['nc_3d_t_max_s']:+.1f} s from TCA")
    if r["pc_mc"] is not None:
        lines.append(f"  Monte Carlo:    {_g(r['pc_mc'])} [{_g(r['pc_mc_low'])}, {_g(r['pc_mc_high'])}] "
                     f"95 %, {r['hits']:,} hits in {r['trials']:,} trials ({r['mc_seconds']:.1f} s)")
    return lines
