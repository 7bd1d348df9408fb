"""The sentiment half of the graph on the demo inbox: dataset → SetFit + VADER → INT8 ONNX → report →
champion → active-learning queue, a retrain with replay and pseudo-labels, the INT8 gate that
fails the asset, and ADWIN drift on a constructed shift that the sensor turns into one retrain."""

import json
import sqlite3
from pathlib import Path

import dagster as dg
import pytest

from trademl.registry import ModelRegistry
from trademl.sentiment.labels import SENTIMENT_LABELS
from trademl.sentiment.runtime import DeployedSentiment
from trademl_assets.sentiment import sentiment_dataset
from trademl_jobs.definitions import build_definitions
from trademl_jobs.sentiment import sentiment_drift_sensor
from trademl_resources import ModelRegistryResource

pytestmark = pytest.mark.slow


def _config(**dataset):
    return {
        "ops": {
            "sentiment_dataset": {"config": dataset},
            # a tiny model: few steps, and the INT8 gate and pseudo-labels loosened to match
            "sentiment_model": {"config": {"max_steps": 24, "pseudo_label_threshold": 0.6}},
            "sentiment_model_onnx": {"config": {"min_agreement": 0.9, "min_parity_posts": 200}},
            "active_learning_queue": {"config": {"n": 12}},
        }
    }


def _meta(result, asset):
    return {
        k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()
    }


def _run(defs, job, instance, **kwargs):
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, raise_on_error=False, **kwargs
    )


def test_sentiment_graph_trains_serves_queues_retrains_and_catches_drift(resources):
    # two 24-step models differ by noise: a wide margin lets the retrain through the blocking
    # check (the check itself is tested on constructed reports below)
    resources = {
        **resources,
        "registry": ModelRegistryResource(root=resources["registry"].root, promotion_margin=1.0),
    }
    defs = build_definitions(resources)
    lake_root = Path(resources["lake"].root)
    models = resources["registry"].root
    store = resources["message_sources"].sql_url.removeprefix("sqlite:///")
    with dg.instance_for_test() as instance:
        for day in ("2026-11-01", "2026-11-02"):
            assert _run(defs, "ingest_job", instance, partition_key=day).success
        first = _run(defs, "sentiment_retrain_job", instance, run_config=_config())
        assert first.success
        data = _meta(first, "sentiment_dataset")
        assert data["label_sources"]["human"] > 0 and data["label_sources"]["rating"] > 0
        assert data["per_split"]["unlabelled"] > 0
        model = _meta(first, "sentiment_model")
        assert model["n_replay"] == 0 and model["n_new"] == model["n_train"]  # a first model
        onnx = _meta(first, "sentiment_model_onnx")
        assert onnx["fp32_agreement"] == 1.0 and onnx["int8_agreement"] >= 0.9
        report = _meta(first, "sentiment_eval_report")
        for key in ("vader_macro_f1", "setfit_macro_f1", "ensemble_macro_f1"):
            assert 0.0 <= report[key] <= 1.0
        assert sum(report["routing"].values()) == report["n_test"]
        assert "| vader |" in report["report"] and "| ensemble |" in report["report"]
        first_version = model["version"]
        assert ModelRegistry(models).champion("sentiment_model").version == first_version

        # served without Dagster: the ensemble answers, one answer per text, in order
        served = DeployedSentiment(models)
        texts = ["BTC to the moon, loading more 🚀", "", "exchange lists new token next week"]
        answers = served.predict(texts)
        assert len(answers) == 3 and all(a["label"] in SENTIMENT_LABELS for a in answers)
        assert answers[0]["model"].startswith(f"ensemble:{first_version}")

        # the next labelling round: in the lake as JSONL and in the labelling store's queue
        queue = [json.loads(x) for x in (lake_root / "labels/sentiment_queue.jsonl").open()]
        assert len(queue) == 12 and all(q["reason"] and q["post_id"] for q in queue)
        assert len({q["cluster"] for q in queue}) > 1
        with sqlite3.connect(store) as con:
            assert con.execute("SELECT count(*) FROM sentiment_queue").fetchone() == (12,)
        pseudo = (lake_root / "labels/sentiment_pseudo_labels.jsonl").read_text().splitlines()
        assert len(pseudo) == model["pseudo_labels_written"] > 0

        # a retrain over a later split: posts newer than the buffer + 30 % replayed older ones,
        # the previous model's pseudo-labels in train, scored against the champion
        later = _config(validation_fraction=0.1, test_fraction=0.1)
        second = _run(defs, "sentiment_retrain_job", instance, run_config=later)
        assert second.success
        assert _meta(second, "sentiment_dataset")["label_sources"]["pseudo"] > 0
        mix = _meta(second, "sentiment_model")
        assert mix["n_replay"] > 0
        assert mix["n_replay"] / mix["n_train"] == pytest.approx(0.3, abs=0.02)
        report2 = _meta(second, "sentiment_eval_report")
        assert report2["champion"] == first_version and set(report2["deltas"]) == {
            "ensemble.macro_f1",
            "ensemble.accuracy",
        }

        # the drift check on what the champion has not seen: stable, then a constructed shift
        stable = _run(defs, "sentiment_monitoring_job", instance)
        assert stable.success and _meta(stable, "sentiment_drift")["n"] > 0
        _relabel_newest_wrongly(store, lake_root)
        relabelled = dg.materialize(
            [sentiment_dataset],
            instance=instance,
            resources=resources,
            run_config={"ops": {"sentiment_dataset": later["ops"]["sentiment_dataset"]}},
        )
        assert relabelled.success
        assert _run(defs, "sentiment_monitoring_job", instance).success
        shifted = instance.get_latest_materialization_event(dg.AssetKey("sentiment_drift"))
        meta = shifted.asset_materialization.metadata
        assert meta["drift_detected"].value is True and meta["event_id"].value != "none"
        tick = sentiment_drift_sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, definitions=defs)
        )
        assert [r.run_key for r in tick.run_requests] == [
            f"sentiment-drift-{meta['event_id'].value}"
        ]


def _relabel_newest_wrongly(store: str, lake_root: Path) -> None:
    """A person relabels the newest 120 posts the champion has not seen with a class its answer is
    not: the error stream jumps, as when slang moves under a deployed model."""
    from trademl.sentiment.dataset import read_dataset

    table = read_dataset(lake_root / "exports/sentiment_data.parquet")
    newest = table[table["split"] == "test"].sort_values("ts").tail(120)
    served = DeployedSentiment(lake_root / "models").predict(newest["text"].tolist())
    wrong = [SENTIMENT_LABELS[(SENTIMENT_LABELS.index(a["label"]) + 1) % 3] for a in served]
    with sqlite3.connect(store) as con:
        con.executemany(
            "INSERT INTO sentiment_labels (post_id, label, sarcastic, labeled_at) VALUES (?,?,?,?)",
            [
                (p, w, None, "2099-01-01 00:00:00")
                for p, w in zip(newest["post_id"], wrong, strict=True)
            ],
        )


def test_int8_that_misses_parity_is_never_served(resources):
    defs = build_definitions(resources)
    config = _config()
    config["ops"]["sentiment_model_onnx"]["config"] = {
        "min_agreement": 1.01,  # never reachable
        "min_parity_posts": 200,
        "require_int8": True,
        # The dynamic schemes only: the calibrated ones cost minutes when all before them fail
        # (tests/trademl/sentiment/test_sentiment_int8_schemes.py covers the whole ladder).
        "int8_schemes": ["full", "ffn-down-fp32", "reduce-range"],
    }
    registry = ModelRegistry(resources["registry"].root)
    with dg.instance_for_test() as instance:
        assert _run(defs, "ingest_job", instance, partition_key="2026-11-01").success
        result = _run(defs, "sentiment_retrain_job", instance, run_config=config)
        assert not result.success
        failure = next(
            e for e in result.all_events if e.event_type_value == "STEP_FAILURE"
        ).event_specific_data.error
        assert "INT8 agrees with torch on at most" in str(failure.message)
        assert "require_int8 is set" in str(failure.message)
        folder = registry.get("sentiment_model", registry.list_versions("sentiment_model")[-1]).path
        assert not (folder / "onnx").exists() and not (folder / ".onnx-tmp").exists()
        assert registry.champion("sentiment_model") is None

        # by default the fp32 graph is served instead, and the metadata says so
        config["ops"]["sentiment_model_onnx"]["config"]["require_int8"] = False
        result = _run(defs, "sentiment_retrain_job", instance, run_config=config)
        assert result.success
        onnx = _meta(result, "sentiment_model_onnx")
        assert onnx["served"] == "onnx-fp32" and onnx["int8_scheme"] == "none"
        assert [a["scheme"] for a in onnx["int8_attempts"]] == [
            "full",
            "ffn-down-fp32",
            "reduce-range",
        ]
        champion = registry.champion("sentiment_model")
        assert not (champion.path / "onnx" / "model.int8.onnx").exists()
        assert (
            DeployedSentiment(resources["registry"].root)
            .predict(["up only"])[0]["model"]
            .endswith("onnx-fp32")
        )


def test_not_worse_check_blocks_a_worse_challenger_and_passes_a_first_model(tmp_path):
    from trademl_assets.sentiment import sentiment_not_worse_than_champion as check

    registry = ModelRegistryResource(root=str(tmp_path), promotion_margin=0.01)
    report = {"version": "v2", "champion": "v1", "deltas": {"ensemble.macro_f1": -0.05}}
    worse = check(sentiment_eval_report=report, registry=registry)
    assert not worse.passed and "ensemble.macro_f1 -0.0500" in worse.description
    within = check(
        sentiment_eval_report={**report, "deltas": {"ensemble.macro_f1": -0.005}},
        registry=registry,
    )
    assert within.passed
    first = check(
        sentiment_eval_report={"version": "v1", "champion": None, "deltas": {}}, registry=registry
    )
    assert first.passed and "first sentiment model" in first.description
