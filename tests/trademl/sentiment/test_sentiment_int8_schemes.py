"""The sentiment INT8 ladder on a tiny hand-built graph (no torch, a few seconds): the schemes
after trademl.models.onnx_export's own (blockwise-int8, the two -fp32-ties, sensitive-fp32),
what each leaves in the graph, and what the gate keeps or deletes.

The graph is the export's shape (input_ids, attention_mask -> probabilities, embeddings): a
4,096-row embedding table, two MatMuls, mean pooling, L2 normalisation, a linear head and a
softmax. Its table has one constant outlier channel (50.0, read by no weight): harmless in fp32,
but per-tensor dynamic quantization of the table, or of the activations the first MatMul reads,
spends its whole range on it and rounds the informative channels (|x| ~ 0.05) away, and so does
a 16-wide activation block that holds it. Only keeping those two nodes fp32 saves the graph.
With a milder outlier (2.0) INT8 only flips posts near a tie: the fp32 fallback's case.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from trademl.models.onnx_export import INT8_SCHEMES
from trademl.sentiment import onnx as sentiment_onnx
from trademl.sentiment.labels import SENTIMENT_LABELS
from trademl.sentiment.onnx import (
    BLOCKWISE,
    FULL_TIES,
    SENSITIVE,
    SENTIMENT_INT8_SCHEMES,
    TIES,
    int8_ladder,
    node_sensitivity,
    quantize_blockwise,
    sentiment_parity,
    weight_nodes,
)
from trademl.sentiment.runtime import METADATA_FILE, ONNX_INT8_FILE, OnnxSentiment
from trademl.sentiment.setfit_model import (
    CALIBRATION_FILE,
    calibration_sample,
    read_calibration_texts,
)

VOCAB, DIM, OUT = 4096, 32, 16
GATHER, MM1, MM2 = "embed/Gather", "layer/up/MatMul", "layer/down/MatMul"


def _tiny_export(directory: Path, outlier: float) -> Path:
    rng = np.random.default_rng(0)
    # word i leans to class i % 3: its row is that class's direction plus noise
    prototypes = rng.normal(0, 1.0, (3, DIM))
    rows = prototypes[np.arange(VOCAB) % 3] + rng.normal(0, 0.7, (VOCAB, DIM))
    table = (0.05 * rows).astype(np.float32)
    table[:, 0] = outlier
    w1 = rng.normal(0, 0.3, (DIM, DIM)).astype(np.float32)
    w1[0] = 0.0  # the outlier channel is read by no weight: fp32 ignores it
    w2 = rng.normal(0, 0.3, (DIM, OUT)).astype(np.float32)
    head = rng.normal(0, 4.0, (3, OUT)).astype(np.float32)
    inits = [
        numpy_helper.from_array(a, n)
        for a, n in (
            (table, "table"),
            (w1, "w1"),
            (w2, "w2"),
            (head, "head_w"),
            (np.zeros(3, np.float32), "head_b"),
            (np.array([1], np.int64), "axis1"),
            (np.array([-1], np.int64), "last"),
        )
    ]
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["x"], name=GATHER),
        helper.make_node("MatMul", ["x", "w1"], ["h"], name=MM1),
        helper.make_node("Relu", ["h"], ["hr"]),
        helper.make_node("MatMul", ["hr", "w2"], ["h2"], name=MM2),
        helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["m", "last"], ["m3"]),
        helper.make_node("Mul", ["h2", "m3"], ["hm"]),
        helper.make_node("ReduceSum", ["hm", "axis1"], ["s"], keepdims=0),
        helper.make_node("ReduceSum", ["m3", "axis1"], ["c"], keepdims=0),
        helper.make_node("Div", ["s", "c"], ["pooled"]),
        helper.make_node("LpNormalization", ["pooled"], ["embeddings"], axis=1, p=2),
        helper.make_node("Gemm", ["embeddings", "head_w", "head_b"], ["z"], transB=1),
        helper.make_node("Softmax", ["z"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_sentiment",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch", "sequence"]
            ),
        ],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", OUT]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(directory / "model.onnx"))

    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    vocab = {"[PAD]": 0, "[UNK]": 1, **{f"w{i}": i for i in range(2, VOCAB)}}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(directory / "tokenizer.json"))
    meta = {
        "labels": list(SENTIMENT_LABELS),
        "max_length": 32,
        "embedding_dim": OUT,
        "pad_token_id": 0,
        "int8": ONNX_INT8_FILE,
        "int8_scheme": "full",
    }
    (directory / METADATA_FILE).write_text(json.dumps(meta))
    sentiment_onnx.quantize_int8(directory / "model.onnx", directory / ONNX_INT8_FILE, "full")
    return directory


def _texts(n: int, seed: int) -> list[str]:
    """Posts of 3-11 words, most of one class's words, the rest any."""
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(n):
        mood, words = rng.integers(3), []
        for _ in range(rng.integers(3, 12)):
            word = rng.integers(2, VOCAB)
            words.append(word - word % 3 + mood if rng.random() < 0.7 and word > 4 else word)
        texts.append(" ".join(f"w{w}" for w in words))
    return texts


def _fp32(directory: Path, texts: list[str]) -> np.ndarray:
    return OnnxSentiment(directory, prefer_int8=False).predict_proba(texts)


def _ops(path: Path) -> dict[str, str]:
    return {n.name: n.op_type for n in onnx.load(str(path)).graph.node}


CALIBRATION, PARITY = _texts(64, seed=1), _texts(200, seed=2)


def test_the_ladder_extends_the_shared_schemes_in_order():
    assert SENTIMENT_INT8_SCHEMES[: len(INT8_SCHEMES)] == INT8_SCHEMES
    assert SENTIMENT_INT8_SCHEMES[len(INT8_SCHEMES) :] == (BLOCKWISE, TIES, FULL_TIES, SENSITIVE)


def test_sensitive_scheme_passes_where_the_others_fail_and_keeps_its_nodes_fp32(tmp_path):
    onnx_dir = _tiny_export(tmp_path / "onnx", outlier=50.0)
    assert weight_nodes(onnx_dir / "model.onnx") == [GATHER, MM1, MM2]
    ranking = node_sensitivity(onnx_dir, CALIBRATION)
    assert set(list(ranking)[:2]) == {GATHER, MM1}  # the two that read the outlier
    assert ranking[MM2] < min(ranking[GATHER], ranking[MM1]) / 10

    reference = _fp32(onnx_dir, PARITY)
    passed, attempts = int8_ladder(onnx_dir, reference, PARITY, CALIBRATION)
    assert [a["scheme"] for a in attempts] == list(SENTIMENT_INT8_SCHEMES)
    assert all(a["agreement"] < 0.995 for a in attempts[:-3])
    assert attempts[-3]["calibration_failed"]  # the ties: fp32 would answer nearly every post
    assert attempts[-2]["calibration_failed"]
    assert passed == SENSITIVE and attempts[-1]["agreement"] >= 0.995
    info = attempts[-1]["info"]
    assert info["passed"] and set(info["excluded"]) == {GATHER, MM1}
    assert info["calibration"][-1]["max_abs_prob_diff"] <= sentiment_onnx.SENSITIVE_MAX_PROB_DIFF

    int8 = onnx_dir / ONNX_INT8_FILE
    assert int8.is_file()
    ops = _ops(int8)
    assert ops[GATHER] == "Gather" and ops[MM1] == "MatMul"  # kept fp32, as they were
    assert "MatMulInteger" in ops.values() and MM2 not in ops  # the rest is INT8
    fp32_weights = {i.name: i.data_type for i in onnx.load(str(int8)).graph.initializer}
    assert fp32_weights["table"] == fp32_weights["w1"] == TensorProto.FLOAT


def test_blockwise_scheme_writes_matmulnbits_and_an_int8_vocabulary(tmp_path):
    onnx_dir = _tiny_export(tmp_path / "onnx", outlier=0.05)  # no outlier: INT8 is easy
    out = tmp_path / "blockwise.onnx"
    info = quantize_blockwise(onnx_dir / "model.onnx", out)
    assert info == {"matmul_nbits": 2, "block_size": 16, "int8_tables": [GATHER]}
    ops = list(_ops(out).values())
    assert ops.count("MatMulNBits") == 2 and "MatMul" not in ops
    assert "DequantizeLinear" in ops  # the table is stored INT8
    reference = _fp32(onnx_dir, PARITY)
    probs = OnnxSentiment(onnx_dir, graph=out).predict_proba(PARITY)
    assert np.mean(probs.argmax(1) == reference.argmax(1)) >= 0.995
    assert out.stat().st_size < (onnx_dir / "model.onnx").stat().st_size / 2


def test_a_failing_ladder_deletes_int8_and_says_why_schemes_were_skipped(tmp_path):
    onnx_dir = _tiny_export(tmp_path / "onnx", outlier=50.0)
    passed, attempts = int8_ladder(onnx_dir, _fp32(onnx_dir, PARITY), PARITY, calibration_texts=())
    assert passed is None
    assert [a["scheme"] for a in attempts] == list(SENTIMENT_INT8_SCHEMES)
    assert attempts[-3:] == [
        {"scheme": scheme, "skipped": "no calibration texts"}
        for scheme in (TIES, FULL_TIES, SENSITIVE)
    ]
    assert all(a["flips"] == len(a["flip_margins"]) or a["flips"] > 10 for a in attempts[:-3])
    assert not (onnx_dir / ONNX_INT8_FILE).exists()
    assert json.loads((onnx_dir / METADATA_FILE).read_text())["int8_fallback_margin"] is None
    assert OnnxSentiment(onnx_dir).form == "onnx-fp32"


@pytest.mark.parametrize("ties", [TIES, FULL_TIES])
def test_ties_fallback_answers_near_ties_with_fp32_and_passes(tmp_path, ties):
    onnx_dir = _tiny_export(tmp_path / "onnx", outlier=2.0)
    reference = _fp32(onnx_dir, PARITY)
    schemes = ("full", BLOCKWISE, ties)
    passed, attempts = int8_ladder(onnx_dir, reference, PARITY, CALIBRATION, schemes=schemes)
    assert [a["scheme"] for a in attempts] == list(schemes) and passed == ties
    assert attempts[1]["agreement"] < 0.995 <= attempts[2]["agreement"]
    info = attempts[2]["info"]
    assert info["passed"] and info["fallback_margin"] >= info["calibration_largest_gain"]
    assert 0 < attempts[2]["fallback_share"] <= sentiment_onnx.TIES_MAX_FALLBACK
    meta = json.loads((onnx_dir / METADATA_FILE).read_text())
    assert meta["int8_fallback_margin"] == info["fallback_margin"]

    served = OnnxSentiment(onnx_dir)
    assert served.form == "onnx-int8" and served.fallback_margin == info["fallback_margin"]
    probs = served.predict_proba(PARITY, batch_size=7)
    assert served.rows_run == len(PARITY) and 0 < served.rows_fallback < len(PARITY)
    int8_alone = OnnxSentiment(onnx_dir, graph=onnx_dir / ONNX_INT8_FILE)
    assert int8_alone.fallback_session is None
    alone = int8_alone.predict_proba(PARITY, batch_size=7)  # dynamic INT8 depends on the batch
    top2 = np.sort(alone, axis=1)[:, -2:]
    unsure = top2[:, 1] - top2[:, 0] < served.fallback_margin
    np.testing.assert_allclose(probs[unsure], reference[unsure], atol=1e-5)  # fp32 answered
    np.testing.assert_allclose(probs[~unsure], alone[~unsure], atol=1e-6)  # INT8 answered
    if ties == TIES:  # blockwise rounds each row on its own: a post alone gets the same answer
        np.testing.assert_allclose(served.predict_proba([PARITY[0]]), probs[:1], atol=1e-6)


def test_ties_fails_on_calibration_when_fp32_would_answer_most_posts(tmp_path):
    onnx_dir = _tiny_export(tmp_path / "onnx", outlier=50.0)  # blockwise is wrong everywhere
    passed, attempts = int8_ladder(
        onnx_dir, _fp32(onnx_dir, PARITY), PARITY, CALIBRATION, schemes=("full", TIES)
    )
    assert passed is None and attempts[-1]["calibration_failed"]
    info = attempts[-1]["info"]
    assert not info["passed"]
    assert info["calibration_fallback_share"] > sentiment_onnx.TIES_MAX_FALLBACK
    assert "agreement" not in attempts[-1]  # never tried on the parity texts
    assert not (onnx_dir / ONNX_INT8_FILE).exists()


def test_sentiment_parity_calibrates_on_the_setfit_sample_and_records_it(tmp_path, monkeypatch):
    onnx_dir = _tiny_export(tmp_path / "onnx", outlier=50.0)
    setfit_dir = tmp_path / "setfit"
    setfit_dir.mkdir()
    (setfit_dir / CALIBRATION_FILE).write_text(json.dumps(CALIBRATION))
    assert read_calibration_texts(setfit_dir) == CALIBRATION

    class FakeTorch:  # torch's probabilities: the fp32 graph's
        def predict_proba(self, texts):
            return _fp32(onnx_dir, list(texts))

    monkeypatch.setattr(sentiment_onnx, "load_setfit", lambda _dir: FakeTorch())
    parity = sentiment_parity(setfit_dir, onnx_dir, PARITY)
    assert parity["fp32_agreement"] == 1.0 and parity["calibration_n"] == len(CALIBRATION)
    assert parity["int8_scheme"] == SENSITIVE and parity["int8_agreement"] >= 0.995
    assert 0 <= parity["near_ties"] <= parity["n"] == len(PARITY)
    meta = json.loads((onnx_dir / METADATA_FILE).read_text())
    assert meta["parity"] == parity and meta["int8_scheme"] == SENSITIVE
    assert set(meta["int8_fp32_nodes"]) == {GATHER, MM1}
    assert meta["int8_bytes"] == (onnx_dir / ONNX_INT8_FILE).stat().st_size
    assert OnnxSentiment(onnx_dir).form == "onnx-int8"


def test_calibration_sample_is_seeded_and_bounded():
    texts = [f"post {i}" for i in range(600)]
    sample = calibration_sample(texts, seed=13)
    assert len(sample) == 256 and len(set(sample)) == 256
    assert sample == calibration_sample(texts, seed=13) != calibration_sample(texts, seed=14)
    assert sorted(calibration_sample(texts[:5], seed=1)) == sorted(texts[:5])


def test_read_calibration_texts_of_an_older_model_is_empty(tmp_path):
    assert read_calibration_texts(tmp_path) == []
    (tmp_path / CALIBRATION_FILE).write_text("{not json")
    assert read_calibration_texts(tmp_path) == []


@pytest.mark.parametrize("n", [1, 3, 10, 39])
def test_exclusion_steps_grow_and_stop_at_the_budget(n):
    steps = sentiment_onnx._exclusion_steps(n)
    assert steps == sorted(set(steps))
    assert all(1 <= k <= sentiment_onnx.SENSITIVE_MAX_EXCLUDED * n for k in steps)
    if n >= 4:
        assert steps[:3] == [1, 2, 3]
