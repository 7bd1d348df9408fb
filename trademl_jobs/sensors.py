"""Sensors: ingest the days that new export files in the inbox cover."""

import hashlib
import json

import dagster as dg

from trademl.ingest.inbox import days_in_files, inbox_changes
from trademl_assets.partitions import daily_partitions
from trademl_jobs.jobs import ingest_job
from trademl_resources import MessageSourcesResource


@dg.sensor(
    job=ingest_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING
)
def inbox_sensor(context: dg.SensorEvaluationContext, message_sources: MessageSourcesResource):
    """When export files land in (or change in) the inbox, ingest every day they cover."""
    sources = message_sources.sources()
    previous = json.loads(context.cursor) if context.cursor else {}
    changed, current = inbox_changes(sources, previous)
    if not changed:
        return dg.SkipReason(f"no new or changed export files in {sources.inbox}")
    days = days_in_files(changed)
    state_id = hashlib.sha1(json.dumps(current, sort_keys=True).encode()).hexdigest()[:12]
    valid = set(daily_partitions.get_partition_keys())
    requests = [
        dg.RunRequest(
            run_key=f"inbox-{day}-{state_id}",
            partition_key=day,
            tags={"trademl/trigger": "inbox"},
        )
        for day in sorted(days)
        if day in valid
    ]
    skipped = sorted(days - valid)
    if skipped:
        context.log.warning(f"inbox files cover days outside the partitions: {skipped}")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(current, sort_keys=True))
