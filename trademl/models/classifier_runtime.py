"""Serving the signal classifier: one ``predict`` over torch, ONNX (fp32/INT8) or the baseline.

Importing this module is cheap (numpy only). Each backend imports its own stack when it is
loaded: the ONNX backend needs ``onnxruntime`` + ``tokenizers`` and never imports torch or
transformers, so a trading bot can serve the INT8 model from a slim environment.

>>> clf = load_classifier("var/lake/models/signal_classifier_onnx/v3")  # doctest: +SKIP
>>> clf.name, clf.predict(["LONG BTC/USDT entry 62000 tp 63000"])  # doctest: +SKIP
('onnx-int8', [('SIGNAL_LONG', 0.98)])
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

METADATA_FILE = "trademl_classifier.json"
ONNX_FP32_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
BASELINE_SUFFIXES = (".joblib", ".pkl")
DEFAULT_LABELS = ("NON_SIGNAL", "SIGNAL_LONG", "SIGNAL_SHORT", "SIGNAL_NONE")


class SignalClassifier(Protocol):
    """What every backend offers."""

    name: str
    labels: tuple[str, ...]

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray: ...

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[tuple[str, float]]: ...


_T = TypeVar("_T")
_R = TypeVar("_R")
_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def batch_map(fn: Callable[[_T], _R], batches: Iterable[_T], workers: int = 1) -> Iterator[_R]:
    """``fn`` over ``batches``, results in order: on ``workers`` threads when that is more than 1.

    For onnxruntime sessions of one intra-op thread each: ``session.run`` releases the GIL, so
    ``workers`` batches run at once on as many cores, which on a small machine beats one run
    spread over the cores (no thread-pool handoffs or spinning inside each small matmul). The
    threads are shared by every model in the process (one pool per size).
    """
    batches = list(batches)
    if workers <= 1 or len(batches) <= 1:
        return map(fn, batches)
    with _POOLS_LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            pool = _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="trademl-ort")
    return pool.map(fn, batches)


def session_threads(intra_op_num_threads: int | None, workers: int = 1) -> int:
    """Intra-op threads of a session: as asked; else 1 when batches run in parallel, or on a small
    shared box (a second thread costs more in waiting than it gains there: measured 2 threads
    slower than 1 on 2 busy cores, and spinning threads steal the CPU from the rest of the bot),
    else up to 4."""
    if intra_op_num_threads:
        return intra_op_num_threads
    cpus = os.cpu_count() or 1
    return 1 if workers > 1 or cpus <= 2 else min(4, cpus // 2)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _normalize(texts: Sequence[str], normalization: str | None = None) -> list[str]:
    """``texts`` as the model saw its training texts. ``normalization`` is what the model's
    metadata records: models saved before ``normalize_for_model@2`` (the name without a version)
    saw the word tokens alone, without the level marks; ``@2`` models, the marks against the
    first level, emoji kept as symbols, no line breaks; later ones, the current
    ``normalize_for_model``."""
    from trademl.signals.tokenize import normalize_for_model, word_tokens

    name = normalization or ""
    if name and "@" not in name:
        return [" ".join(tok for tok, _, _ in word_tokens(t)) for t in texts]
    if name.endswith("@2"):
        return [normalize_for_model(t, version=2) for t in texts]
    return [normalize_for_model(t) for t in texts]


def _read_metadata(directory: Path) -> dict[str, Any]:
    path = directory / METADATA_FILE
    return json.loads(path.read_text()) if path.exists() else {}


class _Base:
    name = "base"
    labels: tuple[str, ...] = DEFAULT_LABELS

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return _softmax(self.predict_logits(texts, batch_size))

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        raise NotImplementedError

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[tuple[str, float]]:
        """``(label, confidence)`` per text, in input order."""
        if isinstance(texts, str):
            raise TypeError("predict() takes a list of texts, not one string")
        proba = self.predict_proba(list(texts), batch_size)
        best = proba.argmax(axis=1) if len(proba) else np.zeros(0, dtype=int)
        return [(self.labels[i], float(proba[row, i])) for row, i in enumerate(best)]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class TorchClassifier(_Base):
    """A Hugging Face directory written by ``train_text_classifier``, run with torch."""

    name = "torch"

    def __init__(self, model_dir: str | Path, num_threads: int | None = None) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.model_dir = Path(model_dir)
        meta = _read_metadata(self.model_dir)
        self.max_length = int(meta.get("max_length", 128))
        self.normalization = meta.get("normalization")
        if num_threads:
            torch.set_num_threads(num_threads)
        from trademl.models.hf import quiet_transformers

        with quiet_transformers():
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
            self.model = AutoModelForSequenceClassification.from_pretrained(self.model_dir).eval()
        id2label = self.model.config.id2label
        self.labels = tuple(id2label[i] for i in range(len(id2label)))

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        from trademl.models.text_classifier import torch_logits

        return torch_logits(
            self.model,
            self.tokenizer,
            list(texts),
            max_length=self.max_length,
            batch_size=batch_size,
            normalization=self.normalization,
        )


class OnnxClassifier(_Base):
    """An exported ``model.onnx`` / ``model.int8.onnx`` with the tokenizer beside it.

    Tokenises with the ``tokenizers`` library from ``tokenizer.json`` (the same fast tokenizer
    transformers uses) in one batch call, sorts the rows by length, pads each batch to its
    longest row, runs onnxruntime; ``workers`` batches at a time (see :func:`batch_map`).
    """

    def __init__(
        self,
        onnx_path: str | Path,
        intra_op_num_threads: int | None = None,
        workers: int = 1,
    ) -> None:
        from tokenizers import Tokenizer

        self.onnx_path = Path(onnx_path)
        directory = self.onnx_path.parent
        meta = _read_metadata(directory)
        self.labels = tuple(meta.get("labels", DEFAULT_LABELS))
        self.max_length = int(meta.get("max_length", 128))
        self.name = "onnx-int8" if ".int8." in self.onnx_path.name else "onnx-fp32"
        self.normalization = meta.get("normalization")

        tok_file = directory / "tokenizer.json"
        if not tok_file.exists():
            raise FileNotFoundError(
                f"{tok_file} missing: the ONNX classifier needs the tokenizer beside the model "
                "(export_onnx copies it; re-export or copy tokenizer.json there)"
            )
        self.tokenizer = Tokenizer.from_file(str(tok_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_length)
        self.pad_id = int(meta.get("pad_token_id", self.tokenizer.token_to_id("[PAD]") or 0))

        self.workers = max(1, int(workers))
        self.session = cpu_session(self.onnx_path, session_threads(intra_op_num_threads, workers))
        self.input_names = {i.name for i in self.session.get_inputs()}

    def _batch_inputs(self, ids: list[list[int]]) -> dict[str, np.ndarray]:
        width = max(len(x) for x in ids)
        input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, seq in enumerate(ids):
            input_ids[i, : len(seq)] = seq
            mask[i, : len(seq)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        return feeds

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        texts = _normalize(texts, self.normalization)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        if not texts:
            return out
        ids = [enc.ids for enc in self.tokenizer.encode_batch(texts)]
        order = np.argsort([len(x) for x in ids], kind="stable")
        batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]

        def run(idx: np.ndarray) -> np.ndarray:
            return self.session.run(None, self._batch_inputs([ids[i] for i in idx]))[0]

        for idx, logits in zip(batches, batch_map(run, batches, self.workers), strict=True):
            out[idx] = logits
        return out


def cpu_session(path: str | Path, intra_op_num_threads: int):
    """An onnxruntime CPU session with every graph optimization, one inter-op thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = intra_op_num_threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


class BaselineClassifier(_Base):
    """The joblib file written by ``train_baseline`` (scikit-learn TF-IDF + logistic regression)."""

    name = "tfidf-baseline"

    def __init__(self, path: str | Path) -> None:
        import joblib

        self.path = Path(path)
        payload = joblib.load(self.path)
        if not isinstance(payload, dict) or "pipeline" not in payload:
            raise ValueError(
                f"{self.path}: not a trademl baseline (expected a dict with 'pipeline')"
            )
        self.pipeline = payload["pipeline"]
        self.normalization = payload.get("normalization")
        self.labels = tuple(payload.get("labels", DEFAULT_LABELS))
        # The pipeline's class order is alphabetical and may lack classes absent from training.
        classes = list(self.pipeline.classes_)
        self._columns = [(self.labels.index(c), j) for j, c in enumerate(classes)]

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        if len(texts):
            proba = self.pipeline.predict_proba(_normalize(texts, self.normalization))
            for ours, theirs in self._columns:
                out[:, ours] = proba[:, theirs]
        return out

    def predict_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return np.log(np.clip(self.predict_proba(texts, batch_size), 1e-12, None))


def load_classifier(
    path: str | Path,
    *,
    prefer: str = "int8",
    intra_op_num_threads: int | None = None,
    num_threads: int | None = None,
    workers: int = 1,
) -> SignalClassifier:
    """Load whatever ``path`` holds (``workers``: ONNX batches run at once, see
    :func:`batch_map`).

    - a ``.joblib``/``.pkl`` file: the TF-IDF baseline;
    - a ``.onnx`` file, or a directory with ``model.int8.onnx``/``model.onnx``: onnxruntime
      (``prefer="int8"`` or ``"fp32"`` picks between them in a directory);
    - a Hugging Face directory (``config.json``): torch.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_classifier: {path} does not exist")
    if path.is_file():
        if path.suffix in BASELINE_SUFFIXES:
            return BaselineClassifier(path)
        if path.suffix == ".onnx":
            return OnnxClassifier(path, intra_op_num_threads, workers)
        raise ValueError(f"load_classifier: cannot tell what {path} is (expected .onnx or .joblib)")
    if prefer not in ("int8", "fp32"):
        raise ValueError(f"load_classifier: prefer must be 'int8' or 'fp32', not {prefer!r}")
    candidates = (
        [ONNX_INT8_FILE, ONNX_FP32_FILE] if prefer == "int8" else [ONNX_FP32_FILE, ONNX_INT8_FILE]
    )
    for name in candidates:
        if (path / name).exists():
            return OnnxClassifier(path / name, intra_op_num_threads, workers)
    if (path / "config.json").exists():
        return TorchClassifier(path, num_threads)
    for suffix in BASELINE_SUFFIXES:
        found = sorted(path.glob(f"*{suffix}"))
        if found:
            return BaselineClassifier(found[0])
    raise FileNotFoundError(
        f"load_classifier: {path} holds no model.onnx, model.int8.onnx, config.json or .joblib file"
    )
