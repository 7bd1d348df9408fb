"""The meme adapter's report (caption-only baselines, the adapter alone and the fusion side by
side; challenger vs champion on the same test split), its blocking not-worse check, and the
promotion of the champion."""

from pathlib import Path

import dagster as dg

from trademl.vision.runtime import ADAPTER_DIR, FUSION_FILE, MODEL_NAME
from trademl_assets.promotion import not_worse_check, promote_reported
from trademl_assets.vision.assets import (
    _items,
    meme_dataset_path,
    posts_for_fusion,
    tiny_base_cache,
)
from trademl_resources import LakeResource, MarketSourcesResource, ModelRegistryResource


def score_version(version_dir: Path, test, posts, text_answers, work_dir: Path) -> dict:
    """The adapter of one registry version and its fusion on the test posts: predicted labels,
    scores and sarcasm flags (adapter: its own sarcasm answer >= the threshold; fusion: the
    words contradicting the picture, meme_sentiment's ``sarcastic``), with the base it ran on."""
    from trademl.vision.evaluation import labels_of
    from trademl.vision.llava import load_adapter
    from trademl.vision.runtime import fuse_posts, fusion_config_from

    adapter = load_adapter(version_dir / ADAPTER_DIR, work_dir=work_dir)
    cfg = fusion_config_from(version_dir / FUSION_FILE)
    answers = adapter.predict(_items(test), batch_size=8)
    by_post = dict(zip(test["post_id"].astype(str), answers, strict=True))
    ids = posts["post_id"].astype(str).tolist()
    fused = fuse_posts(posts, text_answers, [by_post.get(pid) for pid in ids], cfg)
    fused = fused.set_index("post_id").loc[test["post_id"].astype(str)]
    return {
        "adapter": labels_of(a["probabilities"] for a in answers),
        "adapter_sarcastic": [a["sarcasm_probability"] >= cfg.sarcasm_threshold for a in answers],
        "fusion": fused["label"].tolist(),
        "fusion_sarcastic": fused["sarcastic"].astype(bool).tolist(),
        "base": adapter.info["base"],
        "mode": adapter.info["mode"],
    }


@dg.asset(group_name="evaluation", kinds={"markdown"})
def llava_meme_adapter_eval_report(
    context: dg.AssetExecutionContext,
    llava_meme_adapter: dict,
    deployed_sentiment: dict,
    lake: LakeResource,
    registry: ModelRegistryResource,
    market_sources: MarketSourcesResource,
) -> dict:
    """Accuracy, macro-F1, per-class P/R/F1 and confusion matrices on the test split for the
    majority class, a caption-only baseline, the text model on the caption, the adapter alone
    and the fusion; sarcasm precision/recall; deltas against the champion adapter."""
    from trademl.sentiment.runtime import DeployedSentiment
    from trademl.vision.dataset import read_meme_dataset
    from trademl.vision.evaluation import (
        PROMOTION_KEYS,
        caption_only_baseline,
        majority_baseline,
        meme_report,
        sarcasm_scores,
        score_predictors,
    )

    table = read_meme_dataset(meme_dataset_path(lake))
    train, test = table[table["split"] == "train"], table[table["split"] == "test"]
    if test.empty:
        raise dg.Failure("llava_meme_adapter_eval_report: the test split is empty")
    posts, _ = posts_for_fusion(lake, market_sources.root)
    sentiment = DeployedSentiment(registry.registry().root)
    text_answers = sentiment.predict(posts["text"].tolist())
    text_by_post = dict(zip(posts["post_id"].astype(str), text_answers, strict=True))
    truth = test["label"].tolist()
    work_dir = tiny_base_cache(lake).parent
    version = llava_meme_adapter["version"]
    mine = score_version(Path(llava_meme_adapter["path"]), test, posts, text_answers, work_dir)
    predictions = {
        "majority": majority_baseline(train["label"].tolist(), len(test)),
        "caption_only": caption_only_baseline(
            train["caption"].tolist(), train["label"].tolist(), test["caption"].tolist()
        ),
        "text_model": [
            text_by_post[pid]["label"] if pid in text_by_post else "neutral"
            for pid in test["post_id"].astype(str)
        ],
        "adapter": mine["adapter"],
        "fusion": mine["fusion"],
    }
    scores = score_predictors(truth, predictions)
    flags = test["sarcastic"].tolist()
    sarcasm = {
        "adapter": sarcasm_scores(flags, mine["adapter_sarcastic"], "adapter"),
        "fusion": sarcasm_scores(flags, mine["fusion_sarcastic"], "fusion"),
    }
    reg = registry.registry()
    champion = reg.champion(MODEL_NAME)
    champion_info, deltas = None, {}
    if champion is not None and champion.version != version:
        if (champion.path / ADAPTER_DIR).is_dir():
            theirs = score_version(champion.path, test, posts, text_answers, work_dir)
            champion_scores = score_predictors(
                truth, {"adapter": theirs["adapter"], "fusion": theirs["fusion"]}
            )
            champion_info = {"version": champion.version, "scores": champion_scores}
            _, deltas = reg.compare(scores, champion_scores, PROMOTION_KEYS)
        else:
            context.log.warning(f"champion {champion.version} has no {ADAPTER_DIR}/: not compared")
    extra = {
        "base": mine["base"],
        "mode": mine["mode"],
        "n_train": len(train),
        "n_test": len(test),
        "text_model": sentiment.name,
    }
    markdown, pngs = meme_report(
        lake.lake().reports(MODEL_NAME), version, scores, sarcasm, champion_info, deltas, extra
    )
    fusion_helps = bool(scores["fusion"]["macro_f1"] >= scores["text_model"]["macro_f1"])
    if not fusion_helps:
        context.log.warning(
            f"llava_meme_adapter_eval_report: the fusion (macro-F1 {scores['fusion']['macro_f1']}) "
            f"is below the text model alone ({scores['text_model']['macro_f1']}) on the test split: "
            "the image score costs more than it adds; lower image_weight until the adapter beats "
            "the caption-only baseline"
        )
    context.add_output_metadata(
        {
            "report": dg.MetadataValue.md(markdown),
            "fusion_beats_text_model": fusion_helps,
            "adapter_beats_caption_only": bool(
                scores["adapter"]["accuracy"] > scores["caption_only"]["accuracy"]
            ),
            **{f"{k}_png": dg.MetadataValue.path(str(v)) for k, v in pngs.items()},
            "n_test": len(test),
            **{f"{name}_accuracy": s["accuracy"] for name, s in scores.items()},
            **{f"{name}_macro_f1": s["macro_f1"] for name, s in scores.items()},
            # meme_sentiment's sarcasm flag (the fusion); the adapter's own answer next to it
            "sarcasm_precision": sarcasm["fusion"]["precision"],
            "sarcasm_recall": sarcasm["fusion"]["recall"],
            "sarcasm_known": sarcasm["fusion"]["n_known"],
            "sarcasm_flagged": sarcasm["fusion"]["flagged"],
            "adapter_sarcasm_precision": sarcasm["adapter"]["precision"],
            "adapter_sarcasm_recall": sarcasm["adapter"]["recall"],
            "base": mine["base"],
            "champion": champion_info["version"] if champion_info else "none",
            "deltas": dict(deltas),
        }
    )
    return {
        "name": MODEL_NAME,
        "version": version,
        "path": llava_meme_adapter["path"],
        "scores": {k: {m: s[m] for m in ("accuracy", "macro_f1")} for k, s in scores.items()},
        "sarcasm": sarcasm,
        "champion": champion_info["version"] if champion_info else None,
        "deltas": deltas,
    }


@dg.asset_check(asset=llava_meme_adapter_eval_report, blocking=True)
def llava_meme_adapter_not_worse_than_champion(
    llava_meme_adapter_eval_report: dict, registry: ModelRegistryResource
) -> dg.AssetCheckResult:
    """The challenger adapter (alone and fused) is not worse than the champion by more than the
    registry's promotion margin in macro-F1 on the same test split."""
    return not_worse_check(
        llava_meme_adapter_eval_report, registry.promotion_margin, "the first meme adapter"
    )


@dg.asset(group_name="deploy", kinds={"registry"})
def deployed_meme_adapter(
    context: dg.AssetExecutionContext,
    llava_meme_adapter_eval_report: dict,
    registry: ModelRegistryResource,
) -> dict:
    """The champion meme adapter that `trademl meme` and DeployedMeme serve."""
    return promote_reported(
        context, registry, MODEL_NAME, llava_meme_adapter_eval_report, "first adapter"
    )
