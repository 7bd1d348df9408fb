"""The sentiment drift sensor: one retrain per ADWIN event, none without a detection."""

import dagster as dg

from trademl_jobs.sentiment import sentiment_drift_sensor


def _defs():
    @dg.asset(name="sentiment_drift")
    def _drift():
        return None

    job = dg.define_asset_job("sentiment_retrain_job", selection=[_drift])
    return dg.Definitions(assets=[_drift], jobs=[job], sensors=[sentiment_drift_sensor])


def _tick(instance, defs, cursor):
    return sentiment_drift_sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor)
    )


def _event(instance, detected, event_id):
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            "sentiment_drift", metadata={"drift_detected": detected, "event_id": event_id, "n": 300}
        )
    )


def test_fires_once_per_event_and_not_without_drift():
    defs = _defs()
    with dg.instance_for_test() as instance:
        _event(instance, False, "none")
        tick = _tick(instance, defs, None)
        assert tick.run_requests == [] and "no drift detected" in tick.skip_message
        _event(instance, True, "v1:p000412")
        tick = _tick(instance, defs, tick.cursor)
        assert [r.run_key for r in tick.run_requests] == ["sentiment-drift-v1:p000412"]
        assert tick.run_requests[0].tags["trademl/trigger"] == "sentiment_drift"
        # the same materialization is not evaluated twice
        assert _tick(instance, defs, tick.cursor).run_requests == []
        # sentiment_drift re-materialized over the same posts: same event, same run key
        _event(instance, True, "v1:p000412")
        again = _tick(instance, defs, tick.cursor)
        assert [r.run_key for r in again.run_requests] == ["sentiment-drift-v1:p000412"]
        # a detection without an event id does not retrain blindly
        _event(instance, True, "none")
        assert _tick(instance, defs, again.cursor).run_requests == []


def test_the_project_wires_the_sensor_to_the_retrain_job():
    from trademl_jobs.definitions import defs

    sensor = defs.resolve_sensor_def("sentiment_drift_sensor")
    assert sensor.job_name == "sentiment_retrain_job"
    job = defs.resolve_job_def("sentiment_retrain_job")
    assert job.tags.get("resource") == "gpu"
