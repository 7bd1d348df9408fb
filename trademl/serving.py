"""Serving the deployed signal models, without Dagster: label + confidence + entities per message.

Precedence for the class: the fine-tuned transformer through onnxruntime INT8, then torch, then the
TF-IDF baseline, then the rule parser. Entities come from the deployed NER extractor, with the rule
parser filling any field it leaves empty. Each answer says which model gave it, and every form that
could not be loaded is a warning on the ``trademl.serving`` logger naming its file (the CLI prints
these on stderr).

Layout of a deployed ``signal_classifier`` version (see trademl_assets.signals.models)::

    onnx/model.int8.onnx (+ model.onnx, model.onnx.data, tokenizer)   hf/ (save_pretrained)   baseline.joblib
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from trademl.errors import TradeMLError
from trademl.labels import NON_SIGNAL, SIGNAL_FIELDS, SIGNAL_LONG, SIGNAL_SHORT, empty_fields

CLASSIFIER = "signal_classifier"
EXTRACTOR = "ner_extractor"
_SURROGATE = re.compile("[\ud800-\udfff]")

log = logging.getLogger(__name__)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def classifier_candidates(version_dir: Path) -> list[tuple[str, Path]]:
    """The loadable forms of a classifier version, best first."""
    out = []
    onnx = version_dir / "onnx"
    if (onnx / "model.int8.onnx").exists():
        out.append(("onnx-int8", onnx / "model.int8.onnx"))
    if (onnx / "model.onnx").exists():
        out.append(("onnx-fp32", onnx / "model.onnx"))
    if (version_dir / "hf" / "config.json").exists():
        out.append(("torch", version_dir / "hf"))
    if (version_dir / "baseline.joblib").exists():
        out.append(("tfidf-baseline", version_dir / "baseline.joblib"))
    return out


class DeployedSignalModels:
    """The champion classifier and extractor of a registry, loaded once, predicting in batches."""

    def __init__(self, models_root: str | os.PathLike, *, allow_rules: bool = True):
        from trademl.registry import ModelRegistry

        self.root = Path(models_root)
        registry = ModelRegistry(self.root)
        self.classifier = None
        self.classifier_name = "rules"
        self.classifier_version = None
        self._extractor = None
        self._ner_path: Path | None = None
        self.extractor_version = None
        errors = []
        champion = registry.champion(CLASSIFIER) if (self.root / CLASSIFIER).exists() else None
        if champion is not None:
            from trademl.models.classifier_runtime import load_classifier

            candidates = classifier_candidates(champion.path)
            for kind, path in candidates:
                try:
                    self.classifier = load_classifier(path)
                except Exception as exc:  # a broken artifact: fall through to the next form
                    errors.append(f"{path}: {_first_line(exc)}")
                    log.warning(
                        "%s: cannot load (%s); trying the next form", path, _first_line(exc)
                    )
                    continue
                self.classifier_name, self.classifier_version = kind, champion.version
                break
            if self.classifier is None:
                if not candidates:
                    errors.append(f"{champion.path}: no onnx/, hf/ or baseline.joblib")
                log.warning(
                    "%s: no loadable form of %s %s; the rule parser decides the class",
                    champion.path,
                    CLASSIFIER,
                    champion.version,
                )
        ner = registry.champion(EXTRACTOR) if (self.root / EXTRACTOR).exists() else None
        if ner is not None and (ner.path / "hf" / "config.json").exists():
            # Loaded on first need: the extractor needs torch (seconds to import), and chatter or
            # messages the parser reads completely never need it.
            self._ner_path, self.extractor_version = ner.path / "hf", ner.version
        elif ner is not None:
            errors.append(f"{ner.path}: no hf/config.json")
            log.warning(
                "%s: no hf/config.json; the rule parser extracts the entities",
                ner.path / "hf" / "config.json",
            )
        self.load_errors = errors
        if self.classifier is None and self._ner_path is None and not allow_rules:
            detail = f" ({'; '.join(errors)})" if errors else ""
            raise TradeMLError(
                f"{self.root}: no deployed signal models{detail}; run `make demo` to train and deploy them"
            )

    @property
    def extractor(self):
        """The NER extractor, loaded on first use (None when none is deployed or it is broken:
        then a warning names it and the rule parser extracts the entities)."""
        if self._extractor is None and self._ner_path is not None:
            from trademl.models.ner import NerExtractor

            try:
                self._extractor = NerExtractor.load(self._ner_path)
            except Exception as exc:  # a broken artifact: the parser's fields stand
                self.load_errors.append(f"{self._ner_path}: {_first_line(exc)}")
                log.warning(
                    "%s: cannot load (%s); the rule parser extracts the entities",
                    self._ner_path,
                    _first_line(exc),
                )
                self._ner_path = self.extractor_version = None
        return self._extractor

    @property
    def name(self) -> str:
        if self.classifier is None and self._ner_path is None:
            return "rules"
        parts = [
            f"{self.classifier_name}"
            + (f"@{self.classifier_version}" if self.classifier_version else "")
        ]
        parts.append(
            f"ner@{self.extractor_version}" if self._ner_path is not None else "rules-entities"
        )
        return "+".join(parts)

    def predict(
        self, texts: Sequence[str], batch_size: int = 64, mode: str = "auto"
    ) -> list[dict[str, Any]]:
        """Gold-format predictions (label + the six fields) plus ``confidence`` and ``model``.

        ``mode="model"``: the class from the deployed classifier; fields from the NER extractor,
        the rule parser filling what it leaves empty. ``mode="auto"`` (the default): where the rule
        parser reads a stated direction for a named pair its class stands; everywhere else (no
        direction word, chatter, updates, styles it does not know) the classifier decides, and the
        fields come from the parser with the NER extractor filling what it leaves empty. ``model`` in each
        answer names what decided its class.
        """
        from trademl.signals.parser import parse_signal

        if mode not in ("auto", "model"):
            raise ValueError(f"predict: mode must be 'auto' or 'model', not {mode!r}")
        texts = list(texts)
        parsed = [parse_signal(t) for t in texts]
        if self.classifier is not None:
            labelled = self.classifier.predict(texts, batch_size=batch_size)
            source = self.classifier_name + (
                f"@{self.classifier_version}" if self.classifier_version else ""
            )
        else:
            labelled, source = [(p.label, 1.0) for p in parsed], "rules"
        # The extractor runs only where its fields can be used: messages classed as signals
        # whose class (in auto mode) the parser did not already settle.
        needs = [
            i
            for i, (p, (label, _)) in enumerate(zip(parsed, labelled, strict=True))
            if label != NON_SIGNAL and not (mode == "auto" and _rules_confident(p))
        ]
        extracted: list[dict[str, Any] | None] = [None] * len(texts)
        extractor = self.extractor if needs else None
        if extractor is not None:
            for i, fields in zip(needs, extractor.extract([texts[i] for i in needs]), strict=True):
                extracted[i] = fields
        ner_name = f"ner@{self.extractor_version}+rules"
        out = []
        for p, (label, confidence), ner in zip(parsed, labelled, extracted, strict=True):
            answered_by = source
            if mode == "auto" and _rules_confident(p):
                # The rules are deterministic: their reading gets confidence 1 unless the
                # classifier agrees, in which case its probability is the better estimate.
                confidence = confidence if label == p.label else 1.0
                label, answered_by = p.label, "rules"
                # Its fields stand too: on channels the NER model never saw, letting it fill the
                # gaps of a reading the parser completed adds more wrong values than right ones.
                fields = p.fields()
            else:
                fields = merge_fields(
                    p.fields(), ner, prefer="model" if mode == "model" else "rules"
                )
            if label == NON_SIGNAL:
                fields = empty_fields()
            else:  # the class decides the side: SIGNAL_NONE states none
                fields["side"] = {SIGNAL_LONG: "LONG", SIGNAL_SHORT: "SHORT"}.get(label)
            out.append(
                {
                    "label": label,
                    "confidence": round(float(confidence), 4),
                    "model": answered_by,
                    "extractor": ner_name if ner is not None else "rules",
                    **fields,
                }
            )
        return out


def _rules_confident(parsed) -> bool:
    """The parser read a stated direction for a named pair: "GOLD BUY NOW" is a signal even with
    no level, and on real channels the parser is right about such messages far more often than a
    classifier trained on other channels (see the issue notes for the figures)."""
    return parsed.label in (SIGNAL_LONG, SIGNAL_SHORT) and bool(parsed.pair)


def merge_fields(
    rules: dict[str, Any], ner: dict[str, Any] | None, prefer: str = "rules"
) -> dict[str, Any]:
    """Fields from the preferred reader, the other filling the fields it left empty."""
    if ner is None:
        return dict(rules)
    first, second = (rules, ner) if prefer == "rules" else (ner, rules)
    merged = {}
    for field in SIGNAL_FIELDS:
        value = first.get(field)
        merged[field] = second.get(field) if value is None or value == [] else value
    return merged


class DeployedExtractor:
    """``eval-signals`` adapter: the deployed models in one prediction mode."""

    def __init__(self, models: DeployedSignalModels, mode: str):
        self.models, self.mode = models, mode
        self.name = f"{mode}:{models.name}"

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        return self.models.predict(texts, mode=self.mode)


def load_deployed_extractor(
    models_root: str | os.PathLike, mode: str = "model"
) -> DeployedExtractor:
    """For ``eval-signals --extractor model|auto``: the deployed models, or an error naming the root."""
    return DeployedExtractor(DeployedSignalModels(models_root, allow_rules=False), mode)


def servable_text(text: str) -> str:
    """``text`` with lone surrogates (a JSON ``\\ud800`` escape, undecodable argv bytes) replaced
    by U+FFFD: they are not text any encoder accepts, and one must not cost a message its answer."""
    return _SURROGATE.sub("\ufffd", text) if not text.isascii() else text


def answer_jsonl(
    models: DeployedSignalModels, handle: BinaryIO, batch_size: int = 64
) -> Iterator[list[tuple[int, dict[str, Any], str | None]]]:
    """The answers to a JSON Lines stream, one batch of at most ``batch_size`` lines at a time.

    Each item is ``(line_no, answer, problem)``, one for every input line, in order: the
    :func:`to_prediction_json` of its ``text``, or for a bad line (not UTF-8, not a JSON object,
    no string ``text``, blank) ``{"line": N, "error": problem}``. Other fields are ignored.
    Only one batch is held in memory.
    """
    from trademl.signals.evaluation import iter_jsonl, text_problem

    if batch_size < 1:
        raise ValueError(f"answer_jsonl: batch_size must be at least 1, not {batch_size}")
    pending: list[tuple[int, str | None, str | None]] = []

    def answers() -> list[tuple[int, dict[str, Any], str | None]]:
        texts = [text for _, text, _ in pending if text is not None]
        predictions = iter(models.predict(texts, batch_size=batch_size) if texts else ())
        out = []
        for line_no, _text, problem in pending:
            if problem is not None:
                out.append((line_no, {"line": line_no, "error": problem}, problem))
            else:
                out.append((line_no, to_prediction_json(next(predictions)), None))
        pending.clear()
        return out

    for line_no, row, problem in iter_jsonl(handle):
        problem = problem or text_problem(row)
        pending.append((line_no, None if problem else servable_text(row["text"]), problem))
        if len(pending) >= batch_size:
            yield answers()
    if pending:
        yield answers()


def to_prediction_json(pred: dict[str, Any]) -> dict[str, Any]:
    """The `trademl predict` output shape: label, confidence, model, entities {...}."""
    return {
        "label": pred["label"],
        "confidence": pred["confidence"],
        "model": pred["model"],
        "extractor": pred["extractor"],
        "entities": {f: pred[f] for f in SIGNAL_FIELDS},
    }
