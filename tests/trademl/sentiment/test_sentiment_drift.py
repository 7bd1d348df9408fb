"""ADWIN over the model's error stream: fires on a shift, stays quiet on a stable stream."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trademl.sentiment.drift import error_stream_drift, model_errors

SHIFT = 400


def _shifted(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.r_[rng.random(SHIFT) < 0.1, rng.random(400) < 0.6].astype(int)


def test_fires_after_a_shift_in_error_rate():
    errors = _shifted()
    ts = pd.date_range("2024-03-01", periods=len(errors), freq="h", tz="UTC")
    ids = [f"post-{i}" for i in range(len(errors))]
    res = error_stream_drift(errors, timestamps=ts, post_ids=ids)
    assert res["drift_detected"] is True
    assert res["n"] == 800
    first = res["first"]
    assert first == res["detections"][0]
    assert SHIFT <= first["index"] < SHIFT + 100
    assert first["post_id"] == ids[first["index"]]
    assert first["ts"] == ts[first["index"]].isoformat()
    assert first["error_after"] > first["error_before"] + 0.05
    assert first["error_before"] == pytest.approx(errors[: first["cut_index"]].mean(), abs=1e-4)
    assert first["width"] == first["index"] + 1 - first["cut_index"]
    assert res["event_id"] == res["detections"][-1]["post_id"]
    assert res["error_rate"] == round(errors.mean(), 4)
    # The same stream gives the same event: a sensor alerts once.
    assert error_stream_drift(errors, timestamps=ts, post_ids=ids)["event_id"] == res["event_id"]


def test_quiet_on_a_stable_stream():
    rng = np.random.default_rng(0)
    errors = (rng.random(1000) < 0.1).astype(int)
    res = error_stream_drift(errors)
    assert res["drift_detected"] is False
    assert res["detections"] == [] and res["first"] is None and res["event_id"] is None
    assert res["error_rate"] == pytest.approx(0.1, abs=0.03)


def test_event_id_without_ids_or_times_is_the_index():
    res = error_stream_drift(_shifted())
    assert res["event_id"] == f"index {res['detections'][-1]['index']}"
    assert res["first"]["post_id"] is None and res["first"]["ts"] is None


def test_empty_and_bad_streams():
    assert error_stream_drift([])["error_rate"] is None
    with pytest.raises(ValueError, match="0 or 1"):
        error_stream_drift([0, 1, 2])
    with pytest.raises(ValueError, match="post_ids"):
        error_stream_drift([0, 1], post_ids=["a"])


def test_model_errors_are_zero_one():
    errs = model_errors(["bullish", "Bearish", "neutral"], ["bullish", "bearish ", "bullish"])
    assert errs.tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match="line up"):
        model_errors(["bullish"], [])
