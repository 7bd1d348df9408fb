"""Declarative automation: stale assets are re-materialized exactly once; fresh ones are left alone."""

import time

import dagster as dg
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from trademl_jobs.definitions import build_definitions

DATASETS = {dg.AssetKey("classification_dataset"), dg.AssetKey("ner_dataset")}


def freshness(instance, key, previous, new):
    """What the freshness daemon records when an asset's 4-hour window passes (or is met again)."""
    instance.report_runless_asset_event(
        FreshnessStateChange(
            key=key, previous_state=previous, new_state=new, state_change_timestamp=time.time()
        )
    )


def requested(result) -> set[dg.AssetKey]:
    return {r.key for r in result.results if r.true_subset.size > 0}


def test_stale_dataset_is_requested_once_fresh_is_not(resources):
    defs = build_definitions(resources)
    selection = dg.AssetSelection.assets(*DATASETS)
    with dg.instance_for_test() as instance:
        for key in DATASETS:
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
            freshness(instance, key, FreshnessState.UNKNOWN, FreshnessState.PASS)
        fresh = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection
        )
        assert fresh.total_requested == 0

        for key in DATASETS:
            freshness(instance, key, FreshnessState.PASS, FreshnessState.FAIL)
        stale = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=fresh.cursor
        )
        assert stale.total_requested == 2 and requested(stale) == DATASETS

        # Still stale on the next tick (the run has not finished): no second request.
        again = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=stale.cursor
        )
        assert again.total_requested == 0


def test_new_day_of_labels_refreshes_the_datasets_once(resources):
    defs = build_definitions(resources)
    selection = dg.AssetSelection.assets(*DATASETS)
    with dg.instance_for_test() as instance:
        for key in DATASETS:
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        first = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection
        )
        assert first.total_requested == 0
        instance.report_runless_asset_event(
            dg.AssetMaterialization("rule_labels", partition="2026-11-02")
        )
        update = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=first.cursor
        )
        assert requested(update) == DATASETS
        after = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=update.cursor
        )
        assert after.total_requested == 0
