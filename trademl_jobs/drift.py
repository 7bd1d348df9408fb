"""The drift sensor: a drift_report whose drift_score crosses the threshold requests the gate retrain.

It reads one number from the materialization's metadata (the statistics live in the asset), so
a tick costs milliseconds. One run per drift event, and a drift event is a day: the run key is
the drifted partition. drift_report re-runs for today every time the hourly ingest or a retrain
updates its inputs (and the day under test is never in its own reference, so a drifted day stays
drifted); keyed by anything finer, one regime change would retrain the gate every hour. The next
day in the new regime is a new event, scored against a reference that now holds the change.
"""

import os

import dagster as dg

#: The job the sensor requests (trademl_jobs.jobs; named, not imported, so this module loads alone).
GATE_RETRAIN_JOB = "gate_retrain_job"
#: drift_score above which a retrain is requested; 1.0 = beyond the reference's own 99 % noise.
DEFAULT_THRESHOLD = float(os.environ.get("TRADEML_DRIFT_THRESHOLD", "1.0"))


def _value(metadata, key):
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def build_drift_sensor(
    threshold: float = DEFAULT_THRESHOLD,
    job_name: str = GATE_RETRAIN_JOB,
    name: str = "drift_sensor",
) -> dg.AssetSensorDefinition:
    """An asset sensor on drift_report that requests ``job_name`` when drift_score > threshold."""

    @dg.asset_sensor(
        asset_key=dg.AssetKey("drift_report"),
        job_name=job_name,
        name=name,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Retrain the gate when drift_report's drift_score exceeds {threshold:g}.",
    )
    def _drift_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
        materialization = asset_event.asset_materialization
        if materialization is None:
            return dg.SkipReason("drift_report event carries no materialization")
        score = _value(materialization.metadata, "drift_score")
        day = materialization.partition or "unpartitioned"
        if not isinstance(score, int | float):
            return dg.SkipReason(f"drift_report {day} has no numeric drift_score metadata")
        if score <= threshold:
            return dg.SkipReason(f"drift_report {day}: drift_score {score:.3f} <= {threshold:g}")
        context.log.info(f"drift_report {day}: drift_score {score:.3f} > {threshold:g}: retrain")
        return dg.RunRequest(
            run_key=f"drift-{day}",
            tags={
                "trademl/trigger": "drift",
                "trademl/drift_partition": day,
                "trademl/drift_score": f"{score:.4f}",
            },
        )

    return _drift_sensor


drift_sensor = build_drift_sensor()
