"""The one Definitions object that workspace.yaml, `dagster dev` and the tests load."""

import dagster as dg

from trademl_assets.ingest import candles, ingest_checks, market_features, raw_messages, social_posts
from trademl_assets.signals import rule_labels, signal_checks, signal_datasets
from trademl_jobs.automation import apply_policies, automation_sensor
from trademl_jobs.jobs import datasets_job, ingest_job
from trademl_jobs.schedules import hourly_ingest_schedule
from trademl_jobs.sensors import inbox_sensor
from trademl_resources import default_resources


def build_definitions(resources: dict[str, object] | None = None) -> dg.Definitions:
    """All of trademl; ``resources`` overrides the environment's (tests point them at tmp dirs)."""
    assets = [raw_messages, market_features, candles, social_posts, rule_labels, signal_datasets]
    return dg.Definitions(
        assets=dg.map_asset_specs(apply_policies, assets),
        asset_checks=[*ingest_checks, *signal_checks],
        jobs=[ingest_job, datasets_job],
        schedules=[hourly_ingest_schedule],
        sensors=[inbox_sensor, automation_sensor],
        resources=resources if resources is not None else default_resources(),
    )


defs = build_definitions()
