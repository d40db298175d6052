"""What `fragrisk run` leaves out by not propagating deep-space fragments (period >= 225 min).

    python -m benchmarks.deep_space [--realizations 200] [--lc-min 0.1] [--kept-realizations 5]

The kernels implement near-earth SGP4 only, so `run` counts deep-space fragments and drops them.
This measures what they would add to the expected collisions with the first target (the ISS in
the built-in scenario), with the brute-force reference of the tests (tests/reference.py:
python-sgp4 at 1 s steps, which takes SDP4 for these orbits, and the exact chord of each
second) over the scenario's whole window. Their mean elements are the element fit's inversion
(engine.physics.fit.invert_sgp4_at_epoch) of their states at the event epoch. For scale, the same
realizations' kept fragments through fragrisk's NumPy estimator: the first --kept-realizations
of them (about 3 s each at lc_min 0.1 m on one core).

Prints a table; writes benchmarks/results/deep_space_cpu.json. About 2 minutes with the
defaults on one core.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np
from fragrisk.engine import cloud
from fragrisk.engine.physics import fit, risk
from fragrisk.engine.run.batches import run_batch
from fragrisk.engine.run.setup import make_setup
from fragrisk.engine.scenario import load_scenario

from benchmarks.common import environment, print_table, write_json
from tests.reference import brute_force_lambda, satrec_from

#: Satrecs propagated together by the brute force: bounds its (objects, seconds, 3) arrays.
CHUNK = 300


def deep_space_lambda(setup, realizations) -> dict:
    """Brute-force lambda (first target) of the deep-space fragments of `realizations`."""
    sc, w = setup.scenario, setup.window
    cl = cloud.sample_cloud(sc, realizations)
    deep = np.flatnonzero(cl.status == cloud.STATUS_DEEP_SPACE)
    el = fit.invert_sgp4_at_epoch(cl.position_km[deep], cl.velocity_km_s[deep])
    sats = [satrec_from({k: el[k][j] for k in el}, cl.bstar[i], cl.epoch_jd, cl.epoch_fr, j + 1)
            for j, i in enumerate(deep)]
    target = sc.targets[0]
    target_satrec = target.elements.to_satrecs()[0]
    radius_m = float(setup.targets.hard_body_radius_m[0])
    sigma_over_v = (risk.cross_section_km2([radius_m], cl.fragments.lc_m[deep])[:, 0]
                    / risk.sphere_volume_km3(setup.kernel_radius_km))
    lam = np.zeros(deep.size)
    for lo in range(0, deep.size, CHUNK):
        lam[lo:lo + CHUNK] = brute_force_lambda(sats[lo:lo + CHUNK], target_satrec,
                                                w.start_jd, w.start_fr, float(w.times_s[-1]),
                                                sigma_over_v[lo:lo + CHUNK], setup.kernel_radius_km)
    return dict(target=target.name, realizations=int(realizations.size), deep_space_fragments=int(deep.size),
                fragments=int(cl.status.size), kept_fragments=int(np.sum(cl.status == cloud.STATUS_KEPT)),
                deep_space_lambda_total=float(lam.sum()),
                deep_space_lambda_per_realization=float(lam.sum() / realizations.size),
                deep_space_fragments_with_lambda=int(np.count_nonzero(lam)))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realizations", type=int, default=200)
    ap.add_argument("--lc-min", type=float, default=None, help="m (default: the scenario's)")
    ap.add_argument("--kept-realizations", type=int, default=5)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    sc = load_scenario("cosmos1408")
    if args.lc_min is not None:
        sc = dataclasses.replace(sc, event=dataclasses.replace(sc.event, lc_min_m=args.lc_min))
    setup = make_setup(sc, "cpu")
    start = time.perf_counter()
    row = dict(lc_min_m=sc.event.lc_min_m, duration_days=sc.analysis.duration_days,
               **deep_space_lambda(setup, np.arange(args.realizations)))
    kept = run_batch(setup, np.arange(args.kept_realizations)).by_time.sum(axis=2)[0]
    row.update(kept_realizations=args.kept_realizations, kept_lambda_per_realization=float(kept.mean()),
               deep_over_kept=row["deep_space_lambda_per_realization"] / float(kept.mean()))
    print_table([row], ["lc_min_m", "realizations", "fragments", "kept_fragments", "deep_space_fragments",
                        "deep_space_fragments_with_lambda", "deep_space_lambda_per_realization",
                        "kept_lambda_per_realization", "deep_over_kept"])
    path = write_json("deep_space_cpu", {
        "benchmark": "deep_space", "command": "python -m benchmarks.deep_space " + " ".join(sys.argv[1:] if argv is None else argv),
        "environment": environment("cpu"), "rows": [row], "elapsed_s": time.perf_counter() - start,
    }, args.out)
    print(f"\nwrote {path} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
