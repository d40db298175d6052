"""Hall's 3D expected number of collisions, Nc, from both objects' 6x6 covariances.

D. T. Hall, "Expected Collision Rates for Tracked Satellites", J. Spacecraft and Rockets 58(3),
715-728 (2021), with the velocity-uncertainty integrand of V. T. Coppola, "Including Velocity
Uncertainty in the Probability of Collision between Space Objects", AAS 12-247 (2012). For a
single, isolated conjunction Nc equals the Pc (Hall 2021, sec. II).

What it assumes, and why it holds where 2D fails: each object's orbit-determination PDF at TCA
is Gaussian in equinoctial elements (twobody.py), so each sample moves on its own Keplerian
orbit; no straight-line motion, no short-encounter assumption. At each time t of the encounter
the collision rate is the probability flux into the hard-body sphere,

    dNc/dt = R^2 oint dOmega  p_r(R u)  E[(-u . v)^+ | r = R u],

with p_r the relative-position density and the expectation over the relative velocity given the
position (a 1D Gaussian along u: m Phi(m/s) + s phi(m/s)). Hall makes p_r Gaussian by
linearizing the elements -> state map not about the mean orbits but about the "peak overlap
point" of the two position PDFs at t, found by fixed-point iteration (`peak_overlap`); this is
what keeps the linearization accurate for along-track sigmas of hundreds of km, where the PDFs
are bananas. Nc is the time integral of dNc/dt over the encounter, bounded by the maxima of the
mean separation on either side of TCA (the encounter segment), refined adaptively here.

The sphere integral uses a Lebedev rule (scipy.integrate.lebedev_rule), the time integral
Gauss-Legendre panels over where dNc/dt is non-negligible. Units km, s.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import special
from scipy.integrate import lebedev_rule  # SciPy >= 1.15

from . import twobody
from .covariance import clipped_inverse

#: Lebedev order of the sphere integral: 5810 points (order 131), CARA's default size; the
#: integrand varies on the scale of sigma / R, resolved for sigma > R / 20.
LEBEDEV_ORDER = 131
#: Eigenvalue floor of the position covariances, as a fraction of the HBR (squared): CARA's
#: Fclip = 1e-4, keeps the inverse finite where one direction of a covariance is ~0.
FCLIP = 1e-4
#: Peak-overlap iteration: at most this many steps, converged when the peak moves by less than
#: 1e-4 of its own sigma (Mahalanobis distance squared 1e-8; CARA's PeakOverlapPos accepts 1e-12
#: early, 1e-6 late). The rate depends on the expansion point only at second order, and with
#: the ~1e-19 km^2 eigenvalues of some covariances the iterates stall at 1e-11..1e-9 by rounding.
POP_MAX_ITER = 100
POP_TOL_MD2 = 1e-8
#: Time panels: the integral is refined until two successive estimates agree to this relative
#: tolerance (well inside the 2 % the method is checked to).
NC_RTOL = 1e-4
#: dNc/dt below this fraction of its peak is treated as the end of the encounter.
RATE_CUTOFF = 1e-14
#: How far the mean separation must open, as a factor over its closest approach on the way, for
#: a maximum to bound the encounter segment (`encounter_segment`).
SEGMENT_RISE = 1.2
#: Separation changes below (1 mm)^2 are rounding, not relative motion (km^2).
SEPARATION_NOISE_KM2 = 1e-12
#: Coppola's gamma: the share of the encounter's probability outside its time bounds (CARA's default).
COPPOLA_GAMMA = 1e-16
#: Panels of each part of the survey of the segment, and the times in each (it only finds where
#: the rate lives; the integral then takes 16 Gauss-Legendre times per panel).
N_SURVEY_PANELS = 32
N_SURVEY_NODES = 4


@dataclasses.dataclass(frozen=True)
class Nc3D:
    """Hall's 3D result: Nc, the time span used (s from TCA), the peak rate's time, and whether
    every peak-overlap iteration converged."""

    nc: float
    t_min_s: float
    t_max_s: float
    t_peak_s: float
    converged: bool
    n_times: int


def _sphere():
    x, w = lebedev_rule(LEBEDEV_ORDER)
    return x.T.copy(), w / w.sum() * 4.0 * np.pi  # (n, 3) unit vectors, weights summing to 4 pi


def peak_overlap(t, e1, q1, e2, q2, hbr_km):
    """Hall's peak-overlap linearization at times t (m,): returns (ru, vu, P, converged, failed),
    the linearized mean relative position (m, 3), velocity (m, 3) and 6x6 relative covariance
    (m, 6, 6) of object 2 minus object 1; failed where an expansion point left the bound orbits."""
    t = np.asarray(t, dtype=float)
    floor = (FCLIP * hbr_km) ** 2
    es = [np.broadcast_to(e1, t.shape + (6,)).copy(), np.broadcast_to(e2, t.shape + (6,)).copy()]
    means = (e1, e2)
    covs = (q1, q2)
    mup_old = None
    converged = np.zeros(t.shape, dtype=bool)
    failed = np.zeros(t.shape, dtype=bool)
    for iteration in range(POP_MAX_ITER):
        xu, ps, ainv = [], [], []
        for i in range(2):
            xs, js = twobody.jacobian(es[i], t)
            de = means[i] - es[i]
            de[..., 5] = twobody.wrap_angle(de[..., 5])
            xu.append(xs + np.einsum("...ij,...j->...i", js, de))
            p = js @ covs[i] @ np.swapaxes(js, -1, -2)
            ps.append(0.5 * (p + np.swapaxes(p, -1, -2)))
            ainv.append(clipped_inverse(ps[-1][..., :3, :3], floor)[0])
        sig_inv = ainv[0] + ainv[1]
        sig, _ = clipped_inverse(sig_inv, floor)
        mup = np.einsum("...ij,...j->...i", sig,
                        np.einsum("...ij,...j->...i", ainv[0], xu[0][..., :3])
                        + np.einsum("...ij,...j->...i", ainv[1], xu[1][..., :3]))
        if mup_old is not None:
            d = mup - mup_old
            rem_inv = np.linalg.inv(sig + np.eye(3) * hbr_km ** 2)
            md2 = np.einsum("...i,...ij,...j->...", d, rem_inv, d)
            converged = md2 <= POP_TOL_MD2
            if np.all(converged):
                break
            if iteration > 5:  # damp the slow or oscillating ones
                mup = 0.5 * (mup + mup_old)
        mup_old = mup
        for i in range(2):
            beta = ps[i][..., 3:, :3] @ ainv[i]
            vel = xu[i][..., 3:] + np.einsum("...ij,...j->...i", beta, mup - xu[i][..., :3])
            state = np.concatenate([mup, vel], axis=-1)
            e_new = twobody.state_to_elements(state, strict=False)
            e_new[..., 5] -= e_new[..., 0] * t  # back to the elements at TCA
            # An unbound or degenerate expansion point: keep the last one, mark the time failed
            # (CARA's PeakOverlapPos fails the same way; such times get no rate).
            bad = np.isnan(e_new).any(axis=-1)
            failed |= bad
            es[i] = np.where(bad[..., None], es[i], e_new)
    ru = xu[1][..., :3] - xu[0][..., :3]
    vu = xu[1][..., 3:] - xu[0][..., 3:]
    return ru, vu, ps[0] + ps[1], converged & ~failed, failed


def collision_rate(t, e1, q1, e2, q2, hbr_km, sphere=None, chunk: int = 32):
    """dNc/dt [1/s] at times t (m,), and whether each peak-overlap iteration converged
    (computed ``chunk`` times at a time: the sphere integrand is (times, points, 3))."""
    sphere = sphere if sphere is not None else _sphere()
    t = np.atleast_1d(np.asarray(t, dtype=float))
    parts = [_rate(t[i:i + chunk], e1, q1, e2, q2, hbr_km, sphere) for i in range(0, len(t), chunk)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _rate(t, e1, q1, e2, q2, hbr_km, sphere):
    u, w = sphere
    ru, vu, p, conv, failed = peak_overlap(t, e1, q1, e2, q2, hbr_km)
    a = p[..., :3, :3]
    b = p[..., 3:, :3]
    c = p[..., 3:, 3:]
    ainv, adet = clipped_inverse(a, (FCLIP * hbr_km) ** 2)
    bs = b @ ainv
    csp = c - bs @ np.swapaxes(b, -1, -2)
    pos = hbr_km * u  # (n, 3) points of the sphere
    d = pos[None, :, :] - ru[:, None, :]  # (m, n, 3)
    md2 = np.maximum(np.einsum("mni,mij,mnj->mn", d, ainv, d), 0.0)
    with np.errstate(over="ignore"):
        dens = np.exp(-0.5 * md2) / np.sqrt((2 * np.pi) ** 3 * adet)[:, None]
    vc = vu[:, None, :] + np.einsum("mij,mnj->mni", bs, d)
    mean = -np.einsum("ni,mni->mn", u, vc)  # inward speed's mean
    var = np.einsum("ni,mij,nj->mn", u, csp, u)
    s = np.sqrt(np.maximum(var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, mean / s, np.sign(mean) * np.inf)
        flux = np.where(s > 0, mean * special.ndtr(z) + s * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi),
                        np.maximum(mean, 0.0))
    with np.errstate(invalid="ignore", over="ignore"):
        rate = hbr_km ** 2 * np.sum(dens * flux * w[None, :], axis=1)
    bad = failed | ~np.isfinite(rate)
    return np.where(bad, 0.0, rate), conv & ~bad


def encounter_segment(e1, e2) -> tuple[float, float]:
    """(ta, tb) s from TCA: the maxima of the mean orbits' separation on either side of TCA (one
    encounter per segment; Hall 2021), or half the shorter period where none brackets TCA.

    A maximum bounds the segment only where the separation there is at least SEGMENT_RISE times
    the closest the orbits come between it and TCA: a wiggle of a few per cent in a slow pair's
    separation (TROPICS PATHFINDER and LINCS2 drift 530 to 580 m apart and back) does not end
    their encounter, while a relative orbit that opens from metres to hundreds of metres does."""
    p1, p2 = twobody.period_s(e1), twobody.period_s(e2)
    half = 0.5 * min(p1, p2)
    span = min(1.1 * max(p1, p2), 2.2 * min(p1, p2))
    t = np.linspace(-span, span, 2001)
    d2 = np.sum((twobody.elements_to_state(e2, t)[..., :3]
                 - twobody.elements_to_state(e1, t)[..., :3]) ** 2, axis=-1)
    interior = np.flatnonzero((d2[1:-1] >= d2[:-2]) & (d2[1:-1] >= d2[2:])) + 1
    # Maxima of rounding noise (identical orbits: a separation of ~0 throughout) do not count.
    interior = interior[d2[interior] - d2.min() > SEPARATION_NOISE_KM2]
    centre = int(np.argmin(np.abs(t)))
    bounds = []
    for side in (-1, 1):
        found = None
        for k in sorted(interior[(interior - centre) * side > 0], key=lambda k: abs(k - centre)):
            between = d2[min(k, centre):max(k, centre) + 1].min()
            if d2[k] >= SEGMENT_RISE ** 2 * between:
                found = float(t[k])
                break
        bounds.append(found)
    if bounds[0] is None or bounds[1] is None:
        return -half, half
    return bounds[0], bounds[1]


def linear_window(r_km, v_km_s, cov_pos_km2, hbr_km, gamma=COPPOLA_GAMMA) -> tuple[float, float]:
    """Coppola's conjunction time bounds (tau0, tau1), s from TCA: straight-line relative motion,
    outside which the relative-position Gaussian puts no more than ``gamma`` of its mass within
    HBR of the origin (V. T. Coppola, "Evaluating the short encounter assumption of the
    probability of collision formula", AAS 12-248, 2012). In the frame x along v, (y, z) the
    encounter plane: the along-track offset given the in-plane position has mean b . r_yz and
    variance eta^2 - b . w (b = P_yz^-1 w, w the x-(y, z) covariance, eta^2 the x variance)."""
    speed = float(np.linalg.norm(v_km_s))
    if speed == 0.0:
        return -np.inf, np.inf
    x = v_km_s / speed
    y = r_km - x * (x @ r_km)
    if np.linalg.norm(y) == 0.0:
        trial = np.eye(3)[np.argmin(np.abs(x))]
        y = trial - x * (x @ trial)
    y = y / np.linalg.norm(y)
    rot = np.stack([x, y, np.cross(x, y)])
    r = rot @ r_km
    a = rot @ cov_pos_km2 @ rot.T
    w = a[1:, 0]
    b = np.linalg.solve(a[1:, 1:], w)
    sv2 = np.sqrt(max(0.0, 2.0 * (a[0, 0] - b @ w)))
    q0 = b @ r[1:]
    d_min, d_max = -hbr_km * np.sqrt(b @ b), hbr_km * np.sqrt(1.0 + b @ b)
    ac = special.erfcinv(gamma)
    return (-ac * sv2 + q0 - d_max) / speed, (ac * sv2 + q0 - d_min) / speed


def encounter_window(x1_km, cov1, x2_km, cov2, hbr_km: float, widen: float = 10.0):
    """(t0, t1) s from TCA over which a collision can happen: the linear-motion window
    (`linear_window`) widened ``widen`` times about its middle (the motion curves), cut to the
    encounter segment (`encounter_segment`). Shared by the 3D and Monte Carlo methods."""
    x1_km, x2_km = np.asarray(x1_km, dtype=float), np.asarray(x2_km, dtype=float)
    m = twobody.regular_frame(x1_km, x2_km)
    e1 = twobody.state_to_elements(twobody.rotate_state(m, x1_km))
    e2 = twobody.state_to_elements(twobody.rotate_state(m, x2_km))
    ta, tb = encounter_segment(e1, e2)
    r, v = x2_km[:3] - x1_km[:3], x2_km[3:] - x1_km[3:]
    la, lb = linear_window(r, v, cov1[:3, :3] + cov2[:3, :3], hbr_km)
    if not (np.isfinite(la) and np.isfinite(lb)):  # no relative velocity: the whole segment
        return ta, tb
    mid, half = 0.5 * (la + lb), 0.5 * (lb - la) * widen
    lo, hi = max(ta, mid - half), min(tb, mid + half)
    return (lo, hi) if lo < hi else (ta, tb)


def nc3d(x1_km, cov1, x2_km, cov2, hbr_km: float, n_panel: int = 16) -> Nc3D:
    """Hall's Nc for states x1, x2 (6,) [km, km/s] at TCA and inertial 6x6 covariances [km, s].

    The time integral: Gauss-Legendre on panels over [ta, tb], the encounter segment cut to the
    linear window widened tenfold (curvature), then the panels are halved where the estimate
    changes by more than NC_RTOL, and the span cut to where the rate exceeds RATE_CUTOFF x peak.
    """
    x1_km, x2_km = np.asarray(x1_km, dtype=float), np.asarray(x2_km, dtype=float)
    m = twobody.regular_frame(x1_km, x2_km)
    x1_km, x2_km = twobody.rotate_state(m, x1_km), twobody.rotate_state(m, x2_km)
    cov1, cov2 = twobody.rotate_covariance(m, cov1), twobody.rotate_covariance(m, cov2)
    e1 = twobody.state_to_elements(x1_km)
    e2 = twobody.state_to_elements(x2_km)
    j1 = twobody.jacobian(e1)[1]
    j2 = twobody.jacobian(e2)[1]
    k1, k2 = np.linalg.inv(j1), np.linalg.inv(j2)
    q1 = k1 @ cov1 @ k1.T
    q2 = k2 @ cov2 @ k2.T
    ta, tb = encounter_segment(e1, e2)
    lo, hi = encounter_window(x1_km, cov1, x2_km, cov2, hbr_km, widen=1.0)
    sphere = _sphere()
    nodes, weights = np.polynomial.legendre.leggauss(n_panel)

    survey_nodes, survey_weights = np.polynomial.legendre.leggauss(N_SURVEY_NODES)

    def integrate_on(edges, nodes=nodes, weights=weights):
        a, b = edges[:-1, None], edges[1:, None]
        t = (0.5 * (b - a) * nodes + 0.5 * (a + b)).ravel()
        rate, conv = collision_rate(t, e1, q1, e2, q2, hbr_km, sphere)
        per_panel = (0.5 * (b - a) * weights * rate.reshape(len(a), -1)).sum(axis=1)
        return per_panel, t, rate, conv

    # 1. Survey the encounter segment: Coppola's window (where the straight-line encounter
    #    lies) and the rest of the segment on either side. Runs of panels with a non-negligible
    #    rate make up the encounter,
    #    except runs that reach the segment's ends: there the separation of the mean orbits is
    #    at its largest, and a rate bump there is the neighbouring conjunction, half an orbit
    #    away (which CARA's Pc3D leaves out too). The run through TCA always counts.
    pieces = [(ta, lo), (lo, hi), (hi, tb)]
    edges = np.unique(np.concatenate([np.linspace(a, b, N_SURVEY_PANELS + 1) for a, b in pieces if b > a]))
    panels, t, rate, conv = integrate_on(edges, survey_nodes, survey_weights)
    n_pan = len(edges) - 1
    peak_rate = rate.max()
    if peak_rate > 0:
        live = rate.reshape(n_pan, -1).max(axis=1) > RATE_CUTOFF * peak_rate
        keep = np.zeros(n_pan, dtype=bool)
        i = 0
        while i < n_pan:
            if not live[i]:
                i += 1
                continue
            j = i
            while j + 1 < n_pan and live[j + 1]:
                j += 1
            through_tca = edges[i] <= 0.0 <= edges[j + 1] or (edges[i] <= hi and edges[j + 1] >= lo)
            at_ends = i == 0 or j == n_pan - 1
            if through_tca or not at_ends:
                keep[i:j + 1] = True
            i = j + 1
        if keep.any():
            # The survey's own panels (fine over Coppola's window) from the first run kept to
            # the last, and a margin of one of its end panels' widths each side.
            first, last = np.flatnonzero(keep)[[0, -1]]
            inner = edges[first:last + 2]
            edges = np.concatenate([[max(ta, 2 * inner[0] - inner[1])], inner,
                                    [min(tb, 2 * inner[-1] - inner[-2])]])
            edges = np.unique(edges)
            panels, t, rate, conv = integrate_on(edges)
    # 2. Adaptive Gauss-Legendre: halve the panels whose halves change their integral, until the
    #    changes left add up to less than NC_RTOL of the total.
    t_all, rate_all, conv_all = [t], [rate], [conv]
    for _ in range(30):
        mids = 0.5 * (edges[1:] + edges[:-1])
        halves = np.sort(np.concatenate([edges, mids]))
        per_half, t2, rate2, conv2 = integrate_on(halves)
        t_all.append(t2), rate_all.append(rate2), conv_all.append(conv2)
        refined = per_half[0::2] + per_half[1::2]
        change = np.abs(refined - panels)
        total = refined.sum()
        if change.sum() <= NC_RTOL * abs(total) or total == 0.0:
            panels = refined
            break
        # Keep the settled panels (their refined value), split the others.
        split = change > NC_RTOL * abs(total) / len(panels)
        new_edges, new_panels = [edges[0]], []
        for i in range(len(panels)):
            if split[i]:
                new_edges += [mids[i], edges[i + 1]]
                new_panels += [per_half[2 * i], per_half[2 * i + 1]]
            else:
                new_edges.append(edges[i + 1])
                new_panels.append(refined[i])
        edges, panels = np.array(new_edges), np.array(new_panels)
    t, rate, conv = np.concatenate(t_all), np.concatenate(rate_all), np.concatenate(conv_all)
    nc = float(panels.sum())
    return Nc3D(nc=nc, t_min_s=float(edges[0]), t_max_s=float(edges[-1]),
                t_peak_s=float(t[np.argmax(rate)]), converged=bool(np.all(conv)), n_times=len(t))
