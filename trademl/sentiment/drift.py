"""Concept drift on the sentiment model's error stream, by ADWIN (river).

Feed the model's 0/1 errors on labelled posts in time order; ADWIN keeps a window of the
stream and cuts its older part off when the two parts' error rates differ by more than chance
allows at confidence ``delta``. A detection means the model's error rate changed: crowd
language moved, and the model is due a retrain on recent labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["error_stream_drift", "model_errors"]


def model_errors(true_labels: Sequence[Any], predicted_labels: Sequence[Any]) -> np.ndarray:
    """1 where the prediction differs from the true label (case and spaces ignored), else 0."""
    if len(true_labels) != len(predicted_labels):
        raise ValueError(
            f"model_errors: {len(true_labels)} true labels for {len(predicted_labels)} "
            "predictions; they must line up"
        )

    def norm(v: Any) -> str:
        return str(v).strip().lower()

    return np.fromiter(
        (norm(t) != norm(p) for t, p in zip(true_labels, predicted_labels, strict=True)),
        dtype=np.int8,
        count=len(true_labels),
    )


def _stamp(ts: Any) -> str | None:
    if ts is None:
        return None
    return ts.isoformat() if hasattr(ts, "isoformat") else str(ts)


def error_stream_drift(
    errors: Sequence[Any],
    timestamps: Sequence[Any] | None = None,
    post_ids: Sequence[Any] | None = None,
    delta: float = 0.002,
) -> dict[str, Any]:
    """ADWIN(``delta``) over ``errors`` (0/1, oldest first); where the error rate changed.

    Result: ``n``; ``drift_detected`` (any detection); ``detections``, each with ``index`` (the
    error at which ADWIN fired), ``ts`` and ``post_id`` of that error (ISO string / string, None
    when not given), ``cut_index`` (first index of the part ADWIN kept), ``error_before``,
    ``error_after`` and ``width`` (the kept part's length); ``first`` (the first detection or
    None); ``error_rate`` over the whole stream (None when empty); ``event_id``, a stable name
    of the last detection (its post id, else its time, else ``"index <i>"``; None without one)
    for a sensor to alert once per event.

    ``error_before`` is the error rate of the older part of ADWIN's window that the detection
    cut off, ``error_after`` that of the part it kept (ADWIN's own estimate at the detection);
    both end at the detection index. river's ADWIN starts an empty window after each
    detection, so a later detection's ``error_before`` begins after the previous detection.
    The detection comes some errors after the change itself (ADWIN checks every 32 updates and
    needs evidence), and ``cut_index`` is its estimate of where the change began.
    """
    from river.drift import ADWIN

    if not 0.0 < delta < 1.0:
        raise ValueError(f"error_stream_drift: delta must be in (0, 1) (got {delta})")
    x = np.asarray(errors, dtype=float).reshape(-1)
    n = len(x)
    for name, other in (("timestamps", timestamps), ("post_ids", post_ids)):
        if other is not None and len(other) != n:
            raise ValueError(f"error_stream_drift: {len(other)} {name} for {n} errors")
    bad = np.flatnonzero((x != 0) & (x != 1))
    if len(bad):
        raise ValueError(
            f"error_stream_drift: errors must be 0 or 1; {len(bad)} are not "
            f"(first at index {int(bad[0])}: {float(x[bad[0]])})"
        )

    detector = ADWIN(delta=delta)
    detections: list[dict[str, Any]] = []
    start = 0  # first index of ADWIN's window before the current update
    for i, value in enumerate(x):
        detector.update(int(value))
        width = int(detector.width)
        if detector.drift_detected:
            cut = i + 1 - width
            detections.append(
                {
                    "index": i,
                    "ts": None if timestamps is None else _stamp(timestamps[i]),
                    "post_id": None if post_ids is None else str(post_ids[i]),
                    "cut_index": cut,
                    "error_before": round(float(x[start:cut].mean()), 4) if cut > start else None,
                    "error_after": round(float(x[cut : i + 1].mean()), 4),
                    "width": width,
                }
            )
            start = i + 1  # river restarts the window on the next update
        else:
            start = i + 1 - width
    last = detections[-1] if detections else None
    if last is None:
        event_id = None
    elif last["post_id"] is not None:
        event_id = last["post_id"]
    elif last["ts"] is not None:
        event_id = last["ts"]
    else:
        event_id = f"index {last['index']}"
    return {
        "n": n,
        "drift_detected": bool(detections),
        "detections": detections,
        "first": detections[0] if detections else None,
        "error_rate": round(float(x.mean()), 4) if n else None,
        "event_id": event_id,
    }
