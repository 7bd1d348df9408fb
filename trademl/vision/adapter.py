"""Training the meme adapter: (Q)LoRA on a LLaVA's language-model attention, causal-LM loss on
the answer tokens only, saved with ``save_pretrained`` plus a sidecar that names the base.

The adapter directory never holds base weights: a local base is recorded by path, the tiny base
by its spec and seed (``tiny:<hash>``), from which ``load_adapter`` rebuilds it bit for bit.
"""

from __future__ import annotations

import json
import logging
import os
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from trademl.sentiment.labels import SENTIMENT_LABELS
from trademl.vision.llava import (
    ADAPTER_META,
    LANGUAGE_ATTENTION,
    PROMPT,
    SARCASM_WORDS,
    MemeAdapter,
    TaskEncoder,
    choose_quantization,
    cpu_threads_for,
    load_base,
    open_image,
    torch_threads,
    training_answers,
)
from trademl.vision.tiny_llava import TinyLlavaSpec, base_id, build_tiny_llava

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict[str, Any]], None]
#: Learning rates when AdapterConfig.lr is None: a random tiny base needs a large step to learn
#: in 150 steps; 2e-4 is the usual QLoRA rate for a pretrained 7B.
TINY_LR, PRETRAINED_LR = 3e-3, 2e-4
#: Encoded posts are cached across steps up to this many pixel values (float32: 256 MB).
_CACHE_PIXELS = 64_000_000


@dataclass
class AdapterConfig:
    """What to train: base, LoRA shape, schedule, quantisation."""

    #: A local LLaVA directory (e.g. llava-hf/llava-1.5-7b-hf on disk); None: the tiny base.
    base: str | None = None
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    #: Regex over module names (peft fullmatch): the language model's attention projections.
    target_modules: str = LANGUAGE_ATTENTION
    #: ~5 s on two CPU cores for the tiny base (12 ms a step at batch 8).
    steps: int = 300
    batch_size: int = 8
    #: None: TINY_LR for the tiny base, PRETRAINED_LR for a real one.
    lr: float | None = None
    #: Most caption tokens kept; the image tokens and the fixed prompt words come on top.
    max_length: int = 48
    seed: int = 0
    quantization: str = "auto"  # "auto" | "qlora" | "lora"
    tiny: TinyLlavaSpec = field(default_factory=TinyLlavaSpec)
    tiny_seed: int = 0
    #: Where the tiny base is built (default: <out_dir>/tiny_base, outside the adapter dir).
    cache_dir: str | None = None
    #: QLoRA only: recompute activations in the backward pass (memory for time at 7B).
    gradient_checkpointing: bool = True
    #: torch intra-op threads on the CPU; None: 1 for the tiny base (see cpu_threads_for).
    cpu_threads: int | None = None
    #: Train the multi-modal projector in full next to the LoRA (peft ``modules_to_save``), as
    #: LLaVA-1.5's own LoRA recipe does: the LoRA stays on the language model's attention. Off by
    #: default: on the demo memes it changed nothing measurable for the tiny base (0.35-0.39
    #: held-out accuracy either way at 300 steps) and makes the adapter 3x larger.
    train_projector: bool = False
    #: Also train on every post with its chart flipped upside down: a rising chart becomes a
    #: falling one, so bullish and bearish swap (neutral stays) and a known sarcasm flag of a
    #: bullish/bearish post inverts (the caption now matches the chart, or stops matching).
    #: A counterfactual that makes the direction, not the picture's look, carry the label. Off by
    #: default: it did not lift the tiny base on the demo memes (0.35 vs 0.39 at 300 steps).
    flip_augment: bool = False


@dataclass
class AdapterResult:
    """What training did, for the asset's metadata; ``adapter`` is the trained model, ready."""

    mode: str
    reason: str
    compute_dtype: str
    device: str
    trainable_params: int
    total_params: int
    peak_memory_mb: float
    peak_memory_kind: str  # "cpu_rss_peak" (whole process) | "cuda_max_allocated"
    seconds: float
    steps: int
    seconds_per_step: float
    base: str
    losses: list[float]
    adapter_dir: str
    lora_targets: int
    adapter: MemeAdapter | None = field(default=None, repr=False, compare=False)

    def metadata(self) -> dict[str, Any]:
        """JSON-friendly summary (losses reduced to first / last)."""
        # not asdict(): it would deep-copy the model behind ``adapter``
        skip = ("adapter", "losses")
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        out["first_loss"] = self.losses[0] if self.losses else None
        out["final_loss"] = self.losses[-1] if self.losses else None
        return out


def lora_target_names(model) -> list[str]:
    """Names of the modules that carry a LoRA adapter (those with ``lora_A``)."""
    return [name for name, module in model.named_modules() if hasattr(module, "lora_A")]


def _check_targets(names: Sequence[str], pattern: str) -> None:
    if not names:
        raise ValueError(f"target_modules {pattern!r} matches no module of the base")
    outside = [n for n in names if "language_model" not in n]
    if outside:
        raise ValueError(
            f"target_modules {pattern!r} reaches beyond the language model: {outside[:3]}"
        )


def _peak_memory_mb(device: str) -> tuple[float, str]:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20, "cuda_max_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cpu_rss_peak"


def _resolve_base(cfg: AdapterConfig, out_dir: Path) -> tuple[Path, dict[str, Any]]:
    if cfg.base not in (None, "", "tiny"):
        path = Path(cfg.base).resolve()
        return path, {"base": str(path), "base_kind": "local", "base_path": str(path)}
    where = Path(cfg.cache_dir) if cfg.cache_dir else out_dir / "tiny_base"
    path = build_tiny_llava(where, cfg.tiny, cfg.tiny_seed).resolve()
    return path, {
        "base": base_id(cfg.tiny, cfg.tiny_seed),
        "base_kind": "tiny",
        "base_path": str(path),
        "tiny_spec": asdict(cfg.tiny),
        "tiny_seed": cfg.tiny_seed,
    }


def train_adapter(
    items: Sequence[Mapping[str, Any]],
    out_dir: str | os.PathLike[str],
    cfg: AdapterConfig | None = None,
    progress: ProgressFn | None = None,
) -> AdapterResult:
    """Train a (Q)LoRA meme adapter on ``items`` and save it to ``out_dir/adapter``.

    ``items``: dicts with ``image_path``, ``caption``, ``label`` (bearish/neutral/bullish) and
    ``sarcastic`` (bool, or None when unknown: then only the mood is trained). An unreadable image
    raises InputError naming the file before any training. ``progress`` gets
    ``{step, steps, loss, seconds}`` after every step.
    """
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from trademl.models.hf import quiet_transformers

    cfg = cfg or AdapterConfig()
    if not items:
        raise ValueError("train_adapter: no training items")
    out = Path(out_dir)
    training_answers(items)  # every label valid, or an error naming the item, before any work
    for item in items:
        open_image(item.get("image_path"))  # every file readable, or an error naming it

    q = choose_quantization(cfg)
    if q["device"] == "cuda":
        torch.cuda.reset_peak_memory_stats()
    base_dir, base_meta = _resolve_base(cfg, out)
    started = time.perf_counter()
    model, processor = load_base(base_dir, q)
    if q["mode"] == "qlora":
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=cfg.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    torch.manual_seed(cfg.seed)
    lora = LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=cfg.target_modules,
        modules_to_save=["multi_modal_projector"] if cfg.train_projector else None,
        bias="none",
    )
    with quiet_transformers():
        model = get_peft_model(model, lora)
    targets = lora_target_names(model)
    _check_targets(targets, cfg.target_modules)
    trainable, total = model.get_nb_trainable_parameters()
    encoder = TaskEncoder(processor, prompt=PROMPT, max_length=cfg.max_length)
    lr = cfg.lr or (TINY_LR if base_meta["base_kind"] == "tiny" else PRETRAINED_LR)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    load_seconds = time.perf_counter() - started

    threads = cpu_threads_for(base_meta["base_kind"], q["device"], cfg.cpu_threads)
    train_items = [*items, *flipped_items(items)] if cfg.flip_augment else list(items)
    with torch_threads(threads):
        losses, seconds = _train_loop(
            model, encoder, optimizer, params, train_items, cfg, q, progress
        )
    model.eval()
    peak, kind = _peak_memory_mb(q["device"])

    adapter_dir = out / "adapter"
    meta = {
        "format": 1,
        **base_meta,
        "labels": list(SENTIMENT_LABELS),
        "sarcasm_words": list(SARCASM_WORDS),
        "prompt": PROMPT,
        "max_length": cfg.max_length,
        "mode": q["mode"],
        "compute_dtype": q["compute_dtype"],
        "lora": {
            "r": cfg.r,
            "alpha": cfg.alpha,
            "dropout": cfg.dropout,
            "targets": cfg.target_modules,
        },
        "steps": cfg.steps,
        "seed": cfg.seed,
        "train_projector": cfg.train_projector,
        "flip_augment": cfg.flip_augment,
    }
    _save_adapter(model, adapter_dir, meta)
    info = {
        "base": base_meta["base"],
        "base_dir": str(base_dir),
        "adapter_dir": str(adapter_dir),
        "cpu_threads": threads,
        **{k: q[k] for k in ("mode", "compute_dtype", "device", "reason")},
    }
    adapter = MemeAdapter(model, processor, info=info, prompt=PROMPT, max_length=cfg.max_length)
    log.info(
        "llava adapter: %d steps in %.1f s (+%.1f s loading), %s, %d trainable of %d",
        cfg.steps, seconds, load_seconds, q["mode"], trainable, total,
    )  # fmt: skip
    return AdapterResult(
        mode=q["mode"],
        reason=q["reason"],
        compute_dtype=q["compute_dtype"],
        device=q["device"],
        trainable_params=int(trainable),
        total_params=int(total),
        peak_memory_mb=round(peak, 1),
        peak_memory_kind=kind,
        seconds=round(seconds, 3),
        steps=cfg.steps,
        seconds_per_step=round(seconds / cfg.steps, 4) if cfg.steps else 0.0,
        base=base_meta["base"],
        losses=losses,
        adapter_dir=str(adapter_dir),
        lora_targets=len(targets),
        adapter=adapter,
    )


#: The label of a chart flipped upside down.
FLIPPED_LABEL = {"bullish": "bearish", "bearish": "bullish", "neutral": "neutral"}


def flipped_items(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each item with its image flipped top to bottom (a PIL image under ``image``), the label
    swapped bullish <-> bearish, and the sarcasm flag of a bullish/bearish item inverted (None
    stays None; a neutral item keeps its flag)."""
    from PIL import ImageOps

    out = []
    for item in items:
        label = item["label"]
        sarcastic = item.get("sarcastic")
        if sarcastic is not None and label != "neutral":
            sarcastic = not sarcastic
        image = item.get("image")
        image = open_image(item["image_path"]) if image is None else image
        out.append(
            {
                "image": ImageOps.flip(image),
                "image_path": f"{item.get('image_path', 'image')} (flipped)",
                "caption": item.get("caption"),
                "label": FLIPPED_LABEL[label],
                "sarcastic": sarcastic,
            }
        )
    return out


def _train_loop(model, encoder, optimizer, params, items, cfg, q, progress):
    """The optimisation steps; returns (losses, seconds)."""
    import torch

    images = [item.get("image", item.get("image_path")) for item in items]
    captions = [item.get("caption") for item in items]
    answers = training_answers(items)
    h, w = _crop_size(encoder.processor)
    cache: dict[int, Any] | None = {} if len(items) * 3 * h * w <= _CACHE_PIXELS else None
    rng = random.Random(cfg.seed)
    order: list[int] = []
    losses: list[float] = []
    model.train()
    started = time.perf_counter()
    for step in range(1, cfg.steps + 1):
        batch_ids = []
        while len(batch_ids) < min(cfg.batch_size, len(items)):
            if not order:
                order = list(range(len(items)))
                rng.shuffle(order)
            batch_ids.append(order.pop())
        rows = _encode(encoder, batch_ids, images, captions, answers, cache)
        batch = encoder.collate(rows, q["device"])
        loss = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            pixel_values=batch["pixel_values"],
            labels=batch["labels"],
            use_cache=False,
        ).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        info = {"step": step, "steps": cfg.steps, "loss": losses[-1]}
        info["seconds"] = round(time.perf_counter() - started, 3)
        if progress is not None:
            progress(info)
        log.debug("llava adapter step %(step)d/%(steps)d loss %(loss).4f", info)
    return losses, time.perf_counter() - started


def _crop_size(processor) -> tuple[int, int]:
    crop = getattr(processor.image_processor, "crop_size", None) or {}
    if isinstance(crop, Mapping):
        return int(crop.get("height", 336)), int(crop.get("width", 336))
    return int(getattr(crop, "height", 336) or 336), int(getattr(crop, "width", 336) or 336)


def _encode(encoder: TaskEncoder, ids, images, captions, answers, cache):
    todo = [i for i in ids if cache is None or i not in cache]
    if todo:
        rows = encoder.encode(
            [images[i] for i in todo], [captions[i] for i in todo], [answers[i] for i in todo]
        )
        fresh = dict(zip(todo, rows, strict=True))
        if cache is not None:
            cache.update(fresh)
    else:
        fresh = {}
    return [fresh[i] if i in fresh else cache[i] for i in ids]


def _save_adapter(model, adapter_dir: Path, meta: Mapping[str, Any]) -> None:
    """peft files + sidecar, written to a temporary sibling and renamed into place."""
    from trademl.models.hf import quiet_transformers

    adapter_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".adapter.", dir=adapter_dir.parent))
    try:
        with quiet_transformers():
            model.save_pretrained(str(tmp))
        (tmp / ADAPTER_META).write_text(json.dumps(meta, indent=2))
        if adapter_dir.exists():
            shutil.rmtree(adapter_dir)
        tmp.rename(adapter_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
