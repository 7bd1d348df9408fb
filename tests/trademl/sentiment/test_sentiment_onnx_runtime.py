"""ONNX export of the SetFit sentiment model: parity with torch, INT8 gate, the torch-free
runtime, and the deployed VADER + ONNX ensemble."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from trademl.registry import ModelRegistry
from trademl.sentiment.labels import SENTIMENT_LABELS
from trademl.sentiment.onnx import export_sentiment_onnx, sentiment_parity
from trademl.sentiment.runtime import (
    ENSEMBLE_FILE,
    MODEL_NAME,
    ONNX_DIR,
    DeployedSentiment,
    OnnxSentiment,
)
from trademl.sentiment.setfit_model import SetFitConfig, load_setfit, train_setfit

pytestmark = pytest.mark.slow  # trains (~12 s) and exports (~12 s) one tiny model

_HERE = Path(__file__).resolve().parent
_REPO = _HERE.parents[2]
HOSTILE = ["", "   ", "\ud800\udc00\ud800", "x" * 100_000, "🚀" * 5_000, "gm", None, 42]


def _make_posts(n: int, seed: int, **kwargs):
    spec = importlib.util.spec_from_file_location("_sent_posts", _HERE / "test_sentiment_setfit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_posts(n, seed, **kwargs)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("sentiment_onnx")
    texts, labels = _make_posts(36, seed=1)
    train_setfit(texts, labels, root / "setfit", SetFitConfig(max_steps=12, num_iterations=3))
    meta = export_sentiment_onnx(root / "setfit", root / "onnx")
    held_out, _ = _make_posts(60, seed=7)
    parity = sentiment_parity(root / "setfit", root / "onnx", held_out + HOSTILE[:6])
    return root, meta, parity


def test_export_is_one_graph_with_dynamic_axes(exported):
    root, meta, _ = exported
    graph = onnx.load(str(root / "onnx" / "model.onnx"), load_external_data=False).graph
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask"]
    assert [o.name for o in graph.output] == ["probabilities", "embeddings"]
    for tensor in graph.input:
        dims = tensor.type.tensor_type.shape.dim
        assert tensor.type.tensor_type.elem_type == onnx.TensorProto.INT64
        assert all(d.dim_param for d in dims)  # batch and sequence both dynamic
    assert meta["labels"] == list(SENTIMENT_LABELS)
    assert meta["max_length"] == 64 and meta["embedding_dim"] == 384
    assert meta["do_lower_case"] is True
    assert (root / "onnx" / "tokenizer.json").is_file()


def test_fp32_matches_torch_and_int8_is_gated(exported):
    root, _, parity = exported
    assert parity["n"] == 66
    assert parity["fp32_agreement"] == 1.0
    assert parity["fp32_max_abs_prob_diff"] < 1e-4
    assert parity["attempts"] and parity["attempts"][0]["scheme"] == "full"
    int8_file = root / "onnx" / "model.int8.onnx"
    if parity["int8_scheme"] is None:
        assert not int8_file.exists()
    else:
        assert int8_file.is_file() and parity["int8_agreement"] >= 0.995
    meta = json.loads((root / "onnx" / "sentiment_onnx.json").read_text())
    assert meta["parity"] == parity and meta["int8_scheme"] == parity["int8_scheme"]
    print(f"parity: {parity}")  # the INT8 figure of this tiny model, for the log


def test_runtime_answers_in_input_order_whatever_the_batching(exported):
    root = exported[0]
    texts, _ = _make_posts(10, seed=11)
    texts = [texts[0] + " " + "really " * 40, *texts[1:5], "ok", *texts[5:], "x" * 3_000]
    runtime = OnnxSentiment(root / "onnx", prefer_int8=False)
    assert runtime.form == "onnx-fp32"
    batched = runtime.predict_proba(texts, batch_size=3)
    one_by_one = np.vstack([runtime.predict_proba([t], batch_size=1) for t in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    reference = load_setfit(root / "setfit")
    np.testing.assert_allclose(batched, reference.predict_proba(texts), atol=1e-4)
    emb = runtime.embed(texts, batch_size=4)
    np.testing.assert_allclose(emb, reference.embed(texts), atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert runtime.predict_proba([]).shape == (0, 3)


def _deploy(root: Path, registry_root: Path, ensemble: dict | None) -> str:
    version_dir = root / "version"
    shutil.rmtree(version_dir, ignore_errors=True)
    shutil.copytree(root / "onnx", version_dir / ONNX_DIR)
    if ensemble is not None:
        (version_dir / ENSEMBLE_FILE).write_text(json.dumps(ensemble))
    registry = ModelRegistry(registry_root)
    version = registry.register(MODEL_NAME, version_dir, {"metrics": {"fp32_agreement": 1.0}})
    registry.promote(MODEL_NAME, version)
    return version


def test_deployed_champion_answers_with_the_ensemble(exported, tmp_path):
    root = exported[0]
    version = _deploy(root, tmp_path / "models", {"vader_weight": 0.3, "model_weight": 0.7})
    sentiment = DeployedSentiment(root=tmp_path / "models", threads=1)
    texts = ["ETH dumping hard, get out", "BTC to the moon, huge buy wall", "SOL sideways today"]
    answers = sentiment.predict(texts)
    assert sentiment.fallback_reason is None
    form = sentiment.model.form
    assert sentiment.name == f"ensemble:{version}:{form}"
    assert [a["model"] for a in answers] == [sentiment.name] * 3
    assert all(a["routed"] in ("blend", "model") for a in answers)
    assert [a["label"] for a in answers] == ["bearish", "bullish", "neutral"]
    for answer in answers:
        probs = answer["probabilities"]
        assert list(probs) == list(SENTIMENT_LABELS)
        assert abs(sum(probs.values()) - 1) < 1e-3
        assert answer["confidence"] == max(probs.values())


def test_deployed_champion_survives_hostile_input(exported, tmp_path):
    _deploy(exported[0], tmp_path / "models", None)  # no ensemble.json: the defaults
    sentiment = DeployedSentiment(root=tmp_path / "models")
    answers = sentiment.predict(HOSTILE)
    assert len(answers) == len(HOSTILE)
    assert all(a["label"] in SENTIMENT_LABELS and a["model"] != "vader" for a in answers)


def test_runtime_never_imports_torch(exported, tmp_path):
    root = exported[0]
    _deploy(root, tmp_path / "models", None)
    code = (
        "import sys\n"
        "from trademl.sentiment.runtime import DeployedSentiment, OnnxSentiment\n"
        f"print(OnnxSentiment({str(root / 'onnx')!r}).predict_proba(['gm']).shape)\n"
        f"s = DeployedSentiment({str(tmp_path / 'models')!r})\n"
        "print(s.predict(['BTC breaking out'])[0]['model'])\n"
        "heavy = [m for m in ('torch', 'setfit', 'transformers', 'dagster') if m in sys.modules]\n"
        "print('heavy:', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=_REPO, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "(1, 3)" in out.stdout and "ensemble:" in out.stdout
    assert "heavy: []" in out.stdout
