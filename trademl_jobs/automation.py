"""Freshness and automation policy, applied in one place (definitions.py) to every asset."""

from datetime import timedelta

import dagster as dg

from trademl_jobs.jobs import (
    GATE_ASSETS,
    MODEL_ASSETS,
    SENTIMENT_ASSETS,
    TRADE_LABEL_ASSETS,
    TRAINING_RUN_TAGS,
    VISION_ASSETS,
)

#: An artifact older than 4 hours is stale.
FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=4))

#: Re-materialize once on the edge of going stale; never while a run for it is in flight.
REFRESH_WHEN_STALE = (
    dg.AutomationCondition.freshness_failed().newly_true().since_last_handled()
    & ~dg.AutomationCondition.in_progress()
).with_label("refresh_when_stale")

#: Unpartitioned datasets: refresh when stale, and when a new day of labels lands upstream.
DATASET_CONDITION = (
    REFRESH_WHEN_STALE
    | (
        dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("new_upstream_data")
).with_label("dataset_refresh")

#: Daily partitions downstream of ingest: label a day as soon as its messages land.
PARTITION_CONDITION = dg.AutomationCondition.eager()

#: The gate's, the trade-label model's, the sentiment model's and the meme adapter's training-side
#: assets share the one training slot; gate_dataset, sentiment_dataset, meme_dataset and
#: meme_sentiment (a scoring pass) are data.
_MODELS = dg.AssetSelection.assets(
    *MODEL_ASSETS, *GATE_ASSETS[1:], *TRADE_LABEL_ASSETS, *SENTIMENT_ASSETS[1:], *VISION_ASSETS[1:4]
)

#: The explicit automation sensors (Dagster's implicit one starts stopped): data assets, and
#: model assets, whose runs carry `resource=gpu` so that only one trains at a time.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "trademl_automation",
    target=dg.AssetSelection.all() - _MODELS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
model_automation_sensor = dg.AutomationConditionSensorDefinition(
    "trademl_model_automation",
    target=_MODELS,
    run_tags=TRAINING_RUN_TAGS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
)


def apply_policies(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Give ``spec`` the freshness policy and the automation condition that fits it."""
    if spec.automation_condition is not None:
        condition = spec.automation_condition
    elif spec.group_name == "ingest":
        condition = None  # ingest runs on the hourly schedule and the inbox sensor
    elif spec.partitions_def is not None:
        condition = PARTITION_CONDITION
    else:
        condition = DATASET_CONDITION
    return spec.replace_attributes(freshness_policy=FRESHNESS, automation_condition=condition)
