"""Schedules: the current day's ingest every hour."""

import dagster as dg

from trademl_jobs.jobs import ingest_job, retrain_job
from trademl_jobs.profiles import INGEST_RUN_PRIORITY


@dg.schedule(
    cron_schedule="5 * * * *",
    job=ingest_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def hourly_ingest_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Ingest today's (UTC) partition, five minutes past every hour, ahead of any backfill's
    steps on the Celery queues (``dagster-celery/run_priority``; other executors ignore it)."""
    tick = context.scheduled_execution_time
    day = tick.strftime("%Y-%m-%d")
    return dg.RunRequest(
        run_key=f"hourly-{tick:%Y-%m-%dT%H}",
        partition_key=day,
        tags={"dagster-celery/run_priority": str(INGEST_RUN_PRIORITY)},
    )


#: Retrain and re-evaluate every night at 02:00 UTC (promotion still needs the blocking checks).
daily_retrain_schedule = dg.ScheduleDefinition(
    name="daily_retrain_schedule",
    job=retrain_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
