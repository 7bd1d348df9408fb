"""ai_trade_labels and trade_label_model on the small demo inbox: triple barrier without an LLM,
a local trade-label server with one, the model and its report; freshness policy on both."""

import json

import dagster as dg
import pandas as pd

from tests.trademl.test_ai_trade_labels import TradeLLMServer
from trademl.registry import ModelRegistry
from trademl_assets.gate.trade_labels import LABELS_PATH, ai_trade_labels, trade_label_model
from trademl_assets.ingest import candles
from trademl_assets.monitoring import drift_report
from trademl_jobs.automation import apply_policies
from trademl_resources import LLMResource

DAYS = ("2026-11-01", "2026-11-02")


def _ingest_candles(resources, instance):
    for day in DAYS:
        assert dg.materialize(
            [candles], partition_key=day, resources=resources, instance=instance
        ).success


def _meta(result, key):
    return result.asset_materializations_for_node(key)[0].metadata


def test_triple_barrier_labels_then_model_and_report(resources, tmp_path):
    with dg.instance_for_test() as instance:
        _ingest_candles(resources, instance)
        result = dg.materialize(
            [ai_trade_labels, trade_label_model], resources=resources, instance=instance
        )
    assert result.success
    labels_meta = _meta(result, "ai_trade_labels")
    assert labels_meta["mode"].value == "triple_barrier" and labels_meta["labels"].value == 200
    assert labels_meta["estimated_cost_usd"].value == 0.0
    lake = tmp_path / "lake"
    table = pd.read_parquet(lake.joinpath(*LABELS_PATH))
    assert len(table) == 200 and set(table["source"]) == {"triple_barrier"}
    model_meta = _meta(result, "trade_label_model")
    version = model_meta["version"].value
    metrics = model_meta["metrics"].value
    assert metrics["naive_next_close"]["trades"] == 0
    assert model_meta["label_source"].value == "triple_barrier"
    stored = ModelRegistry(lake / "models").get("trade_label_model", version)
    assert (stored.path / "model.joblib").exists()
    assert json.loads((stored.path / "metrics.json").read_text())["n_test"] == metrics["n_test"]
    report = (lake / "reports" / "trade_label_model" / f"{version}.md").read_text()
    assert "naive_next_close" in report and "realised" in report
    assert isinstance(model_meta["beats_naive_next_close"].value, bool)
    assert ("does not beat" in report) != (
        metrics["beats_naive_next_close"] and metrics["beats_naive_last_move"]
    )


def test_llm_labels_through_the_resource(resources, tmp_path):
    with TradeLLMServer({"2026-11-01 1": ["wrong_side", "ok"]}) as server:
        llm = LLMResource(
            base_url=server.base_url, model="fake-trader", api_key_env=None, price_in_per_1k=1.0
        )
        config = {"ops": {"ai_trade_labels": {"config": {"points": 40, "seed": 4}}}}
        with dg.instance_for_test() as instance:
            _ingest_candles(resources, instance)
            result = dg.materialize(
                [ai_trade_labels],
                resources={**resources, "llm": llm},
                instance=instance,
                run_config=config,
            )
    meta = _meta(result, "ai_trade_labels")
    assert meta["mode"].value == "llm" and meta["labels"].value == 40
    assert meta["invalid"].value == 0 and meta["estimated_cost_usd"].value > 0
    assert meta["calls_made"].value > 40  # the wrong-side answers were asked again
    quarantine = tmp_path / "lake" / "quarantine" / "ai_trade_labels" / "invalid.jsonl"
    assert quarantine.read_text() == ""


def test_new_assets_get_the_freshness_policy_and_automation(resources):
    defs = dg.Definitions(
        assets=dg.map_asset_specs(
            apply_policies, [ai_trade_labels, trade_label_model, drift_report]
        ),
        resources=resources,
    )
    graph = defs.resolve_asset_graph()
    for key in ("ai_trade_labels", "trade_label_model", "drift_report"):
        node = graph.get(dg.AssetKey(key))
        assert node.freshness_policy is not None and node.automation_condition is not None, key
