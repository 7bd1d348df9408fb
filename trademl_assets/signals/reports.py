"""Evaluation reports: the challenger and the deployed champion scored on the same test split and,
where the desk configured one (``TRADEML_GOLD``), on each file of its own gold set."""

from pathlib import Path

import dagster as dg

from trademl.errors import InputError
from trademl.models.classifier_runtime import load_classifier
from trademl.models.ner import NerExtractor, evaluate_ner
from trademl.serving import classifier_candidates
from trademl.signals.model_reports import (
    GOLD_KEYS,
    classifier_gold_scores,
    classifier_report,
    evaluate_classifier,
    extractor_gold_scores,
    gold_metadata,
    gold_regressions,
    gold_results,
    ner_report,
)
from trademl_assets.signals.models import classifier_test_split, ner_test_rows
from trademl_resources import LakeResource, ModelRegistryResource

CLASSIFIER_KEYS = ("macro_f1", "accuracy")
NER_KEYS = ("entity_f1",)


def _md(markdown: str, pngs: dict[str, Path]) -> dict:
    return {
        "report": dg.MetadataValue.md(markdown),
        **{f"{k}_png": dg.MetadataValue.path(str(v)) for k, v in pngs.items()},
    }


def _gold_sets(registry: ModelRegistryResource, asset: str) -> list:
    """The configured gold files, loaded before any model is: a desk that configured a gold set
    must not get a silent gate, so a missing or malformed file fails the asset, naming it."""
    try:
        return registry.gold_sets()
    except InputError as exc:
        raise dg.Failure(
            description=f"{asset}: gold file {exc} (configured by TRADEML_GOLD / the registry "
            "resource's gold_files); fix the file or the setting",
            metadata={"gold_files": registry.gold_paths()},
        ) from exc


def _gold_output_metadata(gold: dict) -> dict:
    if not gold:
        return {}
    return {**gold_metadata(gold), "gold": gold}


@dg.asset(group_name="evaluation", kinds={"markdown"})
def signal_classifier_eval_report(
    context: dg.AssetExecutionContext,
    signal_classifier_onnx: dict,
    lake: LakeResource,
    registry: ModelRegistryResource,
) -> dict:
    """Per-class precision/recall/F1, confusion matrix and PR curves of the INT8 classifier vs the
    champion, on the test split and on each gold file (macro-F1 over the classes in the file)."""
    gold_sets = _gold_sets(registry, "signal_classifier_eval_report")
    test = classifier_test_split(lake)
    # the form serving will load: INT8 where it passed its parity check, else fp32
    challenger = load_classifier(Path(signal_classifier_onnx["onnx"]))
    metrics = evaluate_classifier(challenger, test)
    champion = registry.registry().champion("signal_classifier")
    champion_info, deltas, champion_model = None, {}, None
    if champion is not None and champion.version != signal_classifier_onnx["version"]:
        kind, path = classifier_candidates(champion.path)[0]
        champion_model = load_classifier(path)
        champion_metrics = evaluate_classifier(champion_model, test)
        champion_metrics.pop("_curves", None)
        champion_info = {"version": champion.version, "form": kind, "metrics": champion_metrics}
        _, deltas = registry.registry().compare(metrics, champion_metrics, CLASSIFIER_KEYS)
    gold = gold_results(
        gold_sets,
        GOLD_KEYS["signal_classifier"],
        classifier_gold_scores,
        challenger,
        champion_model,
    )
    version = signal_classifier_onnx["version"]
    markdown, pngs = classifier_report(
        lake.lake(),
        version,
        metrics,
        champion_info,
        deltas,
        {"model_form": getattr(challenger, "name", "onnx"), "test_messages": len(test)},
        gold,
    )
    context.add_output_metadata(
        {
            "version": version,
            "macro_f1": metrics["macro_f1"],
            "accuracy": metrics["accuracy"],
            "deltas_vs_champion": deltas,
            **_gold_output_metadata(gold),
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
        "gold": gold,
    }


def _extractor_scores(extractor: NerExtractor, gold) -> dict:
    return extractor_gold_scores(extractor.extract, gold)


@dg.asset(group_name="evaluation", kinds={"markdown"})
def ner_extractor_eval_report(
    context: dg.AssetExecutionContext,
    ner_extractor: dict,
    lake: LakeResource,
    registry: ModelRegistryResource,
) -> dict:
    """Per-entity precision/recall/F1 (seqeval) and field accuracy of the extractor vs the
    champion, on the test rows and on each gold file's signal rows (field F1)."""
    gold_sets = _gold_sets(registry, "ner_extractor_eval_report")
    rows = ner_test_rows(lake)
    challenger = NerExtractor.load(Path(ner_extractor["path"]) / "hf")
    metrics = evaluate_ner(challenger, rows)
    champion = registry.registry().champion("ner_extractor")
    champion_info, deltas, champion_model = None, {}, None
    if champion is not None and champion.version != ner_extractor["version"]:
        champion_model = NerExtractor.load(champion.path / "hf")
        champion_metrics = evaluate_ner(champion_model, rows)
        champion_info = {"version": champion.version, "metrics": champion_metrics}
        _, deltas = registry.registry().compare(metrics, champion_metrics, NER_KEYS)
    gold = gold_results(
        gold_sets, GOLD_KEYS["ner_extractor"], _extractor_scores, challenger, champion_model
    )
    version = ner_extractor["version"]
    markdown, pngs = ner_report(lake.lake(), version, metrics, champion_info, deltas, gold)
    context.add_output_metadata(
        {
            "version": version,
            "entity_f1": metrics["entity_f1"],
            "deltas_vs_champion": deltas,
            **_gold_output_metadata(gold),
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
        "gold": gold,
    }


def _not_worse(report: dict, registry: ModelRegistryResource) -> dg.AssetCheckResult:
    """Blocks promotion of a challenger worse than the champion on the test split by more than
    ``promotion_margin``, or on any configured gold file by more than ``gold_margin``."""
    champion = report["champion"]
    ok, deltas = registry.registry().compare(
        report["metrics"],
        champion["metrics"] if champion else None,
        report["keys"],
        registry.promotion_margin,
    )
    gold = report.get("gold") or {}
    worse = gold_regressions(gold, registry.gold_margin)
    if champion is None:
        description = "no champion to compare with: the first model is promoted"
    else:
        said = []
        if not ok:
            said.append(
                f"worse than the champion {champion['version']} on the test split by more than "
                f"the margin {registry.promotion_margin:g} ({_deltas_text(deltas)})"
            )
        if worse:
            said.append(
                f"worse than the champion {champion['version']} on the desk's gold set: "
                + "; ".join(worse)
            )
        if said:
            description = f"challenger {report['version']} not promoted: " + "; and ".join(said)
        else:
            description = f"not worse than the champion {champion['version']} on the test split" + (
                f" nor on {len(gold)} gold file(s)" if gold else ""
            )
    metadata = {
        "challenger": report["version"],
        "champion": champion["version"] if champion else "none",
        "margin": registry.promotion_margin,
        "deltas": deltas,
    }
    if gold:
        metadata.update(
            gold_files=[r["path"] for r in gold.values()],
            gold_key=next(iter(gold.values()))["key"],
            gold_margin=registry.gold_margin,
            gold_deltas={name: r["delta"] for name, r in gold.items()},
            worse_on_gold=[r["path"] for r in gold.values() if _worse(r, registry.gold_margin)],
        )
    return dg.AssetCheckResult(
        passed=ok and not worse,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata=metadata,
    )


def _worse(result: dict, margin: float) -> bool:
    return result["delta"] is not None and -result["delta"] > margin


def _deltas_text(deltas: dict) -> str:
    return ", ".join(f"{k} {'n/a' if v is None else f'{v:+.4f}'}" for k, v in deltas.items())


@dg.asset_check(asset=signal_classifier_eval_report, blocking=True)
def classifier_not_worse_than_champion(
    signal_classifier_eval_report: dict, registry: ModelRegistryResource
) -> dg.AssetCheckResult:
    """The challenger classifier is not worse than the champion by more than the margin on the
    same test split, nor (when TRADEML_GOLD is set) on any gold file by more than gold_margin."""
    return _not_worse(signal_classifier_eval_report, registry)


@dg.asset_check(asset=ner_extractor_eval_report, blocking=True)
def extractor_not_worse_than_champion(
    ner_extractor_eval_report: dict, registry: ModelRegistryResource
) -> dg.AssetCheckResult:
    """The challenger extractor is not worse than the champion by more than the margin on the
    same test rows, nor (when TRADEML_GOLD is set) on any gold file's field F1 by more than
    gold_margin."""
    return _not_worse(ner_extractor_eval_report, registry)


report_checks = [classifier_not_worse_than_champion, extractor_not_worse_than_champion]
