"""Serving the deployed signal models, without Dagster: label + confidence + entities per message.

Precedence for the class: the fine-tuned transformer through onnxruntime INT8, then torch, then the
TF-IDF baseline, then the rule parser. Entities come from the deployed NER extractor, with the rule
parser filling any field it leaves empty. Each answer says which model gave it.

Layout of a deployed ``signal_classifier`` version (see trademl_assets.signals.models)::

    onnx/model.int8.onnx (+ model.onnx, model.onnx.data, tokenizer)   hf/ (save_pretrained)   baseline.joblib
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trademl.errors import TradeMLError
from trademl.labels import NON_SIGNAL, SIGNAL_FIELDS, SIGNAL_LONG, SIGNAL_SHORT, empty_fields

CLASSIFIER = "signal_classifier"
EXTRACTOR = "ner_extractor"


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

            for kind, path in classifier_candidates(champion.path):
                try:
                    self.classifier = load_classifier(path)
                except Exception as exc:  # a broken artifact: fall through to the next form
                    errors.append(f"{path}: {exc}")
                    continue
                self.classifier_name, self.classifier_version = kind, champion.version
                break
        ner = registry.champion(EXTRACTOR) if (self.root / EXTRACTOR).exists() else None
        if ner is not None and (ner.path / "hf" / "config.json").exists():
            # Loaded on first need: the extractor needs torch (seconds to import), and chatter or
            # messages the parser reads completely never need it.
            self._ner_path, self.extractor_version = ner.path / "hf", ner.version
        elif ner is not None:
            errors.append(f"{ner.path}: no hf/config.json")
        self.load_errors = errors
        if self.classifier is None and self._ner_path is None and not allow_rules:
            detail = f" ({'; '.join(errors)})" if errors else ""
            raise TradeMLError(
                f"{self.root}: no deployed signal models{detail}; run `make demo` to train and deploy them"
            )

    @property
    def extractor(self):
        """The NER extractor, loaded on first use (None when none is deployed)."""
        if self._extractor is None and self._ner_path is not None:
            from trademl.models.ner import NerExtractor

            self._extractor = NerExtractor.load(self._ner_path)
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
        if needs and self._ner_path is not None:
            for i, fields in zip(
                needs, self.extractor.extract([texts[i] for i in needs]), strict=True
            ):
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


def to_prediction_json(pred: dict[str, Any]) -> dict[str, Any]:
    """The `trademl predict` output shape: label, confidence, model, entities {...}."""
    return {
        "label": pred["label"],
        "confidence": pred["confidence"],
        "model": pred["model"],
        "extractor": pred["extractor"],
        "entities": {f: pred[f] for f in SIGNAL_FIELDS},
    }
