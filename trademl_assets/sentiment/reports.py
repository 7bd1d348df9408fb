"""The sentiment report (VADER, SetFit and the ensemble side by side; challenger vs champion on the
same test split), its blocking not-worse check, and the promotion of the champion."""

import json
from pathlib import Path

import dagster as dg

from trademl.sentiment.dataset import read_dataset, split_of
from trademl.sentiment.evaluation import PROMOTION_KEYS, evaluate_predictors, sentiment_report
from trademl_assets.promotion import not_worse_check, promote_reported
from trademl_assets.sentiment.assets import MODEL_NAME, dataset_path
from trademl_resources import LakeResource, ModelRegistryResource


def _score_version(version_dir: Path, texts: list[str], labels: list[str], compound):
    """The served form of one version (INT8 ONNX + its ensemble settings) on the texts."""
    from trademl.sentiment.ensemble import EnsembleConfig
    from trademl.sentiment.runtime import OnnxSentiment

    model = OnnxSentiment(version_dir / "onnx")
    cfg = EnsembleConfig.from_dict(json.loads((version_dir / "ensemble.json").read_text()))
    scores, routing, _ = evaluate_predictors(labels, compound, model.predict_proba(texts), cfg)
    return scores, routing, model.form


@dg.asset(group_name="evaluation", kinds={"markdown"})
def sentiment_eval_report(
    context: dg.AssetExecutionContext,
    sentiment_model_onnx: dict,
    lake: LakeResource,
    registry: ModelRegistryResource,
) -> dict:
    """Accuracy, macro-F1, per-class P/R/F1 and confusion matrices of VADER alone, SetFit alone
    and the ensemble on the test split, the ensemble's routing, and deltas against the champion."""
    from trademl.sentiment.vader import vader_compound

    test = split_of(read_dataset(dataset_path(lake)), "test")
    if test.empty:
        raise dg.Failure("sentiment_eval_report: the test split is empty")
    texts, labels = test["text"].tolist(), test["label"].tolist()
    compound = vader_compound(texts)
    version = sentiment_model_onnx["version"]
    scores, routing, form = _score_version(
        Path(sentiment_model_onnx["path"]), texts, labels, compound
    )
    reg = registry.registry()
    champion = reg.champion(MODEL_NAME)
    champion_info, deltas = None, {}
    if champion is not None and champion.version != version:
        if (champion.path / "onnx").is_dir():
            champion_scores, _, _ = _score_version(champion.path, texts, labels, compound)
            champion_info = {"version": champion.version, "scores": champion_scores}
            _, deltas = reg.compare(scores, champion_scores, PROMOTION_KEYS)
        else:
            context.log.warning(f"champion {champion.version} has no onnx/: not compared")
    markdown, pngs = sentiment_report(
        lake.lake().reports(MODEL_NAME),
        version,
        scores,
        routing,
        champion_info,
        deltas,
        {"served_form": form, "n_test": len(test)},
    )
    ens, vader, setfit = scores["ensemble"], scores["vader"], scores["setfit"]
    context.add_output_metadata(
        {
            "report": dg.MetadataValue.md(markdown),
            **{f"{k}_png": dg.MetadataValue.path(str(v)) for k, v in pngs.items()},
            "n_test": len(test),
            "ensemble_macro_f1": ens["macro_f1"],
            "ensemble_accuracy": ens["accuracy"],
            "vader_macro_f1": vader["macro_f1"],
            "setfit_macro_f1": setfit["macro_f1"],
            "ensemble_beats_both": bool(
                ens["macro_f1"] > vader["macro_f1"] and ens["macro_f1"] > setfit["macro_f1"]
            ),
            "routing": routing,
            "served_form": form,
            "champion": champion_info["version"] if champion_info else "none",
            "deltas": {k: v for k, v in deltas.items()},
        }
    )
    return {
        "name": MODEL_NAME,
        "version": version,
        "path": sentiment_model_onnx["path"],
        "scores": {k: {m: s[m] for m in ("accuracy", "macro_f1")} for k, s in scores.items()},
        "routing": routing,
        "champion": champion_info["version"] if champion_info else None,
        "deltas": deltas,
    }


@dg.asset_check(asset=sentiment_eval_report, blocking=True)
def sentiment_not_worse_than_champion(
    sentiment_eval_report: dict, registry: ModelRegistryResource
) -> dg.AssetCheckResult:
    """The challenger's ensemble is not worse than the champion's by more than the registry's
    promotion margin (macro-F1 and accuracy on the same test split)."""
    return not_worse_check(
        sentiment_eval_report, registry.promotion_margin, "the first sentiment model"
    )


@dg.asset(group_name="deploy", kinds={"registry"})
def deployed_sentiment(
    context: dg.AssetExecutionContext, sentiment_eval_report: dict, registry: ModelRegistryResource
) -> dict:
    """The champion sentiment model that `trademl sentiment` and DeployedSentiment serve."""
    return promote_reported(context, registry, MODEL_NAME, sentiment_eval_report, "first model")
