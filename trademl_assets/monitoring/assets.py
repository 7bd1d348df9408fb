"""drift_report: one day of the gate's inputs and outputs against its training reference."""

import dagster as dg

from trademl.gate import FEATURES, Gate
from trademl.monitoring.gate_drift import DriftSettings, gate_drift
from trademl.monitoring.report import load_day_and_reference, write_drift_report
from trademl_assets.partitions import daily_partitions
from trademl_resources import LakeResource, ModelRegistryResource


class DriftReportConfig(dg.Config):
    """Drift statistics settings; ``alarm_at`` is the drift_score the report calls drift (the
    drift sensor reads its own threshold, TRADEML_DRIFT_THRESHOLD, default the same 1.0)."""

    bins: int = 10
    replicates: int = 200
    quantile: float = 0.99
    block_minutes: float = 60.0
    adwin_delta: float = 0.002
    min_rows: int = 200
    alarm_at: float = 1.0


@dg.asset(
    group_name="monitoring",
    partitions_def=daily_partitions,
    deps=["market_features", "gate_dataset", "deployed_gate"],  # scores with the champion
    kinds={"markdown"},
)
def drift_report(
    context: dg.AssetExecutionContext,
    config: DriftReportConfig,
    lake: LakeResource,
    registry: ModelRegistryResource,
) -> dg.MaterializeResult:
    """PSI / KS of the gate's features and probabilities for one day against the training
    reference (bootstrap-calibrated thresholds), ADWIN on its errors; ``drift_score`` > 1 = drift."""
    day = context.partition_key
    store = lake.lake()
    current, reference = load_day_and_reference(store, day)
    gate = Gate.load(registry.root)
    if gate.is_fallback:
        context.log.warning(
            "drift_report: no onnx_gate champion; probabilities are the heuristic's"
        )
    settings = DriftSettings(
        bins=config.bins,
        replicates=config.replicates,
        quantile=config.quantile,
        block_minutes=config.block_minutes,
        adwin_delta=config.adwin_delta,
        min_rows=config.min_rows,
    )
    result = gate_drift(reference, current, gate.predict_proba, FEATURES, settings, gate.source)
    markdown, png = write_drift_report(store, day, result, config.alarm_at)
    if result.drift_score > config.alarm_at:
        context.log.warning(f"drift_report {day}: drift_score {result.drift_score:.3f}")
    error = result.error_drift or {}
    return dg.MaterializeResult(
        metadata={
            "drift_score": result.drift_score,
            "drifted": result.drift_score > config.alarm_at,
            "alarm_at": config.alarm_at,
            "reference_id": result.reference_id,
            "gate": result.gate,
            "features": result.features,
            "prediction": result.prediction,
            "error_drift_detections": error.get("detections", -1),
            "error_drift": error or "outcomes not known yet",
            "reference_rows": result.reference_rows,
            "current_rows": result.current_rows,
            "current_dropped": result.current_dropped,
            "block_rows": result.block_rows,
            "family_quantile": result.family_quantile,
            "report": dg.MetadataValue.md(markdown),
            "distributions_png": dg.MetadataValue.path(str(png)),
        }
    )
