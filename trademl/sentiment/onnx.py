"""ONNX export of a SetFit sentiment model as ONE graph, its INT8 form, and the parity gate.

The graph is the SetFit body (transformer, its pooling, its Normalize module if any, and
SetFit's own normalisation) followed by the logistic-regression head as a linear layer and a
softmax. Inputs ``input_ids`` and ``attention_mask`` (int64, dynamic batch and sequence);
outputs ``probabilities`` (n, 3, SENTIMENT_LABELS order) and ``embeddings`` (n, d). The export
directory is all :class:`trademl.sentiment.runtime.OnnxSentiment` needs (no torch)::

    model.onnx            fp32 graph (TorchScript exporter, eager attention: onnxruntime fuses it)
    model.int8.onnx       INT8 by the first scheme of SENTIMENT_INT8_SCHEMES that passed the gate
    tokenizer.json, tokenizer_config.json, vocab.txt, special_tokens_map.json
    sentiment_onnx.json   labels, max_length, embedding_dim, do_lower_case, pad_token_id, the
                          INT8 scheme (int8_fp32_nodes, int8_fallback_margin where it has
                          them) and, after sentiment_parity, the parity figures
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trademl.errors import InputError
from trademl.models.onnx_export import DEFAULT_OPSET, INT8_SCHEMES, quantize_int8
from trademl.sentiment.labels import SENTIMENT_LABELS
from trademl.sentiment.runtime import (
    METADATA_FILE,
    ONNX_FP32_FILE,
    ONNX_INT8_FILE,
    OnnxSentiment,
)
from trademl.sentiment.setfit_model import METADATA_FILE as SETFIT_METADATA
from trademl.sentiment.setfit_model import head_weights, load_setfit, read_calibration_texts

#: INT8 must agree with torch on at least this share of the parity texts to ship.
MIN_INT8_AGREEMENT = 0.995
#: The sentiment ladder: trademl.models.onnx_export's schemes, then four of its own, in order.
#: ``blockwise-int8``: every weight MatMul as MatMulNBits with 8-bit weights in blocks of
#: BLOCK_SIZE rows and int8 compute (accuracy_level 4): activations are quantized per block of
#: BLOCK_SIZE values of each row, so an outlier channel costs its own block, not the whole tensor
#: as in dynamic quantization; the vocabulary table (a Gather of >= VOCAB_ROWS rows, most of the
#: bytes) is dynamic INT8, the position and type tables stay fp32.
#: ``blockwise-fp32-ties``: the blockwise-int8 graph, and the fp32 graph for the posts INT8 puts
#: within a fallback margin of a tie (the runtime loads both; sentiment_onnx.json's
#: ``int8_fallback_margin``). INT8 can only flip a post's class if rounding moved some class
#: against torch's top class by more than INT8's own top-2 margin, so posts with an INT8 margin
#: above the largest such move are safe; the margin is TIES_SAFETY x the largest move seen on the
#: calibration texts (at least NEAR_TIE_MARGIN). It fails when the fp32 graph would answer more
#: than TIES_MAX_FALLBACK of the calibration texts (then it is fp32 at extra cost).
#: ``full-fp32-ties``: the same fallback on the ``full`` dynamic INT8 graph: a faster INT8 pass
#: (MatMulInteger) but larger, heavier-tailed rounding, so a ~6x wider margin and ~6x the posts
#: answered by fp32 (a third of the demo's); as fast as blockwise-fp32-ties within the noise,
#: with a weaker guarantee (its margin rests on the tail of the calibration moves): second.
#: ``sensitive-fp32``: dynamic INT8 (MatMul and Gather) with the nodes that move the output most
#: kept fp32. Each node is quantized alone and ranked by the mean |change| of the probabilities
#: on the calibration texts; the most sensitive are then kept fp32, more at each step, until
#: INT8 on the calibration texts agrees on >= the gate's share and moves no probability by more
#: than SENSITIVE_MAX_PROB_DIFF, or SENSITIVE_MAX_EXCLUDED of the nodes would be fp32 (the
#: scheme then fails). A graph quantization per node and step: minutes on MiniLM.
#: Calibration texts are a sample of the training posts, never the parity texts; the last three
#: schemes are skipped without them (a model trained before train_setfit kept them), and one
#: that fails on them is not tried on the parity texts: the ladder looks at the gate set only
#: with graphs it would ship.
#: The demo's model (bench_sentiment.py --demo, 2026-12-03, 2 busy cores; 161 test posts, 4 of
#: them near-ties; CPU ms a post at batch 1, best of 3, over two runs): fp32 7.8-8.0 ms; full
#: 0.963 3.5-4.2 ms, ffn-down-fp32 0.975, reduce-range 0.950; blockwise-int8 1.000 but 0.990 on
#: 795 other unseen posts (every flip a near-tie) 6.0-6.8 ms, 25 MB against 86;
#: blockwise-fp32-ties 1.000 and 1.000 on the 795, 6.1-7.1 ms, fp32 answering 5.5 %;
#: full-fp32-ties 1.000 / 1.000, 7.4 ms, fp32 answering 33 %; sensitive-fp32 fails on
#: calibration (24 of 39 nodes fp32, 80 MB). Retrained with seed 14: blockwise-int8 0.981 (three
#: near-tie flips), blockwise-fp32-ties 1.000 (and 1.000 on the 795).
BLOCKWISE, SENSITIVE, TIES = "blockwise-int8", "sensitive-fp32", "blockwise-fp32-ties"
FULL_TIES = "full-fp32-ties"
SENTIMENT_INT8_SCHEMES = (*INT8_SCHEMES, BLOCKWISE, TIES, FULL_TIES, SENSITIVE)
#: The schemes that need calibration texts.
CALIBRATED_SCHEMES = (FULL_TIES, TIES, SENSITIVE)
BLOCK_SIZE, VOCAB_ROWS = 16, 4096
SENSITIVE_MAX_PROB_DIFF, SENSITIVE_MAX_EXCLUDED = 0.02, 0.75
TIES_SAFETY, TIES_MAX_FALLBACK = 1.5, 0.35
#: A parity post whose torch top-2 probabilities are closer than this is a near-tie: any
#: rounding may flip it, and on a parity set of n posts one flip costs 1/n of agreement.
NEAR_TIE_MARGIN = 0.02
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)


def _graph_module(setfit_model):
    """The body + head as one torch module returning (probabilities, embeddings)."""
    import torch

    body = setfit_model.model_body
    weights, bias = head_weights(setfit_model.model_head)
    normalize = bool(setfit_model.normalize_embeddings)

    class SentimentGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = body
            self.head = torch.nn.Linear(weights.shape[1], weights.shape[0])
            with torch.no_grad():
                self.head.weight.copy_(torch.from_numpy(weights).float())
                self.head.bias.copy_(torch.from_numpy(bias).float())

        def forward(self, input_ids, attention_mask):
            features = self.body({"input_ids": input_ids, "attention_mask": attention_mask})
            emb = features["sentence_embedding"]
            if normalize:
                emb = torch.nn.functional.normalize(emb, p=2, dim=1)
            return torch.softmax(self.head(emb), dim=-1), emb

    return SentimentGraph().eval()


def _do_lower_case(tokenizer_file: Path) -> bool | None:
    try:
        normalizer = json.loads(tokenizer_file.read_text()).get("normalizer") or {}
    except (OSError, ValueError):
        return None
    parts = normalizer.get("normalizers", [normalizer])
    return any(p.get("lowercase") or p.get("type") == "Lowercase" for p in parts if p)


def export_sentiment_onnx(
    setfit_dir: str | Path, out_dir: str | Path, quantize: bool = True
) -> dict[str, Any]:
    """Export the SetFit model in ``setfit_dir`` to ``out_dir`` (and INT8 with the ``full``
    scheme if ``quantize``); returns the metadata written to ``sentiment_onnx.json``.

    Run :func:`sentiment_parity` next: it decides whether INT8 ships (and with which scheme).
    """
    import torch

    start = time.perf_counter()
    setfit_dir, out_dir = Path(setfit_dir), Path(out_dir)
    sentiment = load_setfit(setfit_dir)
    model = sentiment.model
    transformer = model.model_body[0]
    # Eager attention traces to the MatMul/Softmax pattern onnxruntime fuses at session start.
    transformer.model.set_attn_implementation("eager")
    graph = _graph_module(model)
    tokenizer = model.model_body.tokenizer
    if tokenizer is None or not getattr(tokenizer, "is_fast", False):
        raise InputError(str(setfit_dir), "the model has no fast tokenizer (tokenizer.json)")

    out_dir.mkdir(parents=True, exist_ok=True)
    fp32_path, int8_path = out_dir / ONNX_FP32_FILE, out_dir / ONNX_INT8_FILE
    for stale in (fp32_path, int8_path, out_dir / METADATA_FILE):
        stale.unlink(missing_ok=True)
    # Two rows of different lengths, so neither axis is specialised during tracing.
    example = tokenizer(
        ["BTC breaking out, loading more bags here", "gm"], padding=True, return_tensors="pt"
    )
    axes = {0: "batch", 1: "sequence"}
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # exporter chatter (deprecations, tracer warnings)
            torch.onnx.export(
                graph,
                (example["input_ids"], example["attention_mask"]),
                str(fp32_path),
                input_names=["input_ids", "attention_mask"],
                output_names=["probabilities", "embeddings"],
                opset_version=DEFAULT_OPSET,
                dynamic_axes={
                    "input_ids": axes,
                    "attention_mask": axes,
                    "probabilities": {0: "batch"},
                    "embeddings": {0: "batch"},
                },
                dynamo=False,
            )
    finally:
        onnx_log.setLevel(level)
    if quantize:
        quantize_int8(fp32_path, int8_path, "full")

    tokenizer.save_pretrained(str(out_dir))
    for name in _TOKENIZER_FILES:
        if (setfit_dir / name).is_file() and not (out_dir / name).is_file():
            shutil.copy2(setfit_dir / name, out_dir / name)
    train_meta_path = setfit_dir / SETFIT_METADATA
    train_meta = json.loads(train_meta_path.read_text()) if train_meta_path.is_file() else {}
    meta: dict[str, Any] = {
        "kind": "setfit-sentiment-onnx",
        "labels": list(SENTIMENT_LABELS),
        "max_length": int(sentiment.max_length),
        "embedding_dim": int(model.model_body.get_embedding_dimension()),
        "do_lower_case": _do_lower_case(out_dir / "tokenizer.json"),
        "pad_token_id": int(tokenizer.pad_token_id or 0),
        "normalize_embeddings": bool(model.normalize_embeddings),
        "inputs": ["input_ids", "attention_mask"],
        "outputs": ["probabilities", "embeddings"],
        "opset": DEFAULT_OPSET,
        "exporter": "torchscript",
        "fp32": ONNX_FP32_FILE,
        "int8": ONNX_INT8_FILE if quantize else None,
        "int8_scheme": "full" if quantize else None,
        "int8_checked": False,
        "fp32_bytes": fp32_path.stat().st_size,
        "int8_bytes": int8_path.stat().st_size if quantize else None,
        "source_setfit_dir": str(setfit_dir),
        "base_model": train_meta.get("config", {}).get("base_model"),
        "seconds": round(time.perf_counter() - start, 2),
    }
    _write_meta(out_dir, meta)
    return meta


def _write_meta(out_dir: Path, meta: dict[str, Any]) -> None:
    (out_dir / METADATA_FILE).write_text(json.dumps(meta, indent=2))


# --- INT8 schemes of the sentiment graph ---------------------------------------------------------


def weight_nodes(fp32_path: str | Path) -> list[str]:
    """Names of the nodes INT8 can quantize: MatMuls with a 2-D weight initializer and Gathers
    from a 2-D table initializer (the embeddings), in graph order."""
    import onnx

    model = onnx.load(str(fp32_path), load_external_data=False)
    dims = {init.name: tuple(init.dims) for init in model.graph.initializer}
    return [
        node.name
        for node in model.graph.node
        if (node.op_type == "MatMul" and len(dims.get(node.input[1], ())) == 2)
        or (node.op_type == "Gather" and len(dims.get(node.input[0], ())) == 2)
    ]


def _vocab_gathers(model) -> list[str]:
    dims = {init.name: tuple(init.dims) for init in model.graph.initializer}
    return [
        node.name
        for node in model.graph.node
        if node.op_type == "Gather"
        and len(shape := dims.get(node.input[0], ())) == 2
        and shape[0] >= VOCAB_ROWS
    ]


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """The quantizers log advice and a line per node on the root logger and their own."""
    loggers = [
        logging.getLogger(n) for n in ("", "onnxruntime.quantization.matmul_nbits_quantizer")
    ]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _dynamic(source, out: Path, *, include=None, exclude=None) -> None:
    """Dynamic INT8 of MatMul and Gather (as quantize_int8's ``full``), limited to ``include``
    or sparing ``exclude`` (node names)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_quantizer():
        quantize_dynamic(
            source if isinstance(source, onnx.ModelProto) else str(source),
            str(out),
            op_types_to_quantize=["MatMul", "Gather"],
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_quantize=list(include) if include is not None else None,
            nodes_to_exclude=list(exclude or []),
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


def quantize_blockwise(fp32_path: str | Path, int8_path: str | Path) -> dict[str, Any]:
    """The ``blockwise-int8`` scheme (see SENTIMENT_INT8_SCHEMES); returns what it quantized."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    config = DefaultWeightOnlyQuantConfig(
        block_size=BLOCK_SIZE, is_symmetric=True, accuracy_level=4, bits=8
    )
    with _quiet_quantizer():
        quantizer = MatMulNBitsQuantizer(
            onnx.load(str(fp32_path)),
            bits=8,
            block_size=BLOCK_SIZE,
            is_symmetric=True,
            accuracy_level=4,
            algo_config=config,
        )
        quantizer.process()
    model = quantizer.model.model
    n_blockwise = sum(node.op_type == "MatMulNBits" for node in model.graph.node)
    vocab = _vocab_gathers(model)
    if vocab:
        _dynamic(model, Path(int8_path), include=vocab)
    else:
        onnx.save(model, str(int8_path))
    return {"matmul_nbits": n_blockwise, "block_size": BLOCK_SIZE, "int8_tables": vocab}


def _probs(onnx_dir: Path, graph: Path, texts: Sequence[str]) -> np.ndarray:
    return OnnxSentiment(onnx_dir, graph=graph).predict_proba(texts)


def node_sensitivity(
    onnx_dir: str | Path, texts: Sequence[str], reference: np.ndarray | None = None
) -> dict[str, float]:
    """Each quantizable node of ``onnx_dir``'s fp32 graph quantized alone (dynamic INT8): the
    mean over ``texts`` of the largest |change| of a class probability against fp32 (or
    ``reference``), by node, most sensitive first."""
    onnx_dir = Path(onnx_dir)
    fp32_path = onnx_dir / ONNX_FP32_FILE
    ref = _probs(onnx_dir, fp32_path, texts) if reference is None else reference
    trial = onnx_dir / ".sensitivity.onnx"
    scores = {}
    try:
        for name in weight_nodes(fp32_path):
            _dynamic(fp32_path, trial, include=[name])
            scores[name] = float(np.abs(_probs(onnx_dir, trial, texts) - ref).max(1).mean())
    finally:
        trial.unlink(missing_ok=True)
    return dict(sorted(scores.items(), key=lambda kv: -kv[1]))


def _exclusion_steps(n: int) -> list[int]:
    """1, 2, 3, 4, 5, 6, 8, 10, ... (about 1.25x a step) up to SENSITIVE_MAX_EXCLUDED of n."""
    steps, k = [], 1.0
    while round(k) <= SENSITIVE_MAX_EXCLUDED * n:
        if round(k) not in steps:
            steps.append(round(k))
        k = max(k + 1, k * 1.25) if k < 6 else k * 1.25
    return steps


def quantize_sensitive(
    onnx_dir: str | Path,
    int8_path: str | Path,
    calibration_texts: Sequence[str],
    min_agreement: float = MIN_INT8_AGREEMENT,
    max_prob_diff: float = SENSITIVE_MAX_PROB_DIFF,
) -> dict[str, Any]:
    """The ``sensitive-fp32`` scheme (see SENTIMENT_INT8_SCHEMES) on ``calibration_texts``:
    writes ``int8_path`` and returns ``passed`` (on calibration), ``excluded`` (the nodes left
    fp32), ``calibration`` figures per step tried and the ``sensitivity`` ranking."""
    onnx_dir, int8_path = Path(onnx_dir), Path(int8_path)
    texts = list(calibration_texts)
    fp32_path = onnx_dir / ONNX_FP32_FILE
    ref = _probs(onnx_dir, fp32_path, texts)
    ranking = node_sensitivity(onnx_dir, texts, ref)
    ranked = list(ranking)
    steps: list[dict[str, Any]] = []
    passed, excluded = False, []
    for k in _exclusion_steps(len(ranked)):
        excluded = ranked[:k]
        _dynamic(fp32_path, int8_path, exclude=excluded)
        agreement, diff = _compare(ref, _probs(onnx_dir, int8_path, texts))
        steps.append({"excluded": k, "agreement": agreement, "max_abs_prob_diff": diff})
        if agreement >= min_agreement and diff <= max_prob_diff:
            passed = True
            break
    return {
        "passed": passed,
        "excluded": excluded,
        "calibration_n": len(texts),
        "calibration": steps,
        "sensitivity": {name: round(v, 6) for name, v in ranking.items()},
    }


def _largest_gain(ref: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """By row: how far rounding moved the best other class up against torch's top class."""
    rows = np.arange(len(ref))
    top = ref.argmax(1)
    gain = (probs - probs[rows, top][:, None]) - (ref - ref[rows, top][:, None])
    gain[rows, top] = 0.0
    return gain.max(1)


def quantize_ties(
    onnx_dir: str | Path,
    int8_path: str | Path,
    calibration_texts: Sequence[str],
    base: str = BLOCKWISE,
) -> dict[str, Any]:
    """The ``blockwise-fp32-ties`` (``base`` blockwise-int8) or ``full-fp32-ties`` (``base``
    full) scheme, see SENTIMENT_INT8_SCHEMES: the base graph and its ``fallback_margin``,
    measured on ``calibration_texts``."""
    onnx_dir, int8_path = Path(onnx_dir), Path(int8_path)
    texts = list(calibration_texts)
    if base == BLOCKWISE:
        info = quantize_blockwise(onnx_dir / ONNX_FP32_FILE, int8_path)
    else:
        quantize_int8(onnx_dir / ONNX_FP32_FILE, int8_path, base)
        info = {"base": base}
    ref = _probs(onnx_dir, onnx_dir / ONNX_FP32_FILE, texts)
    probs = _probs(onnx_dir, int8_path, texts)
    largest = float(_largest_gain(ref, probs).max())
    margin = min(1.0, max(NEAR_TIE_MARGIN, TIES_SAFETY * largest))
    share = float(np.mean(_margins(probs) < margin))
    return {
        **info,
        "passed": share <= TIES_MAX_FALLBACK,
        "fallback_margin": round(margin, 6),
        "calibration_n": len(texts),
        "calibration_largest_gain": largest,
        "calibration_fallback_share": share,
    }


def quantize_sentiment_int8(
    onnx_dir: str | Path,
    scheme: str,
    calibration_texts: Sequence[str] = (),
    min_agreement: float = MIN_INT8_AGREEMENT,
) -> dict[str, Any]:
    """Write ``model.int8.onnx`` in ``onnx_dir`` by ``scheme`` (one of SENTIMENT_INT8_SCHEMES);
    returns what the scheme recorded (``{}`` for trademl.models.onnx_export's own)."""
    onnx_dir = Path(onnx_dir)
    fp32_path, int8_path = onnx_dir / ONNX_FP32_FILE, onnx_dir / ONNX_INT8_FILE
    if scheme in INT8_SCHEMES:
        quantize_int8(fp32_path, int8_path, scheme)
        return {}
    if scheme == BLOCKWISE:
        return quantize_blockwise(fp32_path, int8_path)
    if scheme in CALIBRATED_SCHEMES and not calibration_texts:
        raise InputError(scheme, "no calibration texts", "pass training posts")
    if scheme == SENSITIVE:
        return quantize_sensitive(onnx_dir, int8_path, calibration_texts, min_agreement)
    if scheme == TIES:
        return quantize_ties(onnx_dir, int8_path, calibration_texts)
    if scheme == FULL_TIES:
        return quantize_ties(onnx_dir, int8_path, calibration_texts, base="full")
    raise ValueError(f"scheme must be one of {SENTIMENT_INT8_SCHEMES}, not {scheme!r}")


# --- the gate ------------------------------------------------------------------------------------


def _compare(ref: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    agreement = float(np.mean(ref.argmax(1) == probs.argmax(1)))
    return agreement, float(np.max(np.abs(ref - probs)))


def _margins(probs: np.ndarray) -> np.ndarray:
    top2 = np.sort(probs, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def _recorded(info: dict[str, Any]) -> dict[str, Any]:
    """A scheme's info for the attempts: the sensitivity ranking cut to its ten first nodes."""
    out = {k: v for k, v in info.items() if k != "sensitivity"}
    if "sensitivity" in info:
        out["most_sensitive"] = dict(list(info["sensitivity"].items())[:10])
    return out


def int8_ladder(
    onnx_dir: str | Path,
    reference: np.ndarray,
    texts: Sequence[str],
    calibration_texts: Sequence[str] = (),
    min_int8_agreement: float = MIN_INT8_AGREEMENT,
    schemes: Sequence[str] = SENTIMENT_INT8_SCHEMES,
) -> tuple[str | None, list[dict[str, Any]]]:
    """Try ``schemes`` in order, from the one ``model.int8.onnx`` was written with, until INT8
    agrees with ``reference`` (torch's probabilities of ``texts``) on >= ``min_int8_agreement``
    of ``texts``; ``(passed scheme or None, attempts)``. A failing ladder deletes
    ``model.int8.onnx``. Each attempt: scheme, agreement, max_abs_prob_diff, flips, the torch
    margins of the flipped posts (``flip_margins``, at most 10, smallest first),
    ``near_tie_flips`` (flips of posts with margin < NEAR_TIE_MARGIN), int8_bytes, the share of
    ``texts`` the fp32 graph answered (``fallback_share``, the -fp32-ties schemes) and what
    the scheme recorded (``info``); a skipped scheme has ``skipped`` (why) instead of figures,
    one that failed on its calibration texts ``calibration_failed`` and its ``info``."""
    onnx_dir = Path(onnx_dir)
    texts = list(texts)
    int8_path = onnx_dir / ONNX_INT8_FILE
    meta = json.loads((onnx_dir / METADATA_FILE).read_text())
    schemes = list(schemes)
    attempts: list[dict[str, Any]] = []
    if not int8_path.is_file():
        return None, attempts
    current = meta.get("int8_scheme") or schemes[0]
    todo = schemes[schemes.index(current) :] if current in schemes else [current, *schemes]
    margins = _margins(reference)
    info: dict[str, Any] = {}
    for i, scheme in enumerate(todo):
        if i:
            if scheme in CALIBRATED_SCHEMES and not calibration_texts:
                attempts.append({"scheme": scheme, "skipped": "no calibration texts"})
                continue
            info = quantize_sentiment_int8(
                onnx_dir, scheme, calibration_texts, min_agreement=min_int8_agreement
            )
            if info.get("passed") is False:
                attempts.append(
                    {"scheme": scheme, "calibration_failed": True, "info": _recorded(info)}
                )
                continue
            meta["int8_fallback_margin"] = info.get("fallback_margin")
            _write_meta(onnx_dir, meta)  # the runtime reads the margin from here
        runtime = OnnxSentiment(onnx_dir, prefer_int8=True)
        probs = runtime.predict_proba(texts)
        agreement, diff = _compare(reference, probs)
        flipped = np.flatnonzero(reference.argmax(1) != probs.argmax(1))
        attempt = {
            "scheme": scheme,
            "agreement": agreement,
            "max_abs_prob_diff": diff,
            "flips": int(flipped.size),
            "flip_margins": sorted(round(float(margins[j]), 4) for j in flipped)[:10],
            "near_tie_flips": int(np.sum(margins[flipped] < NEAR_TIE_MARGIN)),
            "int8_bytes": int8_path.stat().st_size,
        }
        if runtime.fallback_margin is not None:
            attempt["fallback_share"] = runtime.rows_fallback / max(1, runtime.rows_run)
        if info:
            attempt["info"] = _recorded(info)
        attempts.append(attempt)
        if agreement >= min_int8_agreement:
            return scheme, attempts
    int8_path.unlink(missing_ok=True)
    meta["int8_fallback_margin"] = None
    _write_meta(onnx_dir, meta)
    return None, attempts


def sentiment_parity(
    setfit_dir: str | Path,
    onnx_dir: str | Path,
    texts: Sequence[str],
    min_int8_agreement: float = MIN_INT8_AGREEMENT,
    calibration_texts: Sequence[str] | None = None,
    schemes: Sequence[str] = SENTIMENT_INT8_SCHEMES,
) -> dict[str, Any]:
    """Class agreement of the export with torch SetFit (``predict_proba`` argmax) on ``texts``,
    through the serving runtime (its tokenizer included), and the INT8 gate.

    INT8 below ``min_int8_agreement`` is re-quantized by the next scheme of ``schemes``
    (default SENTIMENT_INT8_SCHEMES) and checked again (:func:`int8_ladder`); if every scheme fails,
    ``model.int8.onnx`` is deleted (the runtime then serves fp32). ``calibration_texts``
    (training posts; by default the sample train_setfit left in ``setfit_dir``) are what
    ``sensitive-fp32`` ranks its nodes on and the ``-fp32-ties`` schemes set their fallback
    margin on: never pass the parity texts. Returns ``n``,
    ``fp32_agreement``, ``fp32_max_abs_prob_diff``, ``int8_agreement``,
    ``int8_max_abs_prob_diff`` (of the last scheme checked), ``int8_scheme`` (the one that
    passed, or None), ``near_ties`` (posts whose torch top-2 margin < NEAR_TIE_MARGIN),
    ``min_margin`` and ``attempts``; the same goes into ``sentiment_onnx.json`` under ``parity``.
    """
    onnx_dir = Path(onnx_dir)
    texts = list(texts)
    if not texts:
        raise InputError("sentiment_parity", "no texts", "pass held-out posts to compare on")
    if calibration_texts is None:
        calibration_texts = read_calibration_texts(setfit_dir)
    calibration_texts = list(calibration_texts)
    ref = load_setfit(setfit_dir).predict_proba(texts)
    fp32_agreement, fp32_diff = _compare(
        ref, OnnxSentiment(onnx_dir, prefer_int8=False).predict_proba(texts)
    )
    passed_scheme, attempts = int8_ladder(
        onnx_dir, ref, texts, calibration_texts, min_int8_agreement, schemes=schemes
    )
    int8_path = onnx_dir / ONNX_INT8_FILE
    checked = [a for a in attempts if "agreement" in a]
    last = checked[-1] if checked else {}
    margins = _margins(ref)
    result = {
        "n": len(texts),
        "fp32_agreement": fp32_agreement,
        "fp32_max_abs_prob_diff": fp32_diff,
        "int8_agreement": last.get("agreement"),
        "int8_max_abs_prob_diff": last.get("max_abs_prob_diff"),
        "int8_scheme": passed_scheme,
        "near_ties": int(np.sum(margins < NEAR_TIE_MARGIN)),
        "near_tie_margin": NEAR_TIE_MARGIN,
        "min_margin": float(margins.min()),
        "calibration_n": len(calibration_texts),
        "attempts": attempts,
    }
    meta = json.loads((onnx_dir / METADATA_FILE).read_text())
    meta.update(
        int8=ONNX_INT8_FILE if passed_scheme else None,
        int8_scheme=passed_scheme,
        int8_checked=True,
        int8_bytes=int8_path.stat().st_size if passed_scheme else None,
        int8_fp32_nodes=(last.get("info", {}).get("excluded") if passed_scheme else None),
        int8_fallback_margin=(
            last.get("info", {}).get("fallback_margin") if passed_scheme else None
        ),
        parity=result,
    )
    _write_meta(onnx_dir, meta)
    return result
