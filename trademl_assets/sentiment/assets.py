"""Crowd sentiment assets: the dataset from rated posts, the VADER + SetFit model and its INT8
ONNX export, and the active-learning queue. The work is in trademl.sentiment; these are recipes."""

import json
import shutil
from pathlib import Path

import dagster as dg
import numpy as np

from trademl.lake import atomic_write_text
from trademl.sentiment.dataset import (
    UNLABELLED,
    build_sentiment_dataset,
    load_posts,
    read_dataset,
    read_pseudo_labels,
    read_sentiment_labels,
    split_of,
    write_dataset,
)
from trademl.sentiment.labels import HUMAN, RATING, SENTIMENT_LABELS
from trademl_assets.signals.models import TRAINING_TAGS, _progress, _staging, _version_output
from trademl_resources import (
    LakeResource,
    MessageSourcesResource,
    ModelRegistryResource,
    TrainingResource,
)

MODEL_NAME = "sentiment_model"


def dataset_path(lake: LakeResource) -> Path:
    return lake.lake().export("sentiment_data.parquet")


def pseudo_labels_path(lake: LakeResource) -> Path:
    """Where sentiment_model leaves its confident predictions for the next sentiment_dataset."""
    return lake.lake().root / "labels" / "sentiment_pseudo_labels.jsonl"


def _attempt_text(attempt: dict) -> str:
    """One INT8 attempt for a message: its agreement, or why it never reached the gate."""
    if attempt.get("agreement") is not None:
        return f"{attempt['scheme']} {attempt['agreement']:.4f}"
    if attempt.get("calibration_failed"):
        return f"{attempt['scheme']} failed on calibration"
    return f"{attempt['scheme']} skipped ({attempt.get('skipped', 'not tried')})"


def replay_path(lake: LakeResource) -> Path:
    return lake.lake().root / "sentiment" / "replay_buffer.jsonl"


class SentimentDatasetConfig(dg.Config):
    validation_fraction: float = 0.15
    test_fraction: float = 0.2
    #: Use the previous model's pseudo-labels (unlabelled posts it was >= 95 % sure of) in train.
    use_pseudo_labels: bool = True
    #: The labelling store's table of a person's sentiment labels (post_id, label, labeled_at).
    labels_table: str = "sentiment_labels"


@dg.asset(group_name="sentiment", deps=["social_posts"], kinds={"parquet"})
def sentiment_dataset(
    context: dg.AssetExecutionContext,
    config: SentimentDatasetConfig,
    lake: LakeResource,
    message_sources: MessageSourcesResource,
) -> dg.MaterializeResult:
    """Posts with labels (a person's from the labelling store > the reader's 1-3 rating >
    earlier pseudo-labels), split by time, and the unlabelled remainder for active learning."""
    posts = load_posts(lake.lake())
    human, rejected = (
        read_sentiment_labels(message_sources.sql_url, config.labels_table)
        if message_sources.sql_url
        else (None, [])
    )
    pseudo = None
    if config.use_pseudo_labels and pseudo_labels_path(lake).is_file():
        pseudo, bad = read_pseudo_labels(pseudo_labels_path(lake))
        rejected += [{**r, "file": str(pseudo_labels_path(lake))} for r in bad]
    table, stats = build_sentiment_dataset(
        posts,
        human,
        pseudo,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
    )
    path = write_dataset(table, dataset_path(lake))
    quarantine = lake.lake().root / "quarantine" / "sentiment_labels" / "rejected.jsonl"
    atomic_write_text(quarantine, "".join(json.dumps(r, default=str) + "\n" for r in rejected))
    if rejected:
        context.log.warning(f"sentiment_dataset: {len(rejected)} labels unusable; see {quarantine}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "rows": len(table),
            "per_split": stats["per_split"],
            "per_class": dg.MetadataValue.json(stats["per_class"]),
            "label_sources": stats["label_sources"],
            "duplicates_dropped": stats["duplicates_dropped"],
            "labels_rejected": len(rejected),
            "split_start": stats["split_start"],
        }
    )


class SentimentModelConfig(dg.Config):
    """SetFit on the shipped MiniLM (or ``TrainingResource.sentiment_base``), the VADER blend,
    continual learning. The launchpad can change any of these per run."""

    #: 160 contrastive steps (~0.8-1 s each on 2 cores). Held-out demo macro-F1: 120 steps gave
    #: SetFit 0.730 / ensemble 0.724 in 97 s, 160 steps 0.764 / 0.772 in 128-158 s.
    max_steps: int = 160
    num_iterations: int = 5
    batch_size: int = 16
    body_learning_rate: float = 1e-4
    #: The logistic head's C (trademl.sentiment.setfit_model.SetFitConfig.head_c).
    head_c: float = 10.0
    max_length: int = 64
    #: LoRA adapters on the body instead of full fine-tuning (for a larger local encoder).
    use_lora: bool = False
    vader_weight: float = 0.3
    model_weight: float = 0.7
    #: SetFit confidence below which a post goes to SetFit alone instead of the blend.
    min_confidence: float = 0.6
    replay_capacity: int = 2000
    #: Share of new labelled posts in each retrain's mix (the rest from the replay buffer).
    new_share: float = 0.7
    pseudo_label_threshold: float = 0.95


@dg.asset(
    group_name="sentiment",
    deps=["sentiment_dataset"],
    kinds={"pytorch", "setfit"},
    op_tags=TRAINING_TAGS,
)
def sentiment_model(
    context: dg.AssetExecutionContext,
    config: SentimentModelConfig,
    lake: LakeResource,
    registry: ModelRegistryResource,
    training: TrainingResource,
) -> dict:
    """A SetFit classifier (bearish / neutral / bullish) + the VADER ensemble settings, as a
    registry version; trained on 70 % new labelled posts and 30 % replayed older ones, and
    leaving pseudo-labels of the unlabelled posts it is sure of for the next dataset."""
    from trademl.sentiment.continual import ReplayBuffer, pseudo_label_accuracy, pseudo_labels
    from trademl.sentiment.ensemble import EnsembleConfig
    from trademl.sentiment.setfit_model import SetFitConfig, load_setfit, train_setfit

    table = read_dataset(dataset_path(lake))
    train = split_of(table, "train")
    if train.empty:
        raise dg.Failure("sentiment_model: the train split is empty: no rated or labelled posts")
    ensemble_cfg = EnsembleConfig(
        vader_weight=config.vader_weight,
        model_weight=config.model_weight,
        min_confidence=config.min_confidence,
    )
    buffer = ReplayBuffer.load(replay_path(lake), capacity=config.replay_capacity)
    mix, mix_stats = training_mix_for(train, buffer, config.new_share)
    context.log.info(
        f"sentiment_model: training on {len(mix):,} posts ({mix_stats['n_new']} new, "
        f"{mix_stats['n_replay']} replayed; label sources "
        f"{mix['label_source'].value_counts().to_dict()})"
    )
    with _staging(lake, MODEL_NAME) as staging:
        cfg = SetFitConfig(
            base_model=training.sentiment_base,
            max_steps=config.max_steps,
            num_iterations=config.num_iterations,
            batch_size=config.batch_size,
            body_learning_rate=config.body_learning_rate,
            head_c=config.head_c,
            max_length=config.max_length,
            num_threads=training.torch_threads,
            use_lora=config.use_lora,
        )
        result = train_setfit(
            mix["text"].tolist(),
            mix["label"].tolist(),
            staging / "setfit",
            cfg,
            progress=_progress(context, MODEL_NAME),
        )
        (staging / "ensemble.json").write_text(json.dumps(ensemble_cfg.to_dict(), indent=1))
        model = result.model or load_setfit(staging / "setfit")
        held_out = split_of(table, ("validation", "test"))
        pool = split_of(table, UNLABELLED)
        probs_held = model.predict_proba(held_out["text"].tolist())
        probs_pool = model.predict_proba(pool["text"].tolist())
        labelled_ids = set(table.loc[table["label_source"].isin((HUMAN, RATING)), "post_id"])
        pseudo = pseudo_labels(
            pool["post_id"].tolist(),
            pool["text"].tolist(),
            probs_pool,
            threshold=config.pseudo_label_threshold,
            exclude_ids=labelled_ids,
        )
        pseudo_quality = pseudo_label_accuracy(
            probs_held, held_out["label"].tolist(), threshold=config.pseudo_label_threshold
        )
        val = split_of(table, "validation")
        val_acc = (
            float(
                np.mean(
                    np.array(SENTIMENT_LABELS)[model.predict_proba(val["text"].tolist()).argmax(1)]
                    == val["label"].to_numpy()
                )
            )
            if len(val)
            else None
        )
        version = registry.registry().register(
            MODEL_NAME,
            staging,
            {
                "metrics": {"validation_accuracy": val_acc},
                "n_train": len(mix),
                "training_mix": mix_stats,
                "train_until": str(train["ts"].max()),
                "seconds": round(result.seconds, 1),
                "steps": result.steps,
                "pseudo_labels": {"written": len(pseudo), **pseudo_quality},
                "ensemble": ensemble_cfg.to_dict(),
                "dagster_run_id": context.run.run_id,
            },
        )
    atomic_write_text(
        pseudo_labels_path(lake),
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in pseudo.to_dict("records")),
    )
    # the buffer remembers what a person or a rating labelled (never pseudo-labels)
    buffer.add(_replay_items(train[train["label_source"].isin((HUMAN, RATING))]))
    buffer.save()
    context.add_output_metadata(
        {
            "version": version,
            "validation_accuracy": val_acc,
            "train_seconds": round(result.seconds, 1),
            "steps": result.steps,
            "n_train": len(mix),
            "n_new": mix_stats["n_new"],
            "n_replay": mix_stats["n_replay"],
            "replay_buffer": f"{len(buffer)} of {config.replay_capacity} (seen {buffer.seen})",
            "pseudo_labels_written": len(pseudo),
            "pseudo_label_accuracy_on_labelled": pseudo_quality.get("accuracy"),
            "pseudo_label_coverage_on_labelled": pseudo_quality.get("coverage"),
            "base_model": result.base_model,
        }
    )
    return _version_output(registry, MODEL_NAME, version)


def training_mix_for(train, buffer, new_share: float):
    """The retrain's mix: posts newer than what the buffer has seen (plus pseudo-labels), and a
    replay sample; a first run (empty buffer) or a run with nothing new trains on the whole
    train split, and the stats say so."""
    import pandas as pd

    from trademl.sentiment.continual import training_mix

    watermark = buffer.watermark
    new = train if watermark is None else train[train["ts"] > pd.Timestamp(watermark)]
    if new.empty or len(buffer) == 0:
        mix = train.assign(origin="new")
        return mix, {
            "n_new": len(train),
            "n_replay": 0,
            "replay_share": 0.0,
            "buffer_size": len(buffer),
            "note": "first model" if len(buffer) == 0 else "nothing newer than the buffer",
        }
    return training_mix(new, buffer, new_share=new_share)


def _replay_items(frame) -> list[dict]:
    return [
        {"post_id": r.post_id, "text": r.text, "label": r.label, "ts": str(r.ts)}
        for r in frame.itertuples(index=False)
    ]


class SentimentOnnxConfig(dg.Config):
    #: Class agreement with torch INT8 must reach on the held-out posts to be served.
    min_agreement: float = 0.995
    #: True: an INT8 graph that misses min_agreement (all schemes tried) fails the asset.
    #: False (default): the fp32 graph, which must agree on every post, is served instead and
    #: the metadata and a warning say so; either way an unfaithful INT8 graph is never shipped.
    require_int8: bool = False
    #: Below this many test posts one near-tie flip would already break 99.5 %: the parity set
    #: is topped up with validation, then unlabelled posts (all unseen in training).
    min_parity_posts: int = 400
    #: The INT8 schemes to try, in order (trademl.sentiment.onnx.SENTIMENT_INT8_SCHEMES); empty:
    #: all of them. The last ones cost minutes when everything before them failed.
    int8_schemes: list[str] = []


@dg.asset(group_name="sentiment", kinds={"onnx"})
def sentiment_model_onnx(
    context: dg.AssetExecutionContext,
    config: SentimentOnnxConfig,
    sentiment_model: dict,
    lake: LakeResource,
) -> dict:
    """The SetFit body + head as one ONNX graph, INT8, served only where its classes agree with
    torch on >= 99.5 % of held-out posts (the schemes of SENTIMENT_INT8_SCHEMES tried in order:
    dynamic INT8, blockwise INT8, and INT8 with the fp32 graph answering the posts INT8 puts
    within a calibrated margin of a tie); else fp32 is served, or with ``require_int8`` the
    asset fails. A broken fp32 graph always fails it."""
    from trademl.sentiment.onnx import (
        SENTIMENT_INT8_SCHEMES,
        export_sentiment_onnx,
        sentiment_parity,
    )

    unknown = sorted(set(config.int8_schemes) - set(SENTIMENT_INT8_SCHEMES))
    if unknown:
        raise dg.Failure(
            f"sentiment_model_onnx: int8_schemes {unknown} are not schemes; "
            f"choose from {list(SENTIMENT_INT8_SCHEMES)}"
        )

    version_dir = Path(sentiment_model["path"])
    tmp = version_dir / ".onnx-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    exported = export_sentiment_onnx(version_dir / "setfit", tmp)
    texts, parity_set = _parity_texts(read_dataset(dataset_path(lake)), config.min_parity_posts)
    parity = sentiment_parity(
        version_dir / "setfit",
        tmp,
        texts,
        min_int8_agreement=config.min_agreement,
        schemes=config.int8_schemes or SENTIMENT_INT8_SCHEMES,
    )
    metadata = {
        "version": sentiment_model["version"],
        "parity_set": parity_set,
        "parity_n": parity["n"],
        "fp32_agreement": parity["fp32_agreement"],
        "int8_agreement": parity["int8_agreement"],
        "int8_scheme": parity["int8_scheme"] or "none",
        "int8_max_abs_prob_diff": parity["int8_max_abs_prob_diff"],
        "fp32_mb": _mb(tmp / "model.onnx"),
        "int8_mb": _mb(tmp / "model.int8.onnx"),
        "max_length": exported.get("max_length"),
    }
    passed = next((a for a in parity["attempts"] if a["scheme"] == parity["int8_scheme"]), {})
    margin = passed.get("info", {}).get("fallback_margin") if parity["int8_scheme"] else None
    # With a fallback margin both graphs are loaded: INT8 answers, fp32 re-answers near-ties.
    metadata["served"] = (
        ("onnx-int8+fp32-ties" if margin else "onnx-int8") if parity["int8_scheme"] else "onnx-fp32"
    )
    metadata["int8_fallback_margin"] = margin
    metadata["int8_fallback_share"] = passed.get("fallback_share")
    metadata["int8_attempts"] = dg.MetadataValue.json(parity.get("attempts", []))
    problem = None
    if parity["fp32_agreement"] < 1.0:
        problem = f"the fp32 graph agrees with torch on {parity['fp32_agreement']}: broken export"
    elif parity["int8_scheme"] is None:
        tried = ", ".join(_attempt_text(a) for a in parity.get("attempts", []))
        miss = (
            f"INT8 agrees with torch on at most {parity['int8_agreement']} of {parity['n']} "
            f"held-out posts ({parity_set}; < {config.min_agreement}; {tried})"
        )
        if config.require_int8:
            problem = f"{miss}; require_int8 is set"
        else:
            context.log.warning(f"sentiment_model_onnx: {miss}: serving the fp32 graph")
    if problem:
        shutil.rmtree(tmp, ignore_errors=True)
        raise dg.Failure(f"sentiment_model_onnx: {problem}: not exported", metadata=metadata)
    final = version_dir / "onnx"
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    context.add_output_metadata(metadata)
    return {**sentiment_model, "onnx": str(final)}


def _parity_texts(table, minimum: int) -> tuple[list[str], str]:
    texts, used = [], []
    for split in ("test", "validation", UNLABELLED):
        if len(texts) >= minimum:
            break
        part = split_of(table, split)["text"].tolist()
        if part:
            texts += part[: max(0, minimum - len(texts))] if used else part
            used.append(split)
    return texts, "+".join(used)


def _mb(path: Path) -> float | None:
    return round(path.stat().st_size / 2**20, 1) if path.is_file() else None


class ActiveLearningConfig(dg.Config):
    n: int = 50
    #: k-means clusters over the embeddings; None = one per queued item (at most the pool size).
    n_clusters: int | None = None
    queue_table: str = "sentiment_queue"


@dg.asset(group_name="sentiment", deps=["sentiment_dataset"], kinds={"jsonl", "sql"})
def active_learning_queue(
    context: dg.AssetExecutionContext,
    config: ActiveLearningConfig,
    deployed_sentiment: dict,
    lake: LakeResource,
    message_sources: MessageSourcesResource,
) -> dg.MaterializeResult:
    """The unlabelled posts a person should label next: the most uncertain for the deployed
    model (entropy) in each k-means cluster of their embeddings, so the round is not N copies of
    one confusing post. JSONL for Label Studio / Argilla and the labelling store's queue table."""
    from trademl.sentiment.active import select_for_labelling, write_queue_jsonl, write_queue_table
    from trademl.sentiment.runtime import OnnxSentiment

    pool = split_of(read_dataset(dataset_path(lake)), UNLABELLED)
    model = OnnxSentiment(Path(deployed_sentiment["path"]) / "onnx")
    texts = pool["text"].tolist()
    items = select_for_labelling(
        pool["post_id"].tolist(),
        texts,
        model.predict_proba(texts),
        model.embed(texts),
        n=config.n,
        n_clusters=config.n_clusters,
    )
    path = write_queue_jsonl(items, lake.lake().root / "labels" / "sentiment_queue.jsonl")
    in_table = 0
    if message_sources.sql_url:
        in_table = write_queue_table(
            items, message_sources.sql_url, config.queue_table, run_id=context.run.run_id
        )
    return dg.MaterializeResult(
        metadata={
            "queued": len(items),
            "pool": len(pool),
            "clusters": len({i["cluster"] for i in items}),
            "path": dg.MetadataValue.path(str(path)),
            "queue_table_rows": in_table,
            "model": deployed_sentiment["version"],
            "head": dg.MetadataValue.md(
                "\n".join(
                    f"- **{i['predicted']}** ({i['reason']}): {i['text'][:100]!r}"
                    for i in items[:10]
                )
            ),
        }
    )
