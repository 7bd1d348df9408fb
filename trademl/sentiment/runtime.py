"""Serving crowd sentiment: the exported SetFit graph on onnxruntime plus VADER, never torch.

Numpy, onnxruntime, tokenizers and vaderSentiment only (no torch, setfit or Dagster, at import
or on the serving path); nothing is loaded at import.

>>> sentiment = DeployedSentiment()  # doctest: +SKIP
>>> sentiment.predict(["BTC breaking out, loading more"])  # doctest: +SKIP
[{'label': 'bullish', 'score': 0.91, 'confidence': 0.93, 'probabilities': {...},
  'model': 'ensemble:20260101T000000000000Z-1a2b3c4d:onnx-int8', 'routed': 'blend'}]

With no deployed model (no champion of ``sentiment_model``, or a version without ``onnx/``)
:class:`DeployedSentiment` answers with VADER alone, says so in each answer's ``model`` and in
:attr:`DeployedSentiment.fallback_reason`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trademl.errors import InputError
from trademl.sentiment.ensemble import EnsembleConfig, ensemble
from trademl.sentiment.labels import SENTIMENT_LABELS
from trademl.sentiment.vader import safe_text, vader_compound, vader_labels, vader_probabilities

log = logging.getLogger(__name__)

#: Registry name of the deployed sentiment model.
MODEL_NAME = "sentiment_model"
#: In a version directory: the ONNX export and the ensemble's settings (EnsembleConfig fields).
ONNX_DIR, ENSEMBLE_FILE = "onnx", "ensemble.json"
#: In the ONNX directory (written by trademl.sentiment.onnx.export_sentiment_onnx).
METADATA_FILE = "sentiment_onnx.json"
ONNX_FP32_FILE, ONNX_INT8_FILE = "model.onnx", "model.int8.onnx"
VADER = "vader"


class OnnxSentiment:
    """The exported sentiment graph (SetFit body + head): probabilities and embeddings.

    An INT8 graph whose metadata has ``int8_fallback_margin`` answers the rows whose top-2
    probabilities it puts closer than that margin with the fp32 graph (both are loaded):
    near-ties, where INT8 rounding could flip the class; ``rows_fallback`` counts them.

    ``graph``: a graph file to run instead of ``model.onnx`` / ``model.int8.onnx``, alone (no
    fallback), with this export's tokenizer and metadata: the quantization ladder's trials.

    Tokenises with the ``tokenizers`` library from ``tokenizer.json`` (the tokenizer the model
    was trained with), truncates to the model's max_length, sorts the rows by length and pads
    each batch to its longest row; answers come back in input order.
    """

    def __init__(
        self,
        onnx_dir: str | Path,
        prefer_int8: bool = True,
        threads: int | None = None,
        graph: str | Path | None = None,
    ) -> None:
        from tokenizers import Tokenizer

        from trademl.models.classifier_runtime import cpu_session, session_threads

        self.onnx_dir = Path(onnx_dir)
        meta_path = self.onnx_dir / METADATA_FILE
        try:
            self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(
                str(meta_path), f"cannot read the export's metadata: {exc}",
                "export the model with trademl.sentiment.onnx.export_sentiment_onnx",
            ) from exc  # fmt: skip
        labels = tuple(self.meta.get("labels", SENTIMENT_LABELS))
        if labels != SENTIMENT_LABELS:
            raise InputError(str(meta_path), f"labels {labels} are not {SENTIMENT_LABELS}")
        int8 = self.onnx_dir / ONNX_INT8_FILE
        fp32 = self.onnx_dir / ONNX_FP32_FILE
        self.path = int8 if prefer_int8 and int8.is_file() else fp32
        if graph is not None:  # another graph of this export (quantization trials)
            self.path = Path(graph)
        if not self.path.is_file():
            raise InputError(str(self.path), "no ONNX graph here", "re-run the export")
        self.form = "onnx-fp32" if self.path == fp32 else "onnx-int8"
        self.max_length = int(self.meta.get("max_length", 64))
        self.embedding_dim = int(self.meta.get("embedding_dim", 0))

        tok_file = self.onnx_dir / "tokenizer.json"
        if not tok_file.is_file():
            raise InputError(str(tok_file), "missing: the runtime needs the model's tokenizer")
        self.tokenizer = Tokenizer.from_file(str(tok_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_length)
        self.pad_id = int(self.meta.get("pad_token_id", self.tokenizer.token_to_id("[PAD]") or 0))
        self.session = cpu_session(self.path, session_threads(threads))
        self._output_names = [o.name for o in self.session.get_outputs()]
        # An INT8 graph whose gate set a fallback margin: rows it is less sure of than that are
        # answered by the fp32 graph instead (trademl.sentiment.onnx, the -fp32-ties schemes).
        self.fallback_margin: float | None = None
        self.fallback_session = None
        margin = self.meta.get("int8_fallback_margin")
        if graph is None and self.path == int8 and margin and fp32.is_file():
            self.fallback_margin = float(margin)
            self.fallback_session = cpu_session(fp32, session_threads(threads))
        #: Rows answered so far, and how many of them by the fallback graph.
        self.rows_run = self.rows_fallback = 0

    def labels(self) -> tuple[str, ...]:
        """The probability columns: SENTIMENT_LABELS."""
        return SENTIMENT_LABELS

    def _feeds(self, ids: list[list[int]]) -> dict[str, np.ndarray]:
        width = max(len(x) for x in ids)
        input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, seq in enumerate(ids):
            input_ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        return {"input_ids": input_ids, "attention_mask": mask}

    def run(self, texts: Sequence[str], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """``(probabilities (n, 3), embeddings (n, d))`` in input order."""
        texts = [safe_text(t) for t in ([texts] if isinstance(texts, str) else texts)]
        probs = np.zeros((len(texts), len(SENTIMENT_LABELS)), dtype=np.float32)
        emb = np.zeros((len(texts), self.embedding_dim), dtype=np.float32)
        if not texts:
            return probs, emb
        ids = [enc.ids for enc in self.tokenizer.encode_batch(texts)]
        order = np.argsort([len(x) for x in ids], kind="stable")
        emb = self._run_rows(self.session, ids, order, batch_size, probs, emb)
        self.rows_run += len(texts)
        if self.fallback_session is not None:
            top2 = np.sort(probs, axis=1)[:, -2:]
            unsure = np.flatnonzero(top2[:, 1] - top2[:, 0] < self.fallback_margin)
            if unsure.size:  # still in length order: order is a stable sort
                unsure = order[np.isin(order, unsure)]
                emb = self._run_rows(self.fallback_session, ids, unsure, batch_size, probs, emb)
                self.rows_fallback += int(unsure.size)
        return probs, emb

    def _run_rows(self, session, ids, rows, batch_size, probs, emb) -> np.ndarray:
        """Fill ``probs`` and ``emb`` at ``rows`` (length-sorted) from ``session``; the
        embeddings array (replaced when the graph's width is not the metadata's)."""
        batch_size = max(1, int(batch_size))
        for start in range(0, len(rows), batch_size):
            idx = rows[start : start + batch_size]
            out = dict(
                zip(
                    self._output_names,
                    session.run(None, self._feeds([ids[i] for i in idx])),
                    strict=True,
                )
            )
            probs[idx] = out["probabilities"]
            if emb.shape[1] != out["embeddings"].shape[1]:
                emb = np.zeros((len(probs), out["embeddings"].shape[1]), dtype=np.float32)
            emb[idx] = out["embeddings"]
        return emb

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """(n, 3) probabilities in SENTIMENT_LABELS order, input order."""
        return self.run(texts, batch_size)[0]

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """(n, d) normalised sentence embeddings (what the head reads), input order."""
        return self.run(texts, batch_size)[1]

    def __repr__(self) -> str:
        return f"<OnnxSentiment {self.form} {self.onnx_dir}>"


class DeployedSentiment:
    """What a bot calls: the champion of :data:`MODEL_NAME` as the VADER + ONNX ensemble, or
    VADER alone when none is deployed. Loads on first use; one session, reused."""

    def __init__(self, root: str | Path | None = None, threads: int | None = None) -> None:
        if root is None:
            from trademl.registry import default_models_root

            root = default_models_root()
        self.root = Path(root)
        self.threads = threads
        self.version: str | None = None
        self.model: OnnxSentiment | None = None
        self.config = EnsembleConfig()
        self._fallback_reason: str | None = None
        self._loaded = False
        self._lock = threading.Lock()

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if not self._loaded:
                self._fallback_reason = self._load()
                if self._fallback_reason:  # info: each answer says "vader" already
                    log.info("sentiment: serving VADER alone: %s", self._fallback_reason)
                self._loaded = True

    def _load(self) -> str | None:
        """Load the champion; the reason for the VADER fallback, or None when the model serves."""
        from trademl.registry import ModelRegistry

        try:
            champion = ModelRegistry(self.root).champion(MODEL_NAME)
        except Exception as exc:  # a damaged registry must not stop the bot answering
            return f"cannot read the registry at {self.root}: {exc}"
        if champion is None:
            return f"no champion of {MODEL_NAME!r} under {self.root}"
        onnx_dir = champion.path / ONNX_DIR
        if not (onnx_dir / ONNX_FP32_FILE).is_file():
            return f"{MODEL_NAME} {champion.version} has no {ONNX_DIR}/{ONNX_FP32_FILE}"
        config_path = champion.path / ENSEMBLE_FILE
        try:
            if config_path.is_file():
                self.config = EnsembleConfig.from_dict(json.loads(config_path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            return f"{config_path}: {exc}"
        try:
            self.model = OnnxSentiment(onnx_dir, threads=self.threads)
        except Exception as exc:
            return f"cannot load {onnx_dir}: {exc}"
        self.version = champion.version
        return None

    @property
    def fallback_reason(self) -> str | None:
        """Why VADER answers alone (no champion, no ``onnx/``, a load error), or None when the
        model serves. Reading it loads the champion."""
        self._ensure_loaded()
        return self._fallback_reason

    @property
    def name(self) -> str:
        """``ensemble:<version>:<form>`` when the model serves, else ``vader``."""
        self._ensure_loaded()
        if self.model is None:
            return VADER
        return f"ensemble:{self.version}:{self.model.form}"

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[dict[str, Any]]:
        """One answer per text, in input order: ``label``, ``score`` (P(bullish) - P(bearish)),
        ``confidence``, ``probabilities``, ``model`` and ``routed`` (blend, model or vader).

        Any text gets an answer (``None`` reads as empty, other objects as ``str()``; one string
        is one text): a model failure on a batch is logged and that batch answered by VADER.
        """
        if isinstance(texts, str):
            texts = [texts]
        texts = [safe_text(t) for t in texts]
        if not texts:
            return []
        self._ensure_loaded()
        compound = vader_compound(texts)
        if self.model is not None:
            try:
                result = ensemble(
                    compound, self.model.predict_proba(texts, batch_size), self.config
                )
                return _answers(result.probabilities, result.labels, result.routed, self.name)
            except Exception as exc:  # one bad batch must not cost the bot its answers
                log.error(
                    "sentiment: %s failed on %d texts (%r); VADER answers them",
                    self.name,
                    len(texts),
                    exc,
                )
        band = self.config.neutral_band
        probs = vader_probabilities(compound, band)
        return _answers(probs, vader_labels(compound, band), [VADER] * len(texts), VADER)

    def __repr__(self) -> str:
        return f"<DeployedSentiment {self.name}>"


def _answers(
    probs: np.ndarray, labels: list[str], routed: list[str], model: str
) -> list[dict[str, Any]]:
    answers = []
    for row, label, route in zip(probs, labels, routed, strict=True):
        p = [float(x) for x in row]
        answers.append(
            {
                "label": label,
                "score": round(p[2] - p[0], 4),
                "confidence": round(max(p), 4),
                "probabilities": {
                    name: round(v, 4) for name, v in zip(SENTIMENT_LABELS, p, strict=True)
                },
                "model": model,
                "routed": route,
            }
        )
    return answers
