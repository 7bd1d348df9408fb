"""Partitioning shared by the ingest and labelling assets."""

import os

import dagster as dg

#: One partition per UTC day. ``end_offset=1`` makes today's partition exist, so the hourly
#: schedule can ingest the day as it happens. ``TRADEML_START_DATE`` moves the first day.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=os.environ.get("TRADEML_START_DATE", "2026-11-01"), end_offset=1
)
