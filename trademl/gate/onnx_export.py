"""The fitted gate as ONNX a C, Go or Python client can read: plain tensors, no ZipMap.

Graph: ``features`` (double, n×3) → (x − mean) / scale in double, as scikit-learn computes it →
Cast to float, as scikit-learn's trees do → the model (skl2onnx) → ``probabilities`` (n×2).
Tree thresholds are moved to the largest float32 not above them before export: for float32
inputs ``x <= t`` and ``x <= floor32(t)`` agree, so the float32 thresholds ONNX stores can never
flip a split (scikit-learn's own predictions do not change; a test checks that).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trademl.gate.runtime import INPUT_NAME, PROBA_OUTPUT

ONNX_OPSET = {"": 17, "ai.onnx.ml": 3}


@dataclass
class ParityResult:
    n: int
    max_abs_diff: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.n > 0 and self.max_abs_diff <= self.tolerance


def floor_thresholds_to_float32(pipeline) -> int:
    """Round GradientBoosting split thresholds down to float32; returns how many moved.

    HistGradientBoosting is left alone: its thresholds are bin edges, and its ONNX passes parity
    as exported (the asset checks parity either way).
    """
    model = pipeline.named_steps["model"]
    moved = 0
    trees = []
    if hasattr(model, "estimators_"):  # GradientBoostingClassifier: (n_estimators, 1) regressors
        trees = [est.tree_ for est in np.ravel(model.estimators_)]
    for tree in trees:
        thr = tree.threshold
        split = tree.children_left >= 0
        as32 = thr[split].astype(np.float32)
        above = as32.astype(np.float64) > thr[split]
        as32[above] = np.nextafter(as32[above], np.float32(-np.inf))
        moved += int((as32.astype(np.float64) != thr[split]).sum())
        thr[split] = as32.astype(np.float64)
    return moved


def to_onnx_model(pipeline):
    """The ONNX ModelProto of a fitted Pipeline(StandardScaler, model)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    scaler, model = pipeline.named_steps["scaler"], pipeline.named_steps["model"]
    with warnings.catch_warnings():
        # skl2onnx 1.20 hands onnx booleans for int attributes (onnx warns, on every tree).
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="onnx.helper")
        inner = convert_sklearn(
            model,
            initial_types=[("scaled32", FloatTensorType([None, 3]))],
            options={id(model): {"zipmap": False}},
            target_opset=ONNX_OPSET,
        )
    graph = inner.graph
    mean = scaler.mean_ if scaler.with_mean else np.zeros(3)
    scale = scaler.scale_ if scaler.with_std else np.ones(3)
    front = [
        helper.make_node("Sub", [INPUT_NAME, "scaler_mean"], ["centred"], name="scaler_sub"),
        helper.make_node("Div", ["centred", "scaler_scale"], ["scaled64"], name="scaler_div"),
        helper.make_node(
            "Cast", ["scaled64"], ["scaled32"], to=TensorProto.FLOAT, name="as_float32"
        ),
    ]
    inits = [
        numpy_helper.from_array(np.asarray(mean, dtype=np.float64), "scaler_mean"),
        numpy_helper.from_array(np.asarray(scale, dtype=np.float64), "scaler_scale"),
    ]
    outputs = {o.name: o for o in graph.output}
    if PROBA_OUTPUT not in outputs:
        raise RuntimeError(f"skl2onnx gave outputs {list(outputs)}, expected {PROBA_OUTPUT!r}")
    new_graph = helper.make_graph(
        front + list(graph.node),
        "trademl_onnx_gate",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.DOUBLE, [None, 3])],
        [outputs["label"], outputs[PROBA_OUTPUT]],
        initializer=inits + list(graph.initializer),
    )
    # The front adds standard ops: make sure the default domain is imported (a tree-only inner
    # graph from skl2onnx may import ai.onnx.ml alone).
    opsets = {o.domain: o.version for o in inner.opset_import}
    opsets.setdefault("", ONNX_OPSET[""])
    out = helper.make_model(
        new_graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())]
    )
    out.ir_version = inner.ir_version
    out.producer_name = "trademl"
    onnx.checker.check_model(out)
    return out


def export_onnx(pipeline, path: str | Path) -> Path:
    """Write ``model.onnx`` for ``pipeline`` (thresholds floored to float32 first)."""
    floor_thresholds_to_float32(pipeline)
    model = to_onnx_model(pipeline)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def onnx_proba(path: str | Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run([PROBA_OUTPUT], {INPUT_NAME: np.asarray(x, dtype=np.float64)})[0]
    return np.asarray(out, dtype=np.float64)[:, 1]


def parity(pipeline, path: str | Path, x: np.ndarray, tolerance: float = 1e-5) -> ParityResult:
    """max |p_onnx − p_sklearn| over ``x``."""
    if len(x) == 0:
        return ParityResult(0, float("nan"), tolerance)
    diff = np.abs(onnx_proba(path, x) - pipeline.predict_proba(x)[:, 1])
    return ParityResult(len(x), float(diff.max()), tolerance)


def quantization_effect(path: str | Path, x: np.ndarray) -> dict:
    """Dynamic INT8 quantization of ``path``: what it changed, measured (bytes, ops, probabilities)."""
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.int8.onnx"
        logging.disable(logging.WARNING)  # its "consider pre-processing" advice, on every call
        try:
            quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)
        before, after = path.read_bytes(), out.read_bytes()
        ops_before = sorted({n.op_type for n in onnx.load(str(path)).graph.node})
        ops_after = sorted({n.op_type for n in onnx.load(str(out)).graph.node})
        p32, p8 = onnx_proba(path, x), onnx_proba(out, x)
        changed = ops_before != ops_after
        result = {
            "fp_bytes": len(before),
            "int8_bytes": len(after),
            "ops_before": ops_before,
            "ops_after": ops_after,
            "graph_changed": changed,
            "max_abs_proba_diff": float(np.abs(p32 - p8).max()) if len(x) else 0.0,
        }
        result["what_it_did"] = (
            f"quantized: {', '.join(sorted(set(ops_after) - set(ops_before)))} added; "
            f"{len(before):,} → {len(after):,} bytes"
            if changed
            else "nothing: the graph has no MatMul/Gemm weights to quantize (a tree ensemble is "
            "one TreeEnsemble op); model.onnx is served as is"
        )
        if changed:
            (path.parent / "model.int8.onnx").write_bytes(after)
    return result
