"""trademl.gate, the runtime bots import: light import, ONNX answers, the fallback when there is no model."""

import logging
import subprocess
import sys

import numpy as np
import pytest

from trademl.gate import FEATURES, Gate, GateInputError


def test_import_is_light():
    code = (
        "import sys, trademl.gate as g; "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'dagster', 'torch', 'sklearn', 'pandas', 'onnxruntime', 'scipy'}); print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert FEATURES == ("tick_ratio", "depth_ratio", "price_dist")


def test_loads_the_champion_from_a_registry_root(gate_registry, gbc_pipeline, rows):
    root, _, version = gate_registry
    gate = Gate.load(root)
    assert gate.source == f"onnx:{version}" and gate.version == version
    x, _ = rows(200, seed=3)
    assert np.abs(gate.predict_proba(x) - gbc_pipeline.predict_proba(x)[:, 1]).max() <= 1e-6
    one = gate.predict_proba(x[0])
    assert one.shape == (1,)
    assert gate.approve(x[0], threshold=0.0) is True and gate.approve(x[0], threshold=1.01) is False
    # One session, reused: the same object answers every call.
    session = gate._session
    gate.predict_proba(x[:5])
    assert gate._session is session


def test_one_row_fast_path_matches_the_batch_from_many_threads(gate_registry, rows):
    """Single rows go through buffers bound per thread: threads must never see each other's."""
    from concurrent.futures import ThreadPoolExecutor

    gate = Gate.load(gate_registry[0])
    x, _ = rows(400, seed=5)
    expected = gate.predict_proba(x)
    as_lists = [list(map(float, r)) for r in x]

    def score(i: int) -> float:
        row = x[i] if i % 2 else as_lists[i]  # both hot-path input types
        return float(gate.predict_proba(row)[0])

    with ThreadPoolExecutor(max_workers=8) as pool:
        got = np.array(list(pool.map(score, range(len(x)))))
    assert np.abs(got - expected).max() == 0.0


def test_heuristic_rule():
    gate = Gate.load(None)
    assert gate.source == "heuristic" and gate.version == "heuristic"
    # confidence = (|0.3| + |0.6|) / 2 = 0.45 > 0.65 - 0.5, |price_dist| < 2 -> approve
    assert gate.predict_proba([0.3, -0.6, 1.0])[0] == pytest.approx(0.45)
    assert gate.approve([0.3, -0.6, 1.0]) is True
    assert gate.approve([0.3, -0.6, 2.5]) is False  # too far from VWAP
    assert gate.approve([0.1, 0.1, 0.0]) is False  # confidence 0.1 <= 0.15


@pytest.mark.parametrize("kind", ["missing", "corrupt", "empty_registry"])
def test_fallback_when_the_model_is_missing_or_unreadable(tmp_path, kind, caplog):
    if kind == "missing":
        target = tmp_path / "nope" / "model.onnx"
    elif kind == "corrupt":
        target = tmp_path / "model.onnx"
        target.write_bytes(b"\x08\x07not an onnx model at all")
    else:
        target = tmp_path
    with caplog.at_level(logging.WARNING, logger="trademl.gate"):
        gate = Gate.load(target)
    assert gate.source == "heuristic" and gate.is_fallback
    assert "heuristic fallback" in caplog.text and str(target) in caplog.text
    assert gate.approve([0.9, 1.2, 0.5]) is True


@pytest.mark.parametrize(
    "bad", [[1.0, 2.0], [[1, 2, 3, 4]], [1.0, float("nan"), 0.0], [float("inf"), 0, 0], ["a", 1, 2]]
)
def test_bad_rows_are_refused_with_a_message(bad):
    with pytest.raises(GateInputError, match="features|non-finite|numbers"):
        Gate.load(None).predict_proba(bad)
