"""The gate's evaluation report (challenger and champion on the same test rows) and its blocking check."""

from pathlib import Path

import dagster as dg
import pandas as pd

from trademl.gate import Gate
from trademl.gate.evaluation import EvalSettings, evaluate_gate
from trademl.gate.report import gate_report
from trademl.lake import read_parquet
from trademl_assets.gate.assets import MODEL_NAME, gate_dataset_path
from trademl_assets.signals.reports import _md, _not_worse
from trademl_resources import LakeResource, ModelRegistryResource

GATE_KEYS = ("auc", "f1")


class GateEvalConfig(dg.Config):
    """Approval threshold, cost per trade (basis points) and bootstrap draws for the AUC interval."""

    threshold: float = 0.65
    cost_bps: float = 2.0
    bootstrap: int = 300


def _headline(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not k.startswith("_")}


@dg.asset(group_name="evaluation", kinds={"markdown"})
def gate_eval_report(
    context: dg.AssetExecutionContext,
    config: GateEvalConfig,
    onnx_gate: dict,
    lake: LakeResource,
    registry: ModelRegistryResource,
) -> dict:
    """AUC (bootstrap interval), F1 at the threshold, calibration and a gated-strategy backtest vs the champion."""
    test = read_parquet(gate_dataset_path(lake.lake()))
    test = test[test["split"] == "test"]
    settings = EvalSettings(config.threshold, config.cost_bps, config.bootstrap)
    path = Path(onnx_gate["path"])
    trained = onnx_gate["metrics"]
    n_trials = int(trained["n_candidates"])
    metrics = evaluate_gate(Gate.load(path), test, settings, n_trials)
    champion = registry.registry().champion(MODEL_NAME)
    champion_info, deltas = None, {}
    if champion is not None and champion.version != onnx_gate["version"]:
        champ_gate = Gate.load(champion.path)
        champion_metrics = _headline(evaluate_gate(champ_gate, test, settings, n_trials))
        champion_info = {"version": champion.version, "metrics": champion_metrics}
        _, deltas = registry.registry().compare(metrics, champion_metrics, GATE_KEYS)
    importance = {
        k: float(v) for k, v in pd.read_json(path / "feature_importance.json", typ="series").items()
    }
    markdown, pngs = gate_report(
        lake.lake(), onnx_gate["version"], metrics, trained, importance, champion_info, deltas
    )
    bt = metrics["backtest"]
    if metrics["learned_nothing"]:
        context.log.warning(
            f"gate_eval_report: AUC {metrics['auc']:.3f} [{metrics['auc_low']:.3f}, "
            f"{metrics['auc_high']:.3f}] covers 0.5: the gate has learned nothing measurable"
        )
    context.add_output_metadata(
        {
            "version": onnx_gate["version"],
            "auc": metrics["auc"],
            "auc_low": metrics["auc_low"],
            "auc_high": metrics["auc_high"],
            "learned_nothing": metrics["learned_nothing"],
            "f1": metrics["f1"],
            "precision": metrics["precision"],
            "recall": metrics["recall"],
            "approval_rate": metrics["approval_rate"],
            "max_proba": metrics["max_proba"],
            "best_f1_on_test": metrics["best_f1_on_test"],
            "best_f1_threshold": metrics["best_f1_threshold"],
            "cv_auc": trained["cv_auc"],
            "gated_sharpe": bt["gated"]["sharpe"],
            "ungated_sharpe": bt["ungated"]["sharpe"],
            "heuristic_sharpe": bt["heuristic"]["sharpe"],
            "deflated_sharpe": bt["gated"].get("deflated_sharpe"),
            "backtest": {k: v for k, v in bt.items() if isinstance(v, dict)},
            "deltas_vs_champion": deltas,
            **_md(markdown, pngs),
        }
    )
    return {
        "name": MODEL_NAME,
        "version": onnx_gate["version"],
        "metrics": _headline(metrics),
        "champion": champion_info,
        "deltas": deltas,
        "keys": list(GATE_KEYS),
        "train_seconds": trained["train_seconds"],
    }


@dg.asset_check(asset=gate_eval_report, blocking=True)
def gate_not_worse_than_champion(
    gate_eval_report: dict, registry: ModelRegistryResource
) -> dg.AssetCheckResult:
    """The challenger gate's AUC and F1 are not worse than the champion's (same test rows) by more than the margin."""
    return _not_worse(gate_eval_report, registry)
