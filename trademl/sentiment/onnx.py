"""ONNX export of a SetFit sentiment model as ONE graph, its INT8 form, and the parity gate.

The graph is the SetFit body (transformer, its pooling, its Normalize module if any, and
SetFit's own normalisation) followed by the logistic-regression head as a linear layer and a
softmax. Inputs ``input_ids`` and ``attention_mask`` (int64, dynamic batch and sequence);
outputs ``probabilities`` (n, 3, SENTIMENT_LABELS order) and ``embeddings`` (n, d). The export
directory is all :class:`trademl.sentiment.runtime.OnnxSentiment` needs (no torch)::

    model.onnx            fp32 graph (TorchScript exporter, eager attention: onnxruntime fuses it)
    model.int8.onnx       dynamic INT8 (trademl.models.onnx_export.quantize_int8), where it passed
    tokenizer.json, tokenizer_config.json, vocab.txt, special_tokens_map.json
    sentiment_onnx.json   labels, max_length, embedding_dim, do_lower_case, pad_token_id, the
                          INT8 scheme and, after sentiment_parity, the parity figures
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trademl.errors import InputError
from trademl.models.onnx_export import DEFAULT_OPSET, quantize_int8
from trademl.sentiment.labels import SENTIMENT_LABELS
from trademl.sentiment.runtime import (
    METADATA_FILE,
    ONNX_FP32_FILE,
    ONNX_INT8_FILE,
    OnnxSentiment,
)
from trademl.sentiment.setfit_model import METADATA_FILE as SETFIT_METADATA
from trademl.sentiment.setfit_model import head_weights, load_setfit

#: INT8 must agree with torch on at least this share of the parity texts to ship.
MIN_INT8_AGREEMENT = 0.995
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


def _compare(ref: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    agreement = float(np.mean(ref.argmax(1) == probs.argmax(1)))
    return agreement, float(np.max(np.abs(ref - probs)))


def sentiment_parity(
    setfit_dir: str | Path,
    onnx_dir: str | Path,
    texts: Sequence[str],
    min_int8_agreement: float = MIN_INT8_AGREEMENT,
) -> dict[str, Any]:
    """Class agreement of the export with torch SetFit (``predict_proba`` argmax) on ``texts``,
    through the serving runtime (its tokenizer included), and the INT8 gate.

    INT8 with the ``full`` scheme below ``min_int8_agreement`` is re-quantized with
    ``ffn-down-fp32`` and checked again; if that fails too ``model.int8.onnx`` is deleted
    (the runtime then serves fp32). Returns ``n``, ``fp32_agreement``, ``fp32_max_abs_prob_diff``,
    ``int8_agreement``, ``int8_max_abs_prob_diff``, ``int8_scheme`` ("full", "ffn-down-fp32"
    or None) and ``attempts``; the same goes into ``sentiment_onnx.json`` under ``parity``.
    """
    onnx_dir = Path(onnx_dir)
    texts = list(texts)
    if not texts:
        raise InputError("sentiment_parity", "no texts", "pass held-out posts to compare on")
    ref = load_setfit(setfit_dir).predict_proba(texts)
    fp32_agreement, fp32_diff = _compare(
        ref, OnnxSentiment(onnx_dir, prefer_int8=False).predict_proba(texts)
    )

    meta = json.loads((onnx_dir / METADATA_FILE).read_text())
    fp32_path, int8_path = onnx_dir / ONNX_FP32_FILE, onnx_dir / ONNX_INT8_FILE
    attempts: list[dict[str, Any]] = []
    scheme = (meta.get("int8_scheme") or "full") if int8_path.is_file() else None
    passed_scheme = None
    while scheme is not None:
        agreement, diff = _compare(
            ref, OnnxSentiment(onnx_dir, prefer_int8=True).predict_proba(texts)
        )
        attempts.append({"scheme": scheme, "agreement": agreement, "max_abs_prob_diff": diff})
        if agreement >= min_int8_agreement:
            passed_scheme = scheme
            break
        following = {"full": "ffn-down-fp32", "ffn-down-fp32": "reduce-range"}
        scheme = following.get(scheme)
        if scheme is not None:
            quantize_int8(fp32_path, int8_path, scheme)
    if passed_scheme is None:
        int8_path.unlink(missing_ok=True)

    last = attempts[-1] if attempts else {}
    result = {
        "n": len(texts),
        "fp32_agreement": fp32_agreement,
        "fp32_max_abs_prob_diff": fp32_diff,
        "int8_agreement": last.get("agreement"),
        "int8_max_abs_prob_diff": last.get("max_abs_prob_diff"),
        "int8_scheme": passed_scheme,
        "attempts": attempts,
    }
    meta.update(
        int8=ONNX_INT8_FILE if passed_scheme else None,
        int8_scheme=passed_scheme,
        int8_checked=True,
        int8_bytes=int8_path.stat().st_size if passed_scheme else None,
        parity=result,
    )
    _write_meta(onnx_dir, meta)
    return result
