"""Meme vision assets: the imaged posts with their labels, the LLaVA (Q)LoRA adapter, and the
text x image fusion per post. The work is in trademl.vision; these are recipes."""

import json
from dataclasses import asdict
from pathlib import Path

import dagster as dg
import pandas as pd

from trademl.lake import atomic_write_text
from trademl.sentiment.dataset import load_posts, read_sentiment_labels
from trademl.vision.runtime import ADAPTER_DIR, FUSION_FILE, MODEL_NAME
from trademl_assets.signals.models import TRAINING_TAGS, _staging, _version_output
from trademl_resources import (
    LakeResource,
    MarketSourcesResource,
    MessageSourcesResource,
    ModelRegistryResource,
    TrainingResource,
)


def meme_dataset_path(lake: LakeResource) -> Path:
    return lake.lake().export("meme_data.parquet")


def meme_sentiment_path(lake: LakeResource) -> Path:
    return lake.lake().export("meme_sentiment.parquet")


def tiny_base_cache(lake: LakeResource) -> Path:
    """Where the tiny LLaVA base is built (outside every registry version: it is rebuilt
    bit for bit from the spec the adapter records)."""
    return lake.lake().scratch("cache", "tiny_llava")


class MemeDatasetConfig(dg.Config):
    validation_fraction: float = 0.15
    test_fraction: float = 0.2
    #: The labelling store's table of a person's sentiment labels (and sarcasm flags).
    labels_table: str = "sentiment_labels"
    #: Folder the posts' relative image paths are read from (default: the market root, where
    #: `trademl demo-data` writes memes/); an image outside it is quarantined.
    image_root: str | None = None


@dg.asset(group_name="vision", deps=["social_posts"], kinds={"parquet"})
def meme_dataset(
    context: dg.AssetExecutionContext,
    config: MemeDatasetConfig,
    lake: LakeResource,
    message_sources: MessageSourcesResource,
    market_sources: MarketSourcesResource,
) -> dg.MaterializeResult:
    """Labelled posts with an image (a person's label > the 1-3 rating; the store's sarcasm
    flag where it has one), split by time; every image opened and verified, the bad ones
    quarantined with the reason, never a failed run."""
    from trademl.vision.dataset import build_meme_dataset, write_meme_dataset

    posts = load_posts(lake.lake())
    human, rejected = (
        read_sentiment_labels(message_sources.sql_url, config.labels_table)
        if message_sources.sql_url
        else (None, [])
    )
    root = config.image_root or market_sources.root
    table, quarantined, stats = build_meme_dataset(
        posts,
        root,
        human,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
    )
    path = write_meme_dataset(table, meme_dataset_path(lake))
    quarantine = lake.lake().root / "quarantine" / "meme_images" / "rejected.jsonl"
    atomic_write_text(quarantine, "".join(json.dumps(q, default=str) + "\n" for q in quarantined))
    if quarantined:
        context.log.warning(
            f"meme_dataset: {len(quarantined)} images quarantined "
            f"({stats['quarantined_per_reason']}); see {quarantine}"
        )
    if rejected:
        context.log.warning(f"meme_dataset: {len(rejected)} store labels unusable (not used)")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "items": len(table),
            "posts_with_image": stats["posts_with_image"],
            "per_split": stats["per_split"],
            "per_class": dg.MetadataValue.json(stats["per_class"]),
            "label_sources": stats["label_sources"],
            "sarcastic": stats["sarcastic"],
            "quarantined": len(quarantined),
            "quarantined_per_reason": stats["quarantined_per_reason"],
            "quarantine": dg.MetadataValue.path(str(quarantine)),
            "image_root": str(root),
        }
    )


class MemeAdapterConfig(dg.Config):
    """The adapter's base, LoRA shape and schedule, and the fusion weights it ships with."""

    #: A local LLaVA directory (e.g. llava-hf/llava-1.5-7b-hf on disk); None: the training
    #: resource's vision_base (TRADEML_VISION_BASE), else the tiny LLaVA built from config.
    base: str | None = None
    steps: int = 300
    batch_size: int = 8
    r: int = 8
    alpha: int = 16
    #: None: 3e-3 for the tiny base, 2e-4 (the usual QLoRA rate) for a real one.
    lr: float | None = None
    #: "auto": QLoRA (4-bit NF4) where CUDA and bitsandbytes' CUDA backend are there, else LoRA.
    quantization: str = "auto"
    seed: int = 0
    #: What is trained besides the LoRA (AdapterConfig's fields). None: the tiny recipe for the
    #: tiny base (vision tower and projector trained in full after a vision warm-up, flipped
    #: counterfactual charts, caption swaps), LoRA only for a real base (its CLIP stays frozen).
    train_vision_tower: bool | None = None
    train_projector: bool | None = None
    vision_warmup_steps: int | None = None
    flip_augment: bool | None = None
    caption_dropout: float | None = None
    #: Sarcasm answers on the flipped charts ("off", "known", "assume_sincere") and how often the
    #: examples with one are repeated: opt-in, see AdapterConfig (no gain measured on the demo).
    sarcasm_pairs: str | None = None
    sarcasm_repeat: int | None = None
    #: A step's progress goes to the Dagster log at debug level; every this many at info too.
    log_every: int = 25
    text_weight: float = 0.5
    image_weight: float = 0.3
    context_weight: float = 0.1
    caption_weight: float = 0.1
    #: The text score or the literal caption score on the other side of the image score and
    #: more than this away flags sarcasm; a sarcasm probability (the adapter's, or gap / 2 when
    #: higher) at or above sarcasm_threshold then inverts the words that contradict the image.
    disagreement: float = 0.7
    sarcasm_threshold: float = 0.5


@dg.asset(
    group_name="vision",
    deps=["meme_dataset"],
    kinds={"pytorch", "peft"},
    op_tags=TRAINING_TAGS,
)
def llava_meme_adapter(
    context: dg.AssetExecutionContext,
    config: MemeAdapterConfig,
    lake: LakeResource,
    registry: ModelRegistryResource,
    training: TrainingResource,
) -> dict:
    """A LoRA adapter (QLoRA on a CUDA box) on a LLaVA's language-model attention that reads a
    meme and its caption and answers mood and sarcasm; the registry keeps the adapter, never the
    base. Held-out accuracy next to the majority class and a caption-only baseline."""
    from trademl.vision.adapter import AdapterConfig, train_adapter
    from trademl.vision.dataset import read_meme_dataset
    from trademl.vision.evaluation import caption_only_baseline, labels_of, majority_baseline
    from trademl.vision.fusion import FusionConfig

    table = read_meme_dataset(meme_dataset_path(lake))
    train = table[table["split"] == "train"]
    test = table[table["split"] == "test"]
    if train.empty:
        raise dg.Failure("llava_meme_adapter: the train split is empty: no labelled imaged posts")
    fusion = FusionConfig(
        text_weight=config.text_weight,
        image_weight=config.image_weight,
        context_weight=config.context_weight,
        caption_weight=config.caption_weight,
        disagreement=config.disagreement,
        sarcasm_threshold=config.sarcasm_threshold,
    )
    base = config.base or training.vision_base
    cfg = AdapterConfig(
        base=base,
        steps=config.steps,
        batch_size=config.batch_size,
        r=config.r,
        alpha=config.alpha,
        lr=config.lr,
        quantization=config.quantization,
        seed=config.seed,
        train_vision_tower=config.train_vision_tower,
        train_projector=config.train_projector,
        vision_warmup_steps=config.vision_warmup_steps,
        flip_augment=config.flip_augment,
        caption_dropout=config.caption_dropout,
        sarcasm_pairs=config.sarcasm_pairs,
        sarcasm_repeat=config.sarcasm_repeat,
        cache_dir=str(tiny_base_cache(lake)),
    )
    every = max(1, config.log_every)

    def progress(step: dict) -> None:
        line = (
            f"llava_meme_adapter: step {step['step']}/{step['steps']} "
            f"loss={step['loss']:.4f} ({step['seconds']:.1f} s)"
        )
        context.log.debug(line)
        if step["step"] % every == 0 or step["step"] == step["steps"]:
            context.log.info(line)

    items = _items(train)
    context.log.info(
        f"llava_meme_adapter: {len(items)} training posts, {cfg.steps} steps on "
        f"{base or 'the tiny LLaVA built from config'}"
    )
    with _staging(lake, MODEL_NAME) as staging:
        result = train_adapter(items, staging, cfg, progress=progress)
        (staging / FUSION_FILE).write_text(json.dumps(asdict(fusion), indent=1))
        truth = test["label"].tolist()
        got = (
            labels_of(
                a["probabilities"] for a in result.adapter.predict(_items(test), batch_size=8)
            )
            if len(test)
            else []
        )
        caption_only = caption_only_baseline(
            train["caption"].tolist(), train["label"].tolist(), test["caption"].tolist()
        )
        majority = majority_baseline(train["label"].tolist(), len(test))

        def acc(pred):
            return round(sum(a == b for a, b in zip(truth, pred, strict=True)) / len(truth), 4)

        held_out = (
            {"adapter": acc(got), "caption_only": acc(caption_only), "majority": acc(majority)}
            if truth
            else {"adapter": None, "caption_only": None, "majority": None}
        )
        training_meta = result.metadata()
        version = registry.registry().register(
            MODEL_NAME,
            staging,
            {
                "metrics": {"heldout_accuracy": held_out},
                "base_model": result.base,
                "training": training_meta,
                "fusion": asdict(fusion),
                "n_train": len(items),
                "n_test": len(test),
                "dagster_run_id": context.run.run_id,
            },
        )
    beats = (
        held_out["adapter"] is not None
        and held_out["adapter"] > held_out["caption_only"]
        and held_out["adapter"] > held_out["majority"]
    )
    context.log.info(
        f"llava_meme_adapter {version}: held-out accuracy {held_out['adapter']} vs caption-only "
        f"{held_out['caption_only']} and majority {held_out['majority']} ({len(test)} posts)"
    )
    context.add_output_metadata(
        {
            "version": version,
            "base": result.base,
            "mode": result.mode,
            "mode_reason": result.reason,
            "compute_dtype": result.compute_dtype,
            "device": result.device,
            "trainable_params": result.trainable_params,
            "total_params": result.total_params,
            "lora_targets": result.lora_targets,
            # LoRA on the language model's attention only; these are trained in full next to it
            "trained_in_full": result.trained_in_full,
            "recipe": dg.MetadataValue.json(result.recipe),
            "warmup_seconds": result.warmup_seconds,
            "peak_memory_mb": result.peak_memory_mb,
            "peak_memory_kind": result.peak_memory_kind,
            "train_seconds": result.seconds,
            "seconds_per_step": result.seconds_per_step,
            "steps": result.steps,
            "final_loss": training_meta["final_loss"],
            "n_train": len(items),
            "n_test": len(test),
            "heldout_accuracy": held_out["adapter"],
            "caption_only_accuracy": held_out["caption_only"],
            "majority_accuracy": held_out["majority"],
            "beats_caption_only_and_majority": beats,
            "note": "a tiny model on generated charts: says nothing about real memes"
            if str(result.base).startswith("tiny:")
            else "",
        }
    )
    return _version_output(registry, MODEL_NAME, version)


def _items(frame: pd.DataFrame) -> list[dict]:
    return [
        {
            "image_path": r.image_path,
            "caption": r.caption,
            "label": r.label,
            "sarcastic": r.sarcastic,
        }
        for r in frame.itertuples(index=False)
    ]


def posts_for_fusion(lake: LakeResource, image_root: str) -> tuple[pd.DataFrame, list[dict]]:
    """Every ingested post with ``ts``, ``text`` and ``image_path`` (None where it has no image
    or its image failed a check), and one dict per rejected image (post_id, image, reason)."""
    from trademl.vision.dataset import ImageRejected, check_image, resolve_image

    posts = load_posts(lake.lake())
    posts["ts"] = pd.to_datetime(posts["date"], utc=True)
    paths, rejected = [], []
    for rec in posts.itertuples(index=False):
        image = rec.image if isinstance(rec.image, str) and rec.image else None
        if image is None:
            paths.append(None)
            continue
        try:
            path = resolve_image(image, image_root)
            check_image(path)
            paths.append(str(path))
        except ImageRejected as exc:
            paths.append(None)
            rejected.append(
                {
                    "post_id": str(rec.post_id),
                    "image": image,
                    "reason": exc.reason,
                    "detail": exc.detail,
                }
            )
    posts["image_path"] = paths
    return posts, rejected


class MemeSentimentConfig(dg.Config):
    #: Folder the posts' relative image paths are read from (default: the market root).
    image_root: str | None = None
    #: Earlier posts naming the same instrument within this window make the context score.
    context_window: str = "24h"
    batch_size: int = 8


@dg.asset(group_name="vision", kinds={"parquet"})
def meme_sentiment(
    context: dg.AssetExecutionContext,
    config: MemeSentimentConfig,
    deployed_meme_adapter: dict,
    deployed_sentiment: dict,
    lake: LakeResource,
    registry: ModelRegistryResource,
    market_sources: MarketSourcesResource,
) -> dg.MaterializeResult:
    """Per post: the text score (deployed sentiment model), the image score (deployed meme
    adapter), context and caption scores fused with the adapter's weights; sarcasm where text and
    image disagree, the text inverted where the adapter is sure. Posts without an image (or
    whose image was rejected) pass through with their text score and say so."""
    from trademl.sentiment.runtime import DeployedSentiment
    from trademl.vision.llava import load_adapter
    from trademl.vision.runtime import fuse_posts, fusion_config_from

    posts, rejected = posts_for_fusion(lake, config.image_root or market_sources.root)
    version_dir = Path(deployed_meme_adapter["path"])
    adapter = load_adapter(version_dir / ADAPTER_DIR, work_dir=tiny_base_cache(lake).parent)
    sentiment = DeployedSentiment(registry.registry().root)
    texts = posts["text"].tolist()
    text_answers = sentiment.predict(texts)
    paths = posts["image_path"].tolist()
    imaged = [k for k, p in enumerate(paths) if isinstance(p, str)]
    image_answers: list[dict | None] = [None] * len(posts)
    got = adapter.predict(
        [{"image_path": paths[k], "caption": texts[k]} for k in imaged],
        batch_size=config.batch_size,
    )
    for k, answer in zip(imaged, got, strict=True):
        image_answers[k] = answer
    fused = fuse_posts(
        posts,
        text_answers,
        image_answers,
        fusion_config_from(version_dir / FUSION_FILE),
        context_window=config.context_window,
    )
    reasons = {r["post_id"]: f"image rejected ({r['reason']})" for r in rejected}
    fused["note"] = [
        f"{reasons[pid]}; {note}" if pid in reasons else note
        for pid, note in zip(fused["post_id"], fused["note"], strict=True)
    ]
    fused.insert(1, "ts", posts["ts"].tolist())
    path = meme_sentiment_path(lake)
    from trademl.lake import atomic_path

    with atomic_path(path) as tmp:
        fused.to_parquet(tmp, index=False)
    flagged = fused[fused["sarcastic"]]
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "posts": len(fused),
            "with_image": len(imaged),
            "images_rejected": len(rejected),
            "text_only": int((fused["used"] == "text").sum()),
            "sarcastic": len(flagged),
            "text_inverted": int(fused["inverted_text"].sum()),
            "caption_inverted": int(fused["inverted_caption"].sum()),
            "per_label": fused["label"].value_counts().to_dict(),
            "adapter": deployed_meme_adapter["version"],
            "base": adapter.info["base"],
            "text_model": sentiment.name,
            "head": dg.MetadataValue.md(
                "\n".join(
                    f"- **{r.label}** {r.score:+.2f} ({r.note or r.used}): {t[:80]!r}"
                    for r, t in zip(
                        flagged.head(8).itertuples(index=False),
                        posts.loc[flagged.head(8).index, "text"],
                        strict=True,
                    )
                )
            ),
        }
    )
