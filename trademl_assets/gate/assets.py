"""Gate assets: the σ-reversion training table and the ONNX gate trained on it."""

import dagster as dg
import pandas as pd

from trademl.gate.dataset import LabelSettings, build_gate_dataset
from trademl.gate.model_dir import ParityError, build_gate_model
from trademl.gate.training import NotEnoughData, TrainSettings
from trademl.lake import Lake, atomic_path, read_parquet
from trademl_assets.signals.models import TRAINING_TAGS, _staging, _version_output
from trademl_resources import LakeResource, ModelRegistryResource

MODEL_NAME = "onnx_gate"


def gate_dataset_path(lake: Lake):
    return lake.root / "datasets" / "gate" / "gate_dataset.parquet"


def gate_quarantine_path(lake: Lake):
    return lake.root / "quarantine" / "gate_dataset" / "rows.parquet"


def load_market_features(lake: Lake) -> pd.DataFrame:
    """Every ingested day of market_features, one frame."""
    days = lake.partitions("raw", "market_features")
    if not days:
        raise dg.Failure(f"gate_dataset: no market_features partitions under {lake.root / 'raw'}")
    return pd.concat(
        [read_parquet(lake.raw("market_features", d)) for d in days], ignore_index=True
    )


class GateDatasetConfig(dg.Config):
    """σ-reversion labelling (launchpad-editable)."""

    lookahead_s: float = 60.0
    threshold: float = 1.5
    rule: str = "reversal"  # reversal | absolute
    window_s: float = 300.0
    min_window_rows: int = 10
    test_fraction: float = 0.2


@dg.asset(group_name="gate", deps=["market_features"], kinds={"parquet"})
def gate_dataset(
    context: dg.AssetExecutionContext, config: GateDatasetConfig, lake: LakeResource
) -> dg.MaterializeResult:
    """Order-book feature rows with σ-reversion labels, label end times (t1) and a chronological split."""
    the_lake = lake.lake()
    frame = load_market_features(the_lake)
    settings = LabelSettings(**config.model_dump())
    table, quarantine, stats = build_gate_dataset(frame, settings)
    path = gate_dataset_path(the_lake)
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
    qpath = gate_quarantine_path(the_lake)
    with atomic_path(qpath) as tmp:
        quarantine.to_parquet(tmp, index=False)
    if stats.quarantined:
        context.log.warning(
            f"gate_dataset: {stats.quarantined:,} of {stats.rows_in:,} rows quarantined "
            f"({stats.reasons}); see {qpath}"
        )
    context.log.info(
        f"gate_dataset: {stats.rows_out:,} labelled rows from {stats.rows_in:,} "
        f"({stats.duplicates:,} exact duplicates, {stats.dropped_warmup:,} in window warm-up, "
        f"{stats.dropped_lookahead_past_end:,} whose lookahead runs past their segment); "
        f"positive ratio {stats.positive_ratio:.3f}"
    )
    return dg.MaterializeResult(
        metadata={
            **{k: v for k, v in stats.to_dict().items() if k != "reasons"},
            "quarantine_reasons": stats.reasons,
            "settings": settings.__dict__,
            "path": dg.MetadataValue.path(str(path)),
            "quarantine_path": dg.MetadataValue.path(str(qpath)),
            "dagster/row_count": stats.rows_out,
        }
    )


class OnnxGateConfig(dg.Config):
    """Gate training: estimator family, grid (the quick sub-grid unless full_grid), purged CV."""

    estimator: str = "gbc"  # gbc | hist_gbc | mlp
    full_grid: bool = False
    search: str = "halving"  # halving | grid
    n_splits: int = 4
    embargo_s: float = 60.0
    search_max_rows: int = 30_000
    min_train_rows: int = 200
    min_class_rows: int = 20
    parity_tolerance: float = 1e-5


@dg.asset(
    group_name="gate", deps=["gate_dataset"], kinds={"scikit-learn", "onnx"}, op_tags=TRAINING_TAGS
)
def onnx_gate(
    context: dg.AssetExecutionContext,
    config: OnnxGateConfig,
    lake: LakeResource,
    registry: ModelRegistryResource,
) -> dict:
    """The trade gate (scaler + gradient boosting) as parity-checked ONNX, a registry version."""
    table = read_parquet(gate_dataset_path(lake.lake()))
    params = config.model_dump()
    tolerance = params.pop("parity_tolerance")
    settings = TrainSettings(**params)
    with _staging(lake, MODEL_NAME) as staging:
        try:
            built = build_gate_model(table, staging, settings, tolerance, log=context.log.info)
        except (NotEnoughData, ParityError) as exc:
            raise dg.Failure(f"{exc}; the champion is untouched") from exc
        version = registry.registry().register(
            MODEL_NAME,
            staging,
            {
                "metrics": built.metrics,
                "quantization": built.quantization,
                "dagster_run_id": context.run.run_id,
            },
        )
    m = built.metrics
    context.add_output_metadata(
        {
            "version": version,
            "auc_score": m["auc_score"],
            "f1_score": m["f1_score"],
            "approval_rate": m["approval_rate"],
            "cv_auc": m["cv_auc"],
            "best_params": m["best_params"],
            "n_candidates": m["n_candidates"],
            "train_seconds": round(built.train_seconds, 1),
            "onnx_parity_max_abs_diff": built.parity_max_abs_diff,
            "quantization": built.quantization["what_it_did"],
            "quantization_int8_bytes": built.quantization["int8_bytes"],
            "onnx_bytes": built.quantization["fp_bytes"],
        }
    )
    return _version_output(registry, MODEL_NAME, version) | {"metrics": m}
