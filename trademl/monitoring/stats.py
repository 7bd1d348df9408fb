"""Drift statistics: PSI and KS between a reference and a current sample, thresholds calibrated
against the reference's own sampling noise, and ADWIN over an error stream.

PSI is computed on the reference's quantile bins (deciles by default), the desks' convention. Its
usual fixed alarm levels (0.1 / 0.25) ignore sample size: a few hundred rows from an unchanged
market already score above 0.1. And market rows are autocorrelated (a regime lasts an hour), so
an i.i.d. bootstrap under-states the noise of a day's sample too. The null distribution here is
a moving-block bootstrap: same-size samples of contiguous blocks of the reference, each scored
against the whole reference exactly as the current sample is. A statistic alarms above the
99th percentile of its null. No maintained library offers a block-bootstrap PSI null (``arch``
has block bootstraps but is not in the pins), so it is written here, on numpy, with tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Share given to an empty bin, so that PSI stays finite (the common 1e-4 smoothing).
EMPTY_BIN_SHARE = 1e-4


def quantile_edges(reference: np.ndarray, bins: int = 10) -> np.ndarray:
    """Interior bin edges at the reference's quantiles (ties merged: fewer bins, never empty)."""
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    ref = _finite(reference, "reference")
    edges = np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return np.unique(edges)


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` in each of the ``len(edges) + 1`` bins (right-closed at the edges)."""
    idx = np.searchsorted(edges, values, side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    return counts / max(len(values), 1)


def psi_from_shares(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two bin-share vectors."""
    ref = np.maximum(reference, EMPTY_BIN_SHARE)
    cur = np.maximum(current, EMPTY_BIN_SHARE)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """PSI of ``current`` against ``reference`` on the reference's quantile bins."""
    edges = quantile_edges(reference, bins)
    cur = _finite(current, "current")
    return psi_from_shares(
        bin_shares(_finite(reference, "reference"), edges), bin_shares(cur, edges)
    )


def block_length(rows: int, spacing_s: float, block_minutes: float, n_current: int) -> int:
    """Rows per bootstrap block: ``block_minutes`` of data, at most a quarter of the current
    sample (so a sample holds several blocks), at least one row."""
    if not (math.isfinite(spacing_s) and spacing_s > 0):
        spacing_s = 1.0
    length = int(round(block_minutes * 60.0 / spacing_s))
    return max(1, min(length, max(1, n_current // 4), rows))


def block_bootstrap_indices(
    segments: Sequence[tuple[int, int]], n: int, block: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` row indices made of random contiguous blocks that never cross a segment boundary
    (a symbol, or a gap in the feed). Segments shorter than ``block`` contribute whole."""
    starts = [np.arange(a, b - block + 1) for a, b in segments if b - a >= block]
    if not starts:
        longest = max(b - a for a, b in segments)
        return block_bootstrap_indices(segments, n, longest, rng)
    valid = np.concatenate(starts)
    k = -(-n // block)
    picked = rng.choice(valid, size=k, replace=True)
    return (picked[:, None] + np.arange(block)[None, :]).ravel()[:n]


@dataclass(frozen=True)
class NullCalibration:
    """Per-statistic null thresholds and the family-wise level of their largest ratio."""

    thresholds: dict[str, float]  # statistic -> its null quantile
    family_quantile: float  # quantile of max(statistic / threshold) over the null samples
    replicates: int
    block_rows: int


class ReferenceBins:
    """A reference column binned once: PSI and (grid) KS of any sample against the reference,
    or against the reference minus some of its own rows (the out-of-sample null)."""

    def __init__(self, reference: np.ndarray, bins: int = 10, grid: int = 1000):
        ref = _finite(reference, "reference")
        self.n = len(ref)
        self.edges = quantile_edges(ref, bins)
        self.counts = bin_shares(ref, self.edges) * self.n
        self.grid = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, grid + 1)))
        self.cdf = np.searchsorted(np.sort(ref), self.grid, side="right").astype(float)

    def psi(self, sample: np.ndarray, held_out: np.ndarray | None = None) -> float:
        """PSI of ``sample`` against the reference (without the ``held_out`` rows' values)."""
        ref_counts, n = self.counts, self.n
        if held_out is not None:
            ref_counts = ref_counts - bin_shares(held_out, self.edges) * len(held_out)
            n = n - len(held_out)
        return psi_from_shares(ref_counts / n, bin_shares(sample, self.edges))

    def ks(self, sample: np.ndarray, held_out: np.ndarray | None = None) -> float:
        """KS distance on the reference's quantile grid (within 1/grid of the exact D)."""
        ref_cdf, n = self.cdf, self.n
        if held_out is not None:
            ref_cdf = ref_cdf - np.searchsorted(np.sort(held_out), self.grid, side="right")
            n = n - len(held_out)
        cur = np.searchsorted(np.sort(sample), self.grid, side="right") / len(sample)
        return float(np.max(np.abs(ref_cdf / n - cur)))


def calibrate(
    reference: dict[str, ReferenceBins],
    columns: dict[str, np.ndarray],
    segments: Sequence[tuple[int, int]],
    n_current: int,
    block: int,
    *,
    ks_columns: Sequence[str] = (),
    replicates: int = 200,
    quantile: float = 0.99,
    seed: int = 0,
) -> NullCalibration:
    """Null thresholds of PSI (every column) and KS (``ks_columns``) from block-bootstrap samples
    of ``n_current`` reference rows (columns drawn jointly). Each sample is scored against the
    reference *without* the rows it drew, as the day under test is scored against a reference
    that does not hold it: scored against itself, a sample looks closer than any new day."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(replicates):
        idx = block_bootstrap_indices(segments, n_current, block, rng)
        held = np.unique(idx)
        if len(held) >= reference[next(iter(reference))].n:  # a tiny reference: no remainder
            held = held[: len(held) // 2]
        for name, col in columns.items():
            sample, out = col[idx], col[held]
            draws.setdefault(f"psi:{name}", []).append(reference[name].psi(sample, out))
            if name in ks_columns:
                draws.setdefault(f"ks:{name}", []).append(reference[name].ks(sample, out))
    arrays = {k: np.asarray(v) for k, v in draws.items()}
    # A statistic whose null is exactly 0 (a constant feature) alarms on any change at all.
    thresholds = {k: max(float(np.quantile(v, quantile)), 1e-9) for k, v in arrays.items()}
    ratios = np.max(np.stack([arrays[k] / thresholds[k] for k in arrays]), axis=0)
    return NullCalibration(thresholds, float(np.quantile(ratios, quantile)), replicates, block)


@dataclass(frozen=True)
class ErrorDrift:
    """What ADWIN saw in an error stream (warm-up rows first, then the rows under test)."""

    detections: int  # changes detected among the rows under test
    first_detection: int | None  # index (within the rows under test) of the first one
    mean_error_before: float  # mean error of the warm-up rows
    mean_error_after: float  # ADWIN's window mean at the end of the stream
    degraded: bool  # a change was detected and the error went up


def adwin_error_drift(warmup: np.ndarray, current: np.ndarray, delta: float = 0.002) -> ErrorDrift:
    """ADWIN (river) over ``warmup`` then ``current`` errors in [0, 1]; counts detections in
    ``current`` only (a change inside the warm-up is history, not news)."""
    from river.drift import ADWIN

    detector = ADWIN(delta=delta)
    for value in warmup:
        detector.update(float(value))
    detections, first = 0, None
    for i, value in enumerate(current):
        detector.update(float(value))
        if detector.drift_detected:
            detections += 1
            first = i if first is None else first
    before = float(np.mean(warmup)) if len(warmup) else float("nan")
    after = float(detector.estimation)
    degraded = detections > 0 and (not math.isfinite(before) or after > before)
    return ErrorDrift(detections, first, before, after, degraded)


def _finite(values: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError(f"{name} sample is empty")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} sample has {int((~np.isfinite(arr)).sum())} non-finite values")
    return arr
