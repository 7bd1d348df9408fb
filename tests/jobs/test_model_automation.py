"""Models retrain when new labelled data lands (once), and their runs take the gpu slot."""

import dagster as dg

from trademl_jobs.definitions import build_definitions

MODELS = {dg.AssetKey("signal_classifier"), dg.AssetKey("ner_extractor")}
UPSTREAM = ("classification_dataset", "ner_dataset", "human_labels", "llm_labels")


def test_new_labelled_data_requests_each_model_once(resources):
    defs = build_definitions(resources)
    selection = dg.AssetSelection.assets(*MODELS)
    with dg.instance_for_test() as instance:
        for key in (*UPSTREAM, *(k.path[0] for k in MODELS)):
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        quiet = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection
        )
        assert quiet.total_requested == 0

        instance.report_runless_asset_event(dg.AssetMaterialization("classification_dataset"))
        instance.report_runless_asset_event(dg.AssetMaterialization("ner_dataset"))
        fired = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=quiet.cursor
        )
        assert {r.key for r in fired.results if r.true_subset.size} == MODELS
        again = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=fired.cursor
        )
        assert again.total_requested == 0
