"""The sentiment drift sensor: a sentiment_drift materialization whose ADWIN detected a change in
the deployed model's error rate requests sentiment_retrain_job.

Same pattern as the gate's drift sensor (trademl_jobs.drift): it reads the materialization's
metadata only, and the run key is the detected event (model version + where ADWIN fired), so a
drift event retrains once however often sentiment_drift re-materializes over the same posts.
"""

import dagster as dg

#: The job the sensor requests (named, not imported, so this module loads alone).
SENTIMENT_RETRAIN_JOB = "sentiment_retrain_job"


def _value(metadata, key):
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def build_sentiment_drift_sensor(
    job_name: str = SENTIMENT_RETRAIN_JOB, name: str = "sentiment_drift_sensor"
) -> dg.AssetSensorDefinition:
    @dg.asset_sensor(
        asset_key=dg.AssetKey("sentiment_drift"),
        job_name=job_name,
        name=name,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Retrain the sentiment model when ADWIN detects a change in its error rate.",
    )
    def _sentiment_drift_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
        materialization = asset_event.asset_materialization
        if materialization is None:
            return dg.SkipReason("sentiment_drift event carries no materialization")
        detected = _value(materialization.metadata, "drift_detected")
        event = _value(materialization.metadata, "event_id")
        if detected is not True:
            return dg.SkipReason(f"sentiment_drift: no drift detected (event {event})")
        if not isinstance(event, str) or event in ("", "none"):
            return dg.SkipReason("sentiment_drift: drift without an event id; not retraining")
        context.log.info(f"sentiment_drift: ADWIN detected drift at {event}: retrain")
        return dg.RunRequest(
            run_key=f"sentiment-drift-{event}",
            tags={"trademl/trigger": "sentiment_drift", "trademl/drift_event": event},
        )

    return _sentiment_drift_sensor


sentiment_drift_sensor = build_sentiment_drift_sensor()
