"""ONNX export of the signal classifier: parity with torch, INT8, and a torch-free runtime."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from trademl.models.classifier_runtime import load_classifier
from trademl.models.onnx_export import export_onnx, parity_check
from trademl.models.text_classifier import TextClassifierConfig, train_text_classifier

pytestmark = pytest.mark.slow  # fine-tunes and exports a model (~40 s on 2 cores)

_HERE = Path(__file__).resolve().parent
_REPO = _HERE.parents[1]


def _synthetic_messages(n: int, seed: int):
    # The generator lives beside the fine-tune tests; load it by path so this works under any
    # pytest import mode and without a conftest.
    spec = importlib.util.spec_from_file_location("_tc_data", _HERE / "test_text_classifier.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_synthetic_messages(n, seed)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    data = _synthetic_messages(360, seed=5)
    root = tmp_path_factory.mktemp("onnx")
    cfg = TextClassifierConfig(
        max_length=64, epochs=3, batch_size=16, lr=2e-4, seed=1, patience=1, num_threads=2
    )
    trained = train_text_classifier(data, root / "hf", cfg)
    result = export_onnx(trained.output_dir, root / "onnx", quantize=True)
    return trained, result, data


@pytest.fixture(scope="module")
def check_texts(exported) -> list[str]:
    data = exported[2]
    # ~400 texts, so the 0.995 INT8 threshold tolerates two flips: a briefly trained model has
    # a few near-ties (top-2 logit gap < 0.05) where INT8 rounding may pick the other class.
    texts = list(data.loc[data["split"] != "train", "text"])
    texts += list(_synthetic_messages(300, seed=123)["text"])
    # Include a truncated message and glued emoji: the serving tokenizer must match exactly.
    texts += ["LONG🟢 " + "BTC/USDT entry 62000 tp 63000 " * 20, "SHORT📉ETH", "", "gm"]
    return texts


def test_export_layout(exported):
    _, result, _ = exported
    out = result.out_dir
    for name in (
        "model.onnx",
        "model.int8.onnx",
        "tokenizer.json",
        "config.json",
        "trademl_classifier.json",
    ):
        assert (out / name).exists(), name
    assert result.opset >= 17
    assert result.int8_bytes < result.fp32_bytes / 3  # INT8 weights: roughly 4x smaller
    meta = json.loads((out / "trademl_classifier.json").read_text())
    assert meta["onnx"]["int8"] == "model.int8.onnx" and meta["max_length"] == 64
    assert meta["onnx"]["exporter"] == result.exporter == "torchscript"
    ops = {node.op_type for node in onnx.load(str(result.int8_path)).graph.node}
    assert "MatMulInteger" in ops  # real INT8 kernels, not just smaller weights


def test_dynamo_exporter_matches_torch(exported, tmp_path):
    trained, _, data = exported
    result = export_onnx(trained.output_dir, tmp_path, quantize=False, exporter="dynamo")
    assert result.exporter == "dynamo" and result.int8_path is None
    assert (tmp_path / "model.onnx.data").exists()  # external weights: ship both files
    texts = list(data.loc[data["split"] == "test", "text"])[:40]
    torch_pred = load_classifier(trained.output_dir).predict_logits(texts).argmax(1)
    onnx_pred = load_classifier(tmp_path).predict_logits(texts).argmax(1)
    assert np.array_equal(onnx_pred, torch_pred)


def test_onnx_predictions_match_torch(exported, check_texts):
    trained, result, _ = exported
    texts = check_texts
    torch_clf = load_classifier(trained.output_dir)
    fp32 = load_classifier(result.fp32_path)
    int8 = load_classifier(result.out_dir)  # a directory serves INT8 by default
    assert (fp32.name, int8.name) == ("onnx-fp32", "onnx-int8")

    torch_logits = torch_clf.predict_logits(texts)
    fp32_logits = fp32.predict_logits(texts, batch_size=7)  # other batch: other padding widths
    assert np.array_equal(fp32_logits.argmax(1), torch_logits.argmax(1))
    np.testing.assert_allclose(fp32_logits, torch_logits, atol=1e-3)

    int8_pred = int8.predict_logits(texts).argmax(1)
    assert np.mean(int8_pred == torch_logits.argmax(1)) >= 0.995


def test_parity_check_reports_agreement(exported, check_texts):
    trained, result, _ = exported
    parity = parity_check(trained.output_dir, result.out_dir, check_texts)
    assert parity.n == len(check_texts)
    assert parity.fp32_agreement == 1.0
    assert parity.int8_agreement >= 0.995, parity.int8_disagreements
    assert parity.passed()


def test_onnx_runtime_imports_no_torch(exported):
    out_dir = exported[1].out_dir
    code = (
        "import sys; from trademl.models.classifier_runtime import load_classifier; "
        f"clf = load_classifier({str(out_dir)!r}, intra_op_num_threads=1); "
        "print(clf.name, clf.predict(['SHORT📉 BTC/USDT entry 62000'])[0][0]); "
        "heavy = [m for m in ('torch', 'transformers', 'sklearn', 'dagster') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=_REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("onnx-int8 ")
