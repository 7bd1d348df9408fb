"""Jobs: named selections users launch, schedule and backfill."""

import dagster as dg

#: A day of raw material and its rule labels (partitioned: backfill it over a date range).
ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups("ingest") | dg.AssetSelection.assets("rule_labels"),
    description="Ingest one UTC day of messages and market data, and rule-label its messages.",
)

#: The training files, rebuilt from every labelled day.
datasets_job = dg.define_asset_job(
    "datasets_job",
    selection=dg.AssetSelection.assets("classification_dataset", "ner_dataset"),
    description="Export classification_data.csv and ner_data.jsonl from every labelled day.",
)
