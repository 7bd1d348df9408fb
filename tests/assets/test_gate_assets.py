"""The gate half of the graph on the small demo inbox: dataset, ONNX gate, report, promotion, and
a failing retrain that leaves the champion alone."""

import json
from datetime import date

import dagster as dg
import pandas as pd
import pytest

from trademl.demo.market import simulate
from trademl.gate import Gate
from trademl.registry import ModelRegistry
from trademl_assets.gate.assets import gate_dataset_path
from trademl_jobs.definitions import build_definitions
from trademl_resources import ModelRegistryResource

#: Two demo days, the quick sub-grid on at most 6,000 search rows and few bootstrap draws: seconds.
SMALL = {
    "ops": {
        "onnx_gate": {"config": {"search_max_rows": 6000, "n_splits": 3}},
        "gate_eval_report": {"config": {"bootstrap": 50}},
    }
}


def _meta(result, asset):
    return next(
        e.event_specific_data.materialization.metadata
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.event_specific_data.materialization.asset_key == dg.AssetKey(asset)
    )


def write_market_days(lake, days: int = 2, seed: int = 11) -> None:
    """Demo order-book rows straight into the lake's market_features partitions (as ingest lays
    them out), plus a NaN price and an exact duplicate, so the gate tests do not depend on ingest."""
    frames = []
    for symbol in ("BTCUSDT", "ETHUSDT"):
        path, features = simulate(symbol, seed=seed, start_date=date(2026, 11, 1), days=days)
        frame = pd.DataFrame(features)
        frame.insert(0, "timestamp", pd.to_datetime(path.epoch_ms, unit="ms", utc=True))
        frame.insert(0, "symbol", symbol)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table.loc[7, "price"] = float("nan")
    table = pd.concat([table, table.iloc[100:102]], ignore_index=True)
    table["timestamp"] = table["timestamp"].astype("datetime64[us, UTC]")
    for day, rows in table.groupby(table["timestamp"].dt.strftime("%Y-%m-%d")):
        target = lake.raw("market_features", day)
        target.parent.mkdir(parents=True, exist_ok=True)
        rows.to_parquet(target, index=False)


@pytest.fixture
def ingested(resources):
    write_market_days(resources["lake"].lake())
    return build_definitions(resources), dg.DagsterInstance.ephemeral()


def test_gate_retrain_registers_promotes_and_blocks_a_worse_one(ingested, resources):
    defs, instance = ingested
    registry = ModelRegistry(resources["registry"].root)
    first = defs.resolve_job_def("gate_retrain_job").execute_in_process(
        instance=instance, run_config=SMALL, raise_on_error=False
    )
    assert first.success
    table = pd.read_parquet(gate_dataset_path(resources["lake"].lake()))
    assert {"symbol", "ts", "t1", "label", "split", "tick_ratio", "vwap"} <= set(table.columns)
    assert set(table["split"]) == {"train", "test"} and set(table["label"]) <= {0, 1}
    assert (table["t1"] > table["ts"]).all()
    meta = _meta(first, "gate_dataset")
    assert meta["quarantined"].value >= 1  # the demo writes NaN/inf prices on purpose
    champion = registry.champion("onnx_gate")
    assert champion is not None
    files = {p.name for p in champion.path.iterdir()}
    assert {
        "model.onnx",
        "pipeline.joblib",
        "training_metrics.json",
        "feature_importance.json",
    } <= files
    trained = json.loads((champion.path / "training_metrics.json").read_text())
    assert {"auc_score", "f1_score", "n_samples", "positive_ratio", "best_params"} <= set(trained)
    onnx_meta = _meta(first, "onnx_gate")
    assert onnx_meta["onnx_parity_max_abs_diff"].value <= 1e-5
    assert "nothing" in onnx_meta["quantization"].value  # a tree ensemble: quantization is a no-op
    report = _meta(first, "gate_eval_report")
    assert 0 <= report["auc_low"].value <= report["auc"].value <= report["auc_high"].value <= 1
    report_md = resources["lake"].lake().reports("onnx_gate") / f"{champion.version}.md"
    assert report_md.exists() and "Walk-forward backtest" in report_md.read_text()
    assert (report_md.parent / f"{champion.version}-roc.png").exists()
    gate = Gate.load(resources["registry"].root)
    assert gate.source == f"onnx:{champion.version}"

    strict = {
        **resources,
        "registry": ModelRegistryResource(root=resources["registry"].root, promotion_margin=-1.0),
    }
    second = (
        build_definitions(strict)
        .resolve_job_def("gate_retrain_job")
        .execute_in_process(instance=instance, run_config=SMALL, raise_on_error=False)
    )
    assert not second.success
    checks = {c.check_name: c.passed for c in second.get_asset_check_evaluations()}
    assert checks == {"gate_not_worse_than_champion": False}
    assert registry.champion("onnx_gate").version == champion.version
    assert len(registry.list_versions("onnx_gate")) == 2


def test_too_few_rows_fails_with_counts_and_keeps_the_champion(ingested, resources):
    defs, instance = ingested
    config = {"ops": {"onnx_gate": {"config": {"min_train_rows": 10_000_000}}}}
    result = defs.resolve_job_def("gate_retrain_job").execute_in_process(
        instance=instance, run_config=config, raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = str(failure.event_specific_data.error)
    assert (
        "training rows, at least 10,000,000 needed" in message
        and "champion is untouched" in message
    )
    assert ModelRegistry(resources["registry"].root).champion("onnx_gate") is None


def test_gate_public_surface(resources):
    """Keys, the retrain job the drift sensor requests, 4-hour freshness, the blocking check."""
    defs = build_definitions(resources)
    graph = defs.resolve_asset_graph()
    gate_keys = ["gate_dataset", "onnx_gate", "gate_eval_report", "deployed_gate"]
    job = defs.resolve_job_def("gate_retrain_job")
    assert sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys) == sorted(
        gate_keys
    )
    assert job.tags["resource"] == "gpu"
    assert graph.get(dg.AssetKey("gate_dataset")).group_name == "gate"
    assert graph.get(dg.AssetKey("onnx_gate")).group_name == "gate"
    for key in gate_keys:
        node = graph.get(dg.AssetKey(key))
        assert node.freshness_policy is not None and node.automation_condition is not None, key
    check_key = dg.AssetCheckKey(dg.AssetKey("gate_eval_report"), "gate_not_worse_than_champion")
    assert check_key in graph.asset_check_keys
    assert graph.get_check_spec(check_key).blocking
