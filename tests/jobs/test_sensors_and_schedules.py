import json
from datetime import UTC, datetime

import dagster as dg
import pytest

from trademl_jobs.definitions import build_definitions
from trademl_jobs.schedules import hourly_ingest_schedule
from trademl_jobs.sensors import inbox_sensor
from trademl_resources import MessageSourcesResource


def test_inbox_sensor_requests_each_day_once_and_again_on_change(resources, demo_inbox):
    defs = build_definitions(resources)
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, definitions=defs, resources=defs.resources)
        first = inbox_sensor.evaluate_tick(ctx)
        assert sorted(r.partition_key for r in first.run_requests) == ["2026-11-01", "2026-11-02"]
        assert len({r.run_key for r in first.run_requests}) == 2

        again = inbox_sensor.evaluate_tick(
            dg.build_sensor_context(
                instance=instance, definitions=defs, resources=defs.resources, cursor=first.cursor
            )
        )
        assert again.run_requests == [] and "no new or changed" in again.skip_message

        # A new export lands: only the days it covers are requested, with new run keys.
        new = demo_inbox / "csv" / "desk.csv"
        new.parent.mkdir(exist_ok=True)
        new.write_text("id,date,text\n1,2026-11-02T08:00:00Z,BTC long 62000 sl 61000 tp 64000\n")
        try:
            third = inbox_sensor.evaluate_tick(
                dg.build_sensor_context(
                    instance=instance,
                    definitions=defs,
                    resources=defs.resources,
                    cursor=first.cursor,
                )
            )
        finally:
            new.unlink()
        assert [r.partition_key for r in third.run_requests] == ["2026-11-02"]
        assert third.run_requests[0].run_key not in {r.run_key for r in first.run_requests}
        assert str(new) in json.loads(third.cursor)


def test_inbox_sensor_names_a_missing_inbox(tmp_path, resources):
    resources = {
        **resources,
        "message_sources": MessageSourcesResource(inbox=str(tmp_path / "gone")),
    }
    defs = build_definitions(resources)
    with dg.instance_for_test() as instance:
        with pytest.raises(Exception) as err:
            inbox_sensor.evaluate_tick(
                dg.build_sensor_context(
                    instance=instance, definitions=defs, resources=defs.resources
                )
            )
    assert "gone" in str(err.value) and "inbox folder does not exist" in str(err.value)


def test_hourly_schedule_targets_todays_partition(resources):
    tick = datetime(2026, 11, 3, 14, 5, tzinfo=UTC)
    repo = build_definitions(resources).get_repository_def()
    ctx = dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repo)
    request = hourly_ingest_schedule.evaluate_tick(ctx).run_requests[0]
    assert request.partition_key == "2026-11-03"
    assert request.run_key == "hourly-2026-11-03T14"
    # Ahead of backfills on the Celery queues (Redis serves lower numbers first: 5 - 4 = 1).
    assert request.tags["dagster-celery/run_priority"] == "-4"


def test_public_surface_is_stable(resources):
    """Asset keys, jobs, schedules and sensors are what users and bots refer to: renames show here."""
    defs = build_definitions(resources)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert sorted(k.to_user_string() for k in graph.get_all_asset_keys()) == [
        "active_learning_queue",
        "ai_trade_labels",
        "candles",
        "classification_dataset",
        "deployed_gate",
        "deployed_meme_adapter",
        "deployed_models",
        "deployed_sentiment",
        "drift_report",
        "gate_dataset",
        "gate_eval_report",
        "human_labels",
        "llava_meme_adapter",
        "llava_meme_adapter_eval_report",
        "llm_labels",
        "market_features",
        "meme_dataset",
        "meme_sentiment",
        "ner_dataset",
        "ner_extractor",
        "ner_extractor_eval_report",
        "ner_extractor_onnx",
        "onnx_gate",
        "raw_messages",
        "rule_labels",
        "sentiment_dataset",
        "sentiment_drift",
        "sentiment_eval_report",
        "sentiment_model",
        "sentiment_model_onnx",
        "signal_classifier",
        "signal_classifier_eval_report",
        "signal_classifier_onnx",
        "signal_review_queue",
        "social_posts",
        "trade_label_model",
    ]
    assert {j.name for j in defs.jobs} == {
        "ingest_job",
        "datasets_job",
        "retrain_job",
        "gate_retrain_job",
        "trade_labels_job",
        "monitoring_job",
        "sentiment_retrain_job",
        "sentiment_monitoring_job",
        "vision_retrain_job",
    }
    assert {(s.name, s.cron_schedule) for s in defs.schedules} == {
        ("hourly_ingest_schedule", "5 * * * *"),
        ("daily_retrain_schedule", "0 2 * * *"),
    }
    sensors = {s.name: s.default_status for s in defs.sensors}
    assert sensors == {
        "inbox_sensor": dg.DefaultSensorStatus.RUNNING,
        "trademl_automation": dg.DefaultSensorStatus.RUNNING,
        "trademl_model_automation": dg.DefaultSensorStatus.RUNNING,
        "drift_sensor": dg.DefaultSensorStatus.RUNNING,
        "sentiment_drift_sensor": dg.DefaultSensorStatus.RUNNING,
    }
    for job in (
        "retrain_job",
        "gate_retrain_job",
        "trade_labels_job",
        "sentiment_retrain_job",
        "vision_retrain_job",
    ):
        assert defs.resolve_job_def(job).tags["resource"] == "gpu", job
    model_sensor = next(s for s in defs.sensors if s.name == "trademl_model_automation")
    assert model_sensor.run_tags == {"resource": "gpu"}
    for key in graph.get_all_asset_keys():
        assert graph.get(key).freshness_policy is not None, key
