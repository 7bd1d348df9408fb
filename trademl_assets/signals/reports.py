"""Evaluation reports: the challenger and the deployed champion scored on the same test split."""

from pathlib import Path

import dagster as dg

from trademl.models.classifier_runtime import load_classifier
from trademl.models.ner import NerExtractor, evaluate_ner
from trademl.serving import classifier_candidates
from trademl.signals.model_reports import classifier_report, evaluate_classifier, ner_report
from trademl_assets.signals.models import classifier_test_split, ner_test_rows
from trademl_resources import LakeResource, ModelRegistryResource

CLASSIFIER_KEYS = ("macro_f1", "accuracy")
NER_KEYS = ("entity_f1",)


def _md(markdown: str, pngs: dict[str, Path]) -> dict:
    return {
        "report": dg.MetadataValue.md(markdown),
        **{f"{k}_png": dg.MetadataValue.path(str(v)) for k, v in pngs.items()},
    }


@dg.asset(group_name="evaluation", kinds={"markdown"})
def signal_classifier_eval_report(
    context: dg.AssetExecutionContext,
    signal_classifier_onnx: dict,
    lake: LakeResource,
    registry: ModelRegistryResource,
) -> dict:
    """Per-class precision/recall/F1, confusion matrix and PR curves of the INT8 classifier vs the champion."""
    test = classifier_test_split(lake)
    challenger = load_classifier(Path(signal_classifier_onnx["onnx"]) / "model.int8.onnx")
    metrics = evaluate_classifier(challenger, test)
    champion = registry.registry().champion("signal_classifier")
    champion_info, deltas = None, {}
    if champion is not None and champion.version != signal_classifier_onnx["version"]:
        kind, path = classifier_candidates(champion.path)[0]
        champion_metrics = evaluate_classifier(load_classifier(path), test)
        champion_metrics.pop("_curves", None)
        champion_info = {"version": champion.version, "form": kind, "metrics": champion_metrics}
        _, deltas = registry.registry().compare(metrics, champion_metrics, CLASSIFIER_KEYS)
    version = signal_classifier_onnx["version"]
    markdown, pngs = classifier_report(
        lake.lake(),
        version,
        metrics,
        champion_info,
        deltas,
        {"model_form": "onnx-int8", "test_messages": len(test)},
    )
    context.add_output_metadata(
        {
            "version": version,
            "macro_f1": metrics["macro_f1"],
            "accuracy": metrics["accuracy"],
            "deltas_vs_champion": deltas,
            **_md(markdown, pngs),
        }
    )
    return {
        "name": "signal_classifier",
        "version": version,
        "metrics": metrics,
        "champion": champion_info,
        "deltas": deltas,
        "keys": list(CLASSIFIER_KEYS),
    }


@dg.asset(group_name="evaluation", kinds={"markdown"})
def ner_extractor_eval_report(
    context: dg.AssetExecutionContext,
    ner_extractor: dict,
    lake: LakeResource,
    registry: ModelRegistryResource,
) -> dict:
    """Per-entity precision/recall/F1 (seqeval) and field accuracy of the extractor vs the champion."""
    rows = ner_test_rows(lake)
    metrics = evaluate_ner(NerExtractor.load(Path(ner_extractor["path"]) / "hf"), rows)
    champion = registry.registry().champion("ner_extractor")
    champion_info, deltas = None, {}
    if champion is not None and champion.version != ner_extractor["version"]:
        champion_metrics = evaluate_ner(NerExtractor.load(champion.path / "hf"), rows)
        champion_info = {"version": champion.version, "metrics": champion_metrics}
        _, deltas = registry.registry().compare(metrics, champion_metrics, NER_KEYS)
    version = ner_extractor["version"]
    markdown, pngs = ner_report(lake.lake(), version, metrics, champion_info, deltas)
    context.add_output_metadata(
        {
            "version": version,
            "entity_f1": metrics["entity_f1"],
            "deltas_vs_champion": deltas,
            **_md(markdown, pngs),
        }
    )
    return {
        "name": "ner_extractor",
        "version": version,
        "metrics": metrics,
        "champion": champion_info,
        "deltas": deltas,
        "keys": list(NER_KEYS),
    }


def _not_worse(report: dict, registry: ModelRegistryResource) -> dg.AssetCheckResult:
    champion = report["champion"]
    ok, deltas = registry.registry().compare(
        report["metrics"],
        champion["metrics"] if champion else None,
        report["keys"],
        registry.promotion_margin,
    )
    return dg.AssetCheckResult(
        passed=ok,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "challenger": report["version"],
            "champion": champion["version"] if champion else "none",
            "margin": registry.promotion_margin,
            "deltas": deltas,
        },
    )


@dg.asset_check(asset=signal_classifier_eval_report, blocking=True)
def classifier_not_worse_than_champion(
    signal_classifier_eval_report: dict, registry: ModelRegistryResource
) -> dg.AssetCheckResult:
    """The challenger classifier is not worse than the champion (same test split) by more than the margin."""
    return _not_worse(signal_classifier_eval_report, registry)


@dg.asset_check(asset=ner_extractor_eval_report, blocking=True)
def extractor_not_worse_than_champion(
    ner_extractor_eval_report: dict, registry: ModelRegistryResource
) -> dg.AssetCheckResult:
    """The challenger extractor is not worse than the champion (same test rows) by more than the margin."""
    return _not_worse(ner_extractor_eval_report, registry)


report_checks = [classifier_not_worse_than_champion, extractor_not_worse_than_champion]
