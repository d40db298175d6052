"""The analysis window: sample times, time bins, the segment -> bin map and the time chunks
the estimator takes a long window in, and the size and probability bins of the results.

CHUNK_SEGMENTS is a constant, never sized to the machine: chunk boundaries decide the order of
floating-point sums, and results must not depend on where a run ran (engine.run.limits models
the memory of a window from the same constant).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..physics import risk

#: Segments (time steps) the estimator takes at once: per-fragment work arrays and the
#: (objects, targets, bins) rate buffer cover one such time chunk, not the window, so a year at
#: 60 s steps needs no more memory than 11 days. A constant, never sized to the machine: chunk
#: boundaries decide the order of floating-point sums, and results must not depend on where a
#: run ran. Windows up to this long are one chunk.
CHUNK_SEGMENTS = 1 << 14


@dataclasses.dataclass(frozen=True)
class Window:
    """Sample times and bins of an analysis.

    times_s (m,): sample times since the analysis start (0, step, ..., <= duration).
    time_edges_s (T+1,): time bins (default hourly; the last bin ends at the last sample).
    seg_bin (m-1,): time bin of each segment between consecutive samples.
    start_jd, start_fr: the analysis start (split Julian date).
    chunks: time chunks ((s0, s1), ...): samples s0..s1 (segments s0..s1-1), consecutive chunks
        sharing a sample, covering the window (time_chunks).
    """

    times_s: np.ndarray
    time_edges_s: np.ndarray
    seg_bin: np.ndarray
    start_jd: float
    start_fr: float
    step_s: float
    chunks: tuple = ()

    @property
    def times_min(self) -> np.ndarray:
        return self.times_s / 60.0

    @property
    def n_bins(self) -> int:
        return self.time_edges_s.size - 1

    def segments_per_bin(self) -> np.ndarray:
        return np.bincount(self.seg_bin, minlength=self.n_bins)

    def chunk_bins(self, chunk) -> tuple[int, int]:
        """The time bins [b0, b1) that the segments of `chunk` (s0, s1) fall in."""
        s0, s1 = chunk
        if s1 <= s0:
            return 0, self.n_bins
        return int(self.seg_bin[s0]), int(self.seg_bin[s1 - 1]) + 1

    def max_chunk_bins(self) -> int:
        return max(b1 - b0 for b0, b1 in map(self.chunk_bins, self.chunks))


def time_chunks(seg_bin, max_segments: int = CHUNK_SEGMENTS) -> tuple:
    """Split the segments of a window into chunks of at most max_segments, each ending where a
    time bin starts (a bin longer than a chunk is split): ((s0, s1), ...) in samples."""
    n_seg = int(seg_bin.size)
    bounds = [0]
    while bounds[-1] < n_seg:
        lo, hi = bounds[-1], bounds[-1] + max_segments
        if hi < n_seg:
            bin_start = int(np.searchsorted(seg_bin, seg_bin[hi], side="left"))
            hi = bin_start if bin_start > lo else hi
        bounds.append(min(hi, n_seg))
    if len(bounds) == 1:  # a single sample: no segments
        return ((0, 0),)
    return tuple((a, b) for a, b in zip(bounds[:-1], bounds[1:]))


def analysis_window(analysis, chunk_segments: int = CHUNK_SEGMENTS) -> Window:
    """Samples every step_s from the start up to the last whole step within the duration (uniform
    steps: the fused kernel's jumps and the prefilter's chord bounds rely on them), hourly (or
    time_bin_s) bins, the last one ending at the last sample; time chunks of chunk_segments."""
    m = analysis.n_samples  # engine.scenario.model.window_samples: info and limits count so too
    times_s = np.arange(m) * float(analysis.step_s)
    end_s = times_s[-1]
    edges = np.arange(0.0, end_s, float(analysis.time_bin_s))
    edges = np.append(edges, end_s) if edges.size else np.array([0.0, end_s])
    seg_bin = risk.segment_bins(times_s, edges).astype(np.int32)
    return Window(times_s, edges, seg_bin, analysis.start_jd, analysis.start_fr, float(analysis.step_s),
                  time_chunks(seg_bin, chunk_segments))


def pc_edges_log10(bins_per_decade: int) -> np.ndarray:
    """log10 P bin edges of the collision-probability histogram: from 1e-12 to 1, bins_per_decade
    bins per decade (exact at the decades: integers divided by the count)."""
    n = int(bins_per_decade)
    return np.arange(-12 * n, 1, dtype=np.float64) / n


def size_edges_m(lc_min_m: float) -> np.ndarray:
    """Size bins: one per decade of Lc from lc_min up to 100 m (remnants can be metres)."""
    n_decades = int(math.ceil(math.log10(100.0 / lc_min_m) - 1e-9))
    return lc_min_m * 10.0 ** np.arange(n_decades + 1)
