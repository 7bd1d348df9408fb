"""drift_report on a 4-day demo market (the last day another regime) and the sensor that retrains."""

from datetime import date

import dagster as dg
import pandas as pd
import pytest

from trademl.demo.market import simulate
from trademl.gate.dataset import LabelSettings, build_gate_dataset, feature_matrix
from trademl.gate.onnx_export import export_onnx
from trademl.gate.training import make_pipeline
from trademl.ingest.market import FEATURE_COLUMNS, MARKET_FEATURES_SCHEMA
from trademl.lake import Lake, atomic_path
from trademl.monitoring.report import GATE_DATASET
from trademl.registry import ModelRegistry
from trademl_assets.monitoring import drift_report
from trademl_jobs.drift import build_drift_sensor, drift_sensor
from trademl_resources import LakeResource, ModelRegistryResource

DAYS = [f"2026-11-0{d}" for d in range(1, 5)]


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory):
    """market_features partitions and a gate_dataset built from the demo's simulated market."""
    root = tmp_path_factory.mktemp("drift_lake")
    lake = Lake(root)
    path, features = simulate("BTCUSDT", seed=7, start_date=date(2026, 11, 1), days=4)
    frame = pd.DataFrame(
        {
            "symbol": "BTCUSDT",
            "timestamp": pd.to_datetime(path.epoch_ms, unit="ms", utc=True),
            **{c: features[c] for c in FEATURE_COLUMNS},
        }
    )
    days = frame["timestamp"].dt.strftime("%Y-%m-%d")
    for day in DAYS:
        part = frame[days == day]
        with atomic_path(lake.raw("market_features", day)) as tmp:
            part.to_parquet(tmp, index=False, schema=MARKET_FEATURES_SCHEMA)
    dataset, _, _ = build_gate_dataset(frame, LabelSettings())
    with atomic_path(root / GATE_DATASET) as tmp:
        dataset.to_parquet(tmp, index=False)
    _champion_gate(dataset, root / "models", root / "staging")
    return root


def _champion_gate(dataset, registry_root, staging):
    """A small gradient-boosting gate exported to ONNX and promoted: what drift_report scores."""
    train = dataset[dataset["split"] == "train"].iloc[::4]  # a quarter of the rows: seconds
    pipeline = make_pipeline("gbc").set_params(model__n_estimators=30, model__max_depth=3)
    pipeline.fit(feature_matrix(train), train["label"].to_numpy())
    export_onnx(pipeline, staging / "model.onnx")
    registry = ModelRegistry(registry_root)
    registry.promote("onnx_gate", registry.register("onnx_gate", staging))


def _defs(root, registry="models") -> dg.Definitions:
    retrain = dg.define_asset_job("gate_retrain_job", selection=[drift_report])
    return dg.Definitions(
        assets=[drift_report],
        jobs=[retrain],
        sensors=[drift_sensor],
        resources={
            "lake": LakeResource(root=str(root)),
            "registry": ModelRegistryResource(root=str(root / registry)),
        },
    )


def _materialize(defs, instance, day):
    config = {"ops": {"drift_report": {"config": {"replicates": 100}}}}
    result = dg.materialize(
        [drift_report],
        partition_key=day,
        instance=instance,
        resources=defs.resources,
        run_config=config,
    )
    assert result.success
    mat = result.asset_materializations_for_node("drift_report")[0]
    return mat.metadata


def test_sensor_fires_once_on_the_regime_change_and_never_on_stable_days(lake_root):
    defs = _defs(lake_root)
    fired, scores, cursor = [], {}, None
    with dg.instance_for_test() as instance:
        for day in DAYS:
            meta = _materialize(defs, instance, day)
            scores[day] = meta["drift_score"].value
            ctx = dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor)
            tick = drift_sensor.evaluate_tick(ctx)
            cursor = tick.cursor
            fired += [(day, r) for r in tick.run_requests]
            # the same materialization is never evaluated twice
            again = drift_sensor.evaluate_tick(
                dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor)
            )
            assert again.run_requests == []
        assert [day for day, _ in fired] == ["2026-11-04"], scores
        request = fired[0][1]
        assert request.job_name in (None, "gate_retrain_job")
        assert request.tags["trademl/drift_partition"] == "2026-11-04"
        assert all(scores[d] < 1.0 for d in DAYS[:3]) and scores["2026-11-04"] > 5.0
        assert meta["gate"].value.startswith("onnx:")  # the champion's probabilities
        assert meta["prediction"].value["ratio"] > 1.0  # its outputs moved with the market

        # the same day re-materialized (hourly ingest, a retrain): the same run key, one run
        _materialize(defs, instance, "2026-11-04")
        tick = drift_sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor)
        )
        assert [r.run_key for r in tick.run_requests] == [request.run_key] == ["drift-2026-11-04"]


def test_sensor_threshold_and_missing_score(lake_root):
    defs = _defs(lake_root)
    strict = build_drift_sensor(threshold=1e6, name="strict_drift_sensor")
    with dg.instance_for_test() as instance:
        _materialize(defs, instance, "2026-11-04")
        tick = strict.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
        assert tick.run_requests == [] and "<= 1e+06" in tick.skip_message
        instance.report_runless_asset_event(
            dg.AssetMaterialization("drift_report", partition="2026-11-03", metadata={"x": 1})
        )
        tick = drift_sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, definitions=defs)
        )
        assert tick.run_requests == [] and "no numeric drift_score" in tick.skip_message


def test_drift_report_metadata_and_files(lake_root):
    defs = _defs(lake_root, registry="no_models")
    with dg.instance_for_test() as instance:
        meta = _materialize(defs, instance, "2026-11-04")
    features = meta["features"].value
    assert set(features) == {"tick_ratio", "depth_ratio", "price_dist"}
    assert features["depth_ratio"]["psi"] > features["depth_ratio"]["psi_threshold"]
    assert meta["gate"].value == "heuristic"  # no champion in this lake: said, not hidden
    assert meta["error_drift"].value["warmup_rows"] > 0
    assert (lake_root / "reports/drift_report/2026-11-04.md").read_text().startswith("# Gate drift")
    assert (lake_root / "reports/drift_report/2026-11-04.png").stat().st_size > 1000
