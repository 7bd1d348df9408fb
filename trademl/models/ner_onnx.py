"""The NER extractor through onnxruntime: export (fp32, then INT8 where parity holds) and serving.

The exported directory (``<ner_extractor version>/onnx/``) is self-contained for serving with
onnxruntime + tokenizers, without torch or transformers::

    model.onnx          fp32 graph (inputs input_ids, attention_mask; output logits [b, s, tags])
    model.int8.onnx     dynamic INT8 quantization, only when it passed the parity check (the
                        first of :data:`INT8_SCHEMES` that did)
    tokenizer.json      the fast tokenizer the model was trained with
    trademl_ner.json    the model's manifest plus an ``onnx`` section: parity figures, the
                        precision served, sizes

:class:`OnnxNerExtractor` is a :class:`~trademl.models.ner.NerExtractor` whose tags come from
onnxruntime: the same word tokens (:func:`trademl.signals.tokenize.word_tokens`), the same
first-sub-token labelling, the same ``spans_to_fields`` post-processing (inherited, not copied).

Parity is entity-level agreement with torch on held-out rows: ``2·|T∩O| / (|T| + |O|)`` over the
``(start, end, label)`` spans torch (T) and onnxruntime (O) find in the same texts, i.e. the
entity F1 of the ONNX graph scored against torch. INT8 ships when it reaches
:data:`MIN_ENTITY_AGREEMENT`; otherwise only fp32 is kept, and the manifest says which.

>>> result = build_ner_onnx("v1/hf", "v1/onnx", held_out_texts)  # doctest: +SKIP
>>> result.served, result.parity.int8_agreement  # doctest: +SKIP
('onnx-int8', 0.9921)
>>> OnnxNerExtractor.load("v1/onnx").extract(["LONG BTC/USDT entry 62000 tp 63000"])  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trademl.models.classifier_runtime import batch_map, cpu_session, session_threads
from trademl.models.ner import MANIFEST_NAME, NerExtractor
from trademl.models.onnx_export import INT8_SCHEMES, quantize_int8

ONNX_FP32_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
DEFAULT_OPSET = 18
#: INT8 is served only when its spans agree with torch's on at least this share of entities.
MIN_ENTITY_AGREEMENT = 0.99
#: fp32 is the same arithmetic as torch: anything less than this means a broken export.
MIN_FP32_AGREEMENT = 0.999

log = logging.getLogger(__name__)


# --- serving -----------------------------------------------------------------------------------


class OnnxNerExtractor(NerExtractor):
    """An exported NER graph with its tokenizer, run by onnxruntime (torch is never imported).

    ``extract(texts)`` and ``predict_tags(words)`` are those of :class:`NerExtractor`. One
    ``InferenceSession`` is shared by every thread that calls it (``run`` is thread-safe);
    ``intra_op_num_threads`` sets its threads (default: 1 on a machine of 1-2 cores or with
    ``workers`` > 1, else up to 4). Rows are tokenised in one fast batch call, sorted by length
    and run ``batch_size`` at a time, each batch padded to its own longest row, ``workers``
    batches at once (:func:`~trademl.models.classifier_runtime.batch_map`).
    """

    def __init__(
        self,
        onnx_path: str | os.PathLike,
        intra_op_num_threads: int | None = None,
        workers: int = 1,
    ):
        from tokenizers import Tokenizer

        self.onnx_path = Path(onnx_path)
        directory = self.onnx_path.parent
        manifest_path = directory / MANIFEST_NAME
        if not manifest_path.is_file():
            raise FileNotFoundError(
                f"{manifest_path} missing: an exported NER model needs its manifest beside it "
                "(build_ner_onnx writes it)"
            )
        manifest = json.loads(manifest_path.read_text())
        config = manifest.get("config", {})
        tok_file = directory / "tokenizer.json"
        if not tok_file.exists():
            raise FileNotFoundError(
                f"{tok_file} missing: the ONNX extractor needs the tokenizer beside the model"
            )
        tokenizer = Tokenizer.from_file(str(tok_file))
        tokenizer.no_padding()
        max_length = int(config.get("max_length", 256))
        tokenizer.enable_truncation(max_length=max_length)
        super().__init__(
            None, tokenizer, manifest["labels"], max_length, config.get("default_quote", "USDT")
        )
        self.pad_id = int(manifest.get("onnx", {}).get("pad_token_id", 0))
        self.name = "onnx-int8" if self.onnx_path.name == ONNX_INT8_FILE else "onnx-fp32"
        self.workers = max(1, int(workers))
        self.session = cpu_session(self.onnx_path, session_threads(intra_op_num_threads, workers))
        self._labels = np.array(self.labels, dtype=object)

    @classmethod
    def load(  # type: ignore[override]
        cls,
        path: str | os.PathLike,
        prefer: str = "int8",
        intra_op_num_threads: int | None = None,
        workers: int = 1,
    ) -> OnnxNerExtractor:
        """A ``.onnx`` file, or an export directory (``prefer`` int8 or fp32 picks the file)."""
        path = Path(path)
        if path.is_file():
            return cls(path, intra_op_num_threads, workers)
        names = [ONNX_INT8_FILE, ONNX_FP32_FILE]
        for name in names if prefer == "int8" else names[::-1]:
            if (path / name).is_file():
                return cls(path / name, intra_op_num_threads, workers)
        raise FileNotFoundError(f"{path}: no {ONNX_INT8_FILE} or {ONNX_FP32_FILE}")

    def predict_tags(self, words: Sequence[Sequence[str]], batch_size: int = 16) -> list[list[str]]:
        """One BIO tag per word; words past ``max_length`` sub-tokens are tagged ``O``."""
        tags: list[list[str]] = [["O"] * len(w) for w in words]
        todo = [i for i, w in enumerate(words) if w]
        if not todo:
            return tags
        encodings = self.tokenizer.encode_batch(
            [list(words[i]) for i in todo], is_pretokenized=True
        )
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(todo))
        order = np.argsort(lengths, kind="stable")
        batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]

        def run(chunk: np.ndarray) -> np.ndarray:
            width = int(lengths[chunk].max())
            ids = np.full((len(chunk), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, k in enumerate(chunk):
                seq = encodings[k].ids
                ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1
            logits = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            return logits.argmax(-1)

        for chunk, best in zip(batches, batch_map(run, batches, self.workers), strict=True):
            best_tags = self._labels[best]
            for row, k in enumerate(chunk):
                out, previous = tags[todo[k]], None
                for pos, word in enumerate(encodings[k].word_ids):
                    if word is not None and word != previous:  # the word's first sub-token
                        out[word] = best_tags[row, pos]
                    previous = word
        return tags

    def extract(self, texts: Sequence[str], batch_size: int = 16) -> list[dict[str, Any]]:
        return super().extract(texts, batch_size)

    def __repr__(self) -> str:
        return f"<OnnxNerExtractor {self.name} {self.onnx_path}>"


# --- export --------------------------------------------------------------------------------------


@dataclass
class NerParity:
    """Entity-level agreement of onnxruntime with torch over the same texts."""

    n: int
    torch_entities: int
    fp32_agreement: float
    int8_agreement: float | None
    fp32_message_agreement: float
    int8_message_agreement: float | None
    int8_disagreements: list[dict[str, Any]] = field(default_factory=list)  # a few, for the log


@dataclass
class NerOnnxResult:
    """What :func:`build_ner_onnx` wrote: the precision served and why."""

    out_dir: Path
    served: str  # "onnx-int8" or "onnx-fp32"
    parity: NerParity
    fp32_bytes: int
    int8_bytes: int | None  # the served INT8 graph's size (None when fp32 is served)
    opset: int
    seconds: float
    min_agreement: float = MIN_ENTITY_AGREEMENT
    int8_scheme: str | None = None  # the scheme of INT8_SCHEMES kept, None for fp32 only
    attempts: list[dict[str, Any]] = field(default_factory=list)  # each INT8 scheme's figures


def entity_agreement(
    reference: Sequence[Sequence[tuple[int, int, str]]],
    other: Sequence[Sequence[tuple[int, int, str]]],
) -> float:
    """``2·|R∩O| / (|R| + |O|)`` over the spans of each text (1.0 when neither finds any)."""
    common = total = 0
    for ref, got in zip(reference, other, strict=True):
        ref_set, got_set = set(ref), set(got)
        common += len(ref_set & got_set)
        total += len(ref_set) + len(got_set)
    return 1.0 if total == 0 else 2 * common / total


def _spans(extracted: list[dict[str, Any]]) -> list[list[tuple[int, int, str]]]:
    return [[(s["start"], s["end"], s["label"]) for s in item["spans"]] for item in extracted]


def ner_parity(
    model_dir: str | os.PathLike,
    onnx_dir: str | os.PathLike,
    texts: Sequence[str],
    batch_size: int = 16,
    reference: list[list[tuple[int, int, str]]] | None = None,
) -> NerParity:
    """Spans of torch (``model_dir``, the ``hf/`` folder) against the fp32 and (if present) INT8
    graphs in ``onnx_dir``, all through their serving classes, tokenizer included, in the
    batches serving uses (dynamic INT8 scales each batch's activations as a whole, so a row's
    tags can depend on its batch). ``reference``: torch's spans of ``texts`` when the caller
    already has them."""
    texts = list(texts)
    if not texts:
        raise ValueError("ner_parity: no texts given; pass the held-out messages to compare on")
    onnx_dir = Path(onnx_dir)
    if reference is None:
        reference = torch_spans(model_dir, texts, batch_size)
    fp32 = _spans(OnnxNerExtractor(onnx_dir / ONNX_FP32_FILE).extract(texts, batch_size))
    int8_agreement = int8_messages = None
    disagreements: list[dict[str, Any]] = []
    if (onnx_dir / ONNX_INT8_FILE).exists():
        int8 = _spans(OnnxNerExtractor(onnx_dir / ONNX_INT8_FILE).extract(texts, batch_size))
        int8_agreement = entity_agreement(reference, int8)
        int8_messages = _same_share(reference, int8)
        disagreements = [
            {"text": text, "torch": ref, "int8": got}
            for text, ref, got in zip(texts, reference, int8, strict=True)
            if set(ref) != set(got)
        ][:10]
    return NerParity(
        n=len(texts),
        torch_entities=sum(len(r) for r in reference),
        fp32_agreement=entity_agreement(reference, fp32),
        int8_agreement=int8_agreement,
        fp32_message_agreement=_same_share(reference, fp32),
        int8_message_agreement=int8_messages,
        int8_disagreements=disagreements,
    )


def torch_spans(
    model_dir: str | os.PathLike, texts: Sequence[str], batch_size: int = 16
) -> list[list[tuple[int, int, str]]]:
    """The ``(start, end, label)`` spans the torch model finds in each text."""
    return _spans(NerExtractor.load(model_dir).extract(list(texts), batch_size))


def _same_share(a: Sequence[Sequence[Any]], b: Sequence[Sequence[Any]]) -> float:
    """The share of texts whose spans are the same."""
    return float(np.mean([set(x) == set(y) for x, y in zip(a, b, strict=True)])) if a else 1.0


def quantize_ner(fp32_path: Path, int8_path: Path, scheme: str, per_channel: bool = True) -> None:
    """Dynamic INT8 quantization of an exported NER graph by one of :data:`INT8_SCHEMES`
    (:func:`trademl.models.onnx_export.quantize_int8`, shared with the classifier)."""
    quantize_int8(fp32_path, int8_path, scheme, per_channel)


def export_ner_fp32(model_dir: str | os.PathLike, fp32_path: Path, opset: int = DEFAULT_OPSET):
    """The token classifier in ``model_dir`` as one self-contained ONNX graph (TorchScript
    exporter, eager attention: the pattern onnxruntime fuses), dynamic batch and sequence axes."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from trademl.models.hf import quiet_transformers
    from trademl.models.onnx_export import _logits_only

    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForTokenClassification.from_pretrained(
            model_dir, attn_implementation="eager"
        ).eval()
    example = tokenizer(
        ["LONG BTC / USDT entry 62000 tp 63000", "hi all"], padding=True, return_tensors="pt"
    )
    axes = {0: "batch", 1: "sequence"}
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # exporter chatter (deprecations, axis renames)
            torch.onnx.export(
                _logits_only(model),
                (example["input_ids"], example["attention_mask"]),
                str(fp32_path),
                input_names=["input_ids", "attention_mask"],
                output_names=["logits"],
                opset_version=opset,
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": axes},
                dynamo=False,
            )
    finally:
        onnx_log.setLevel(level)
    return tokenizer


def build_ner_onnx(
    model_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    parity_texts: Sequence[str],
    *,
    min_agreement: float = MIN_ENTITY_AGREEMENT,
    schemes: Sequence[str] = INT8_SCHEMES,
    per_channel: bool = True,
    opset: int = DEFAULT_OPSET,
) -> NerOnnxResult:
    """Export the NER model in ``model_dir`` (a :func:`~trademl.models.ner.train_ner` folder) into
    ``out_dir``: fp32, then each INT8 scheme of ``schemes`` in turn, parity-checked against torch
    on ``parity_texts`` (held-out messages). The first scheme whose entity agreement reaches
    ``min_agreement`` is kept as ``model.int8.onnx``; when none does, only fp32 is kept (and
    served). The manifest's ``onnx`` section records every figure and the precision served.
    ValueError when fp32 itself disagrees with torch (a broken export: torch stays served)."""
    start = time.perf_counter()
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    manifest_path = model_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise FileNotFoundError(f"build_ner_onnx: {model_dir} has no {MANIFEST_NAME}")
    texts = list(parity_texts)
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32_path, int8_path = out_dir / ONNX_FP32_FILE, out_dir / ONNX_INT8_FILE
    for stale in (fp32_path, int8_path):
        stale.unlink(missing_ok=True)
    tokenizer = export_ner_fp32(model_dir, fp32_path, opset)
    tok_file = model_dir / "tokenizer.json"
    if tok_file.exists():
        shutil.copy2(tok_file, out_dir / "tokenizer.json")
    else:  # a tokenizer saved without its fast form: write it from the loaded one
        tokenizer.backend_tokenizer.save(str(out_dir / "tokenizer.json"))
    manifest = json.loads(manifest_path.read_text())
    config = json.loads((model_dir / "config.json").read_text())
    manifest["onnx"] = {"pad_token_id": config.get("pad_token_id") or 0}
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))

    reference = torch_spans(model_dir, texts)
    attempts: list[dict[str, Any]] = []
    parity, served, kept = None, "onnx-fp32", None
    int8_bytes = None
    for scheme in schemes:
        quantize_ner(fp32_path, int8_path, scheme, per_channel)
        parity = ner_parity(model_dir, out_dir, texts, reference=reference)
        if parity.fp32_agreement < MIN_FP32_AGREEMENT:
            break
        attempts.append(
            {
                "scheme": scheme,
                "entity_agreement": parity.int8_agreement,
                "message_agreement": parity.int8_message_agreement,
                "bytes": int8_path.stat().st_size,
            }
        )
        if parity.int8_agreement is not None and parity.int8_agreement >= min_agreement:
            served, kept, int8_bytes = "onnx-int8", scheme, int8_path.stat().st_size
            break
        log.warning(
            "build_ner_onnx: INT8 (%s) agrees with torch on %.4f of the entities (< %.2f)%s",
            scheme,
            parity.int8_agreement or 0.0,
            min_agreement,
            "" if scheme == schemes[-1] else "; trying the next scheme",
        )
    if kept is None:
        int8_path.unlink(missing_ok=True)
    if parity is None:  # no INT8 scheme asked for
        parity = ner_parity(model_dir, out_dir, texts, reference=reference)
    if parity.fp32_agreement < MIN_FP32_AGREEMENT:
        raise ValueError(
            f"build_ner_onnx: the fp32 graph agrees with torch on {parity.fp32_agreement:.4f} of "
            f"the entities of {parity.n} messages (< {MIN_FP32_AGREEMENT}); broken export"
        )
    result = NerOnnxResult(
        out_dir=out_dir,
        served=served,
        parity=parity,
        fp32_bytes=fp32_path.stat().st_size,
        int8_bytes=int8_bytes,
        opset=opset,
        seconds=time.perf_counter() - start,
        min_agreement=min_agreement,
        int8_scheme=kept,
        attempts=attempts,
    )
    manifest["onnx"].update(
        {
            "source_model_dir": str(model_dir),
            "opset": opset,
            "exporter": "torchscript",
            "served": served,
            "fp32": ONNX_FP32_FILE,
            "int8": ONNX_INT8_FILE if kept else None,
            "int8_scheme": kept,
            "int8_per_channel": per_channel if kept else None,
            "int8_attempts": attempts,
            "fp32_bytes": result.fp32_bytes,
            "int8_bytes": int8_bytes,
            "min_entity_agreement": min_agreement,
            "parity": {k: v for k, v in asdict(parity).items() if k != "int8_disagreements"},
        }
    )
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
    return result


__all__ = [
    "INT8_SCHEMES",
    "MIN_ENTITY_AGREEMENT",
    "NerOnnxResult",
    "NerParity",
    "OnnxNerExtractor",
    "build_ner_onnx",
    "entity_agreement",
    "export_ner_fp32",
    "ner_parity",
    "quantize_ner",
    "torch_spans",
]
