import dagster as dg
import pandas as pd
import pyarrow.parquet as pq

from trademl.labels import SIGNAL_CLASSES
from trademl_jobs.definitions import build_definitions

DAY = "2026-11-01"


def run_job(defs, name, **kwargs):
    result = defs.resolve_job_def(name).execute_in_process(raise_on_error=False, **kwargs)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


def materializations(result, key):
    return [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.event_specific_data.materialization.asset_key == dg.AssetKey(key)
    ]


def test_ingest_job_materializes_a_day_with_counts_and_checks(resources):
    defs = build_definitions(resources)
    with dg.instance_for_test() as instance:
        result = run_job(defs, "ingest_job", partition_key=DAY, instance=instance)
        meta = materializations(result, "raw_messages")[0].metadata
        rows_in, accepted = meta["rows_in"].value, meta["accepted"].value
        quarantined, duplicates = meta["quarantined"].value, meta["duplicates"].value
        assert accepted > 50 and rows_in == accepted + quarantined + duplicates
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert checks == {
            "raw_messages_valid": True,
            "market_features_valid": True,
            "candles_valid": True,
            "social_posts_valid": True,
        }
        for name in ("market_features", "candles", "social_posts", "rule_labels"):
            assert materializations(result, name), name

    lake = resources["lake"].lake()
    messages = pq.read_table(lake.raw("raw_messages", DAY)).to_pandas()
    assert not messages.duplicated(["source", "channel", "message_id"]).any()
    assert set(messages["source"]) >= {"telegram", "discord", "sql"}
    assert (messages["date"].dt.strftime("%Y-%m-%d") == DAY).all()
    labels = pq.read_table(lake.raw("rule_labels", DAY)).to_pandas()
    assert len(labels) == len(messages) and set(labels["label"]) <= set(SIGNAL_CLASSES)
    # The demo's injected bad market rows were quarantined, not dropped.
    assert pq.read_table(lake.quarantine("market_features", DAY)).num_rows > 0


def test_datasets_have_time_split_and_no_text_in_two_splits(resources):
    defs = build_definitions(resources)
    with dg.instance_for_test() as instance:
        for day in ("2026-11-01", "2026-11-02"):
            run_job(defs, "ingest_job", partition_key=day, instance=instance)
        result = run_job(defs, "datasets_job", instance=instance)
        assert all(c.passed for c in result.get_asset_check_evaluations())
    lake = resources["lake"].lake()
    df = pd.read_csv(lake.export("classification_data.csv"), keep_default_na=False)
    assert list(df.columns) == ["text", "label", "split"]
    assert set(df["split"]) == {"train", "validation", "test"}
    assert df["text"].is_unique
    ner = pd.read_json(lake.export("ner_data.jsonl"), lines=True)
    assert len(ner) == len(df)
    row = ner[ner["entities"].map(len) > 0].iloc[0]
    assert len(row["tokens"]) == len(row["tags"]) and any(t.startswith("B-") for t in row["tags"])
    for ent in row["entities"]:
        assert 0 <= ent["start"] < ent["end"] <= len(row["text"])


def test_bad_inbox_fails_with_a_message_naming_it(resources, tmp_path):
    from trademl_resources import MessageSourcesResource

    resources = {
        **resources,
        "message_sources": MessageSourcesResource(inbox=str(tmp_path / "nowhere")),
    }
    defs = build_definitions(resources)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("ingest_job").execute_in_process(
            partition_key=DAY, instance=instance, raise_on_error=False
        )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error.to_string()
    assert "nowhere" in error and "inbox folder does not exist" in error


def test_review_queue_without_a_deployed_classifier_is_empty_and_says_why(resources):
    defs = build_definitions(resources)
    with dg.instance_for_test() as instance:
        run_job(defs, "ingest_job", partition_key=DAY, instance=instance)
        result = dg.materialize(
            [defs.get_assets_def("signal_review_queue")],
            resources=resources,
            instance=instance,
            selection=["signal_review_queue"],
        )
    assert result.success
    meta = materializations(result, "signal_review_queue")[0].metadata
    assert (meta["scored"].value, meta["queued"].value, meta["classifier"].value) == (0, 0, "rules")
    queue = resources["lake"].lake().root / "labels" / "review_queue.jsonl"
    assert queue.exists() and queue.read_text() == ""
