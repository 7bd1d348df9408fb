"""Drift of the gate's inputs and outputs: one day of market features against the training reference.

Per gate feature: PSI and KS of the day against the gate dataset's train split (the day itself
left out, so a day is never compared with itself), each with a null threshold from a block
bootstrap of the reference (:mod:`trademl.monitoring.stats`). The same for the gate's predicted
probabilities. ``drift_score`` is the largest statistic/threshold ratio, divided by the
family-wise 99th percentile of that maximum under the null: above 1, the day is further from the
reference than 99 % of same-size samples of the reference itself. Where the day's outcomes are
known (its rows carry gate_dataset labels), ADWIN watches the gate's absolute error |label − p|
over the labelled reference rows just before the day, then the day.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from trademl.errors import InputError
from trademl.monitoring.stats import (
    ReferenceBins,
    adwin_error_drift,
    bin_shares,
    block_length,
    calibrate,
)

PROBA = "gate_proba"


@dataclass(frozen=True)
class DriftSettings:
    """How the drift report is computed (the asset's Config mirrors these)."""

    bins: int = 10
    replicates: int = 200
    quantile: float = 0.99
    block_minutes: float = 60.0
    adwin_delta: float = 0.002
    min_rows: int = 200
    max_reference_rows: int = 200_000
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.5 < self.quantile < 1:
            raise InputError("drift_report config", f"quantile {self.quantile} not in (0.5, 1)")
        if self.replicates < 20:
            raise InputError("drift_report config", "replicates must be at least 20")
        if not (self.block_minutes > 0 and 0 < self.adwin_delta < 1 and self.bins >= 2):
            raise InputError(
                "drift_report config", "need block_minutes > 0, 0 < adwin_delta < 1, bins >= 2"
            )


@dataclass
class DriftResult:
    """The report's figures; ``features`` and ``prediction`` hold per-statistic detail."""

    drift_score: float
    drifted: bool
    features: dict[str, dict[str, float]]
    prediction: dict[str, float]
    error_drift: dict[str, Any] | None
    reference_rows: int
    current_rows: int
    current_dropped: int
    labelled_current_rows: int
    block_rows: int
    replicates: int
    family_quantile: float
    reference_id: str
    gate: str
    shares: dict[str, tuple[list[float], list[float]]] = field(repr=False, default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("shares")
        return out


def feature_frame(frame: pd.DataFrame, features: tuple[str, ...], name: str) -> pd.DataFrame:
    """``symbol``, ``ts`` (float seconds) and the features, finite rows only, in (symbol, ts)
    order; raises naming ``name`` when columns are missing."""
    time_col = "ts" if "ts" in frame.columns else "timestamp"
    missing = [c for c in ("symbol", time_col, *features) if c not in frame.columns]
    if missing:
        raise InputError(name, f"missing columns {', '.join(missing)}")
    out = pd.DataFrame({"symbol": frame["symbol"].astype(str).to_numpy()})
    out["ts"] = _seconds(frame[time_col])
    for col in features:
        out[col] = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
    if "label" in frame.columns:
        out["label"] = pd.to_numeric(frame["label"], errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(out[["ts", *features]].to_numpy(dtype=float)).all(axis=1)
    return out[finite].sort_values(["symbol", "ts"], kind="stable").reset_index(drop=True)


def _seconds(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype=float)
    stamps = pd.to_datetime(col, utc=True, errors="coerce")
    ns = stamps.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float)
    return np.where(stamps.isna().to_numpy(), np.nan, ns / 1e9)


def segments_of(frame: pd.DataFrame) -> list[tuple[int, int]]:
    """Row ranges with one symbol and no feed gap over 10 median spacings (at least 60 s)."""
    ts = frame["ts"].to_numpy()
    sym = frame["symbol"].to_numpy()
    steps = np.diff(ts)
    same = sym[1:] == sym[:-1]
    spacing = float(np.median(steps[same & (steps > 0)])) if (same & (steps > 0)).any() else 1.0
    breaks = np.flatnonzero(~same | (steps > max(60.0, 10 * spacing))) + 1
    bounds = [0, *breaks.tolist(), len(frame)]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def median_spacing(frame: pd.DataFrame) -> float:
    ts, sym = frame["ts"].to_numpy(), frame["symbol"].to_numpy()
    steps = np.diff(ts)
    ok = (sym[1:] == sym[:-1]) & (steps > 0)
    return float(np.median(steps[ok])) if ok.any() else float("nan")


def gate_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    predict_proba,
    features: tuple[str, ...],
    settings: DriftSettings | None = None,
    gate_name: str = "",
) -> DriftResult:
    """Drift of ``current`` (one day of market features, ``label`` where known) against
    ``reference`` (the gate's training rows); ``predict_proba(rows (n, k)) -> (n,)``."""
    settings = settings or DriftSettings()
    ref = feature_frame(reference, features, "drift reference (gate_dataset train split)")
    cur_all = feature_frame(current, features, "drift current (market_features)")
    dropped = len(current) - len(cur_all)
    if len(ref) > settings.max_reference_rows:  # keep time order: every k-th row
        ref = ref.iloc[:: -(-len(ref) // settings.max_reference_rows)].reset_index(drop=True)
    for frame, what in ((ref, "reference (gate_dataset train split)"), (cur_all, "current day")):
        if len(frame) < settings.min_rows:
            raise InputError(
                "drift_report",
                f"{what} has {len(frame)} usable rows; at least {settings.min_rows} are needed",
            )
    cur = cur_all
    ref_proba = np.asarray(predict_proba(ref[list(features)].to_numpy()), dtype=float)
    cur_proba = np.asarray(predict_proba(cur[list(features)].to_numpy()), dtype=float)
    ref_cols = {f: ref[f].to_numpy() for f in features} | {PROBA: ref_proba}
    cur_cols = {f: cur[f].to_numpy() for f in features} | {PROBA: cur_proba}

    bins = {k: ReferenceBins(v, settings.bins) for k, v in ref_cols.items()}
    block = block_length(len(ref), median_spacing(ref), settings.block_minutes, len(cur))
    null = calibrate(
        bins,
        ref_cols,
        segments_of(ref),
        len(cur),
        block,
        ks_columns=features,
        replicates=settings.replicates,
        quantile=settings.quantile,
        seed=settings.seed,
    )
    observed = {f"psi:{k}": b.psi(cur_cols[k]) for k, b in bins.items()}
    observed |= {f"ks:{k}": bins[k].ks(cur_cols[k]) for k in features}
    ratios = {k: v / null.thresholds[k] for k, v in observed.items()}
    score = max(ratios.values()) / max(null.family_quantile, 1e-9)

    per_feature: dict[str, dict[str, float]] = {}
    for f in features:
        ks = scipy_stats.ks_2samp(ref_cols[f], cur_cols[f])
        per_feature[f] = {
            "psi": round(observed[f"psi:{f}"], 5),
            "psi_threshold": round(null.thresholds[f"psi:{f}"], 5),
            "ks": round(float(ks.statistic), 5),
            "ks_pvalue": float(ks.pvalue),
            "ks_threshold": round(null.thresholds[f"ks:{f}"], 5),
            "ratio": round(max(ratios[f"psi:{f}"], ratios[f"ks:{f}"]), 4),
        }
    prediction = {
        "psi": round(observed[f"psi:{PROBA}"], 5),
        "psi_threshold": round(null.thresholds[f"psi:{PROBA}"], 5),
        "ratio": round(ratios[f"psi:{PROBA}"], 4),
        "reference_mean": round(float(ref_proba.mean()), 5),
        "current_mean": round(float(cur_proba.mean()), 5),
    }
    error = _error_drift(ref, cur, cur_proba, predict_proba, features, settings)
    return DriftResult(
        drift_score=round(float(score), 4),
        drifted=bool(score > 1.0),
        features=per_feature,
        prediction=prediction,
        error_drift=error,
        reference_rows=len(ref),
        current_rows=len(cur),
        current_dropped=int(dropped),
        labelled_current_rows=int(np.isfinite(cur.get("label", pd.Series(dtype=float))).sum()),
        block_rows=block,
        replicates=null.replicates,
        family_quantile=round(null.family_quantile, 4),
        reference_id=_reference_id(ref),
        gate=gate_name,
        shares={
            k: (
                (b.counts / b.n).round(5).tolist(),
                bin_shares(cur_cols[k], b.edges).round(5).tolist(),
            )
            for k, b in bins.items()
        },
    )


def _error_drift(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    cur_proba: np.ndarray,
    predict_proba,
    features: tuple[str, ...],
    settings: DriftSettings,
) -> dict[str, Any] | None:
    """ADWIN over |label − p|: labelled reference rows just before the day (as many as the day
    has; training rows, so their error is optimistic), then the day's labelled rows, all in time
    order. None when the day has no outcomes yet."""
    if "label" not in cur.columns or "label" not in ref.columns:
        return None
    known = np.isfinite(cur["label"].to_numpy())
    if known.sum() < settings.min_rows:
        return None
    order = np.argsort(cur["ts"].to_numpy()[known], kind="stable")
    cur_err = np.abs(cur["label"].to_numpy()[known] - np.clip(cur_proba[known], 0, 1))[order]
    start = float(cur["ts"].min())
    before = ref[(ref["ts"] < start) & np.isfinite(ref["label"].to_numpy())]
    before = before.sort_values("ts", kind="stable").tail(int(known.sum()))
    warm_p = np.clip(predict_proba(before[list(features)].to_numpy()), 0, 1) if len(before) else []
    warm_err = np.abs(before["label"].to_numpy() - np.asarray(warm_p, dtype=float))
    drift = adwin_error_drift(warm_err, cur_err, settings.adwin_delta)
    times = np.sort(cur["ts"].to_numpy()[known])
    first = drift.first_detection
    return asdict(drift) | {
        "warmup_rows": len(before),
        "first_change_at": None
        if first is None
        else pd.Timestamp(times[first], unit="s", tz="UTC").floor("s").isoformat(),
        "mean_error_day": round(float(cur_err.mean()), 5),
        "delta": settings.adwin_delta,
    }


def _reference_id(ref: pd.DataFrame) -> str:
    """The reference's identity: its rows' times, not the gate's version. A retrain on the same
    data gives the same id, so the drift sensor's run key does not ask for it again and again."""
    digest = hashlib.sha1(np.ascontiguousarray(ref["ts"].to_numpy()).tobytes())
    digest.update("\0".join(ref["symbol"].unique().tolist()).encode())
    return digest.hexdigest()[:12]
