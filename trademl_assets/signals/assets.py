"""Signal assets: rule labels per day, and the training files built from them."""

import dagster as dg

from trademl.signals.datasets import export_datasets
from trademl.signals.labelling import label_partition
from trademl_assets.partitions import daily_partitions
from trademl_resources import LakeResource


@dg.asset(
    group_name="signals", partitions_def=daily_partitions, deps=["raw_messages"], kinds={"parquet"}
)
def rule_labels(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """One day of messages with the rule parser's class, typed fields and entity character spans."""
    store = lake.lake()
    src = store.raw("raw_messages", context.partition_key)
    if not src.exists():
        raise dg.Failure(
            f"rule_labels: raw_messages partition {context.partition_key} is missing ({src}); "
            "materialize raw_messages for that day first"
        )
    dst = store.raw("rule_labels", context.partition_key)
    counts = label_partition(src, dst)
    return dg.MaterializeResult(
        metadata={
            "messages": sum(counts.values()),
            "per_class": dict(sorted(counts.items())),
            "path": dg.MetadataValue.path(str(dst)),
            "dagster/row_count": sum(counts.values()),
        }
    )


class DatasetConfig(dg.Config):
    """How the training files are split (by time: oldest train, newest test)."""

    validation_fraction: float = 0.1
    test_fraction: float = 0.1


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "classification_dataset",
            group_name="signals",
            deps=["rule_labels"],
            kinds={"csv"},
            description="classification_data.csv: text,label,split with a time-based split.",
        ),
        dg.AssetSpec(
            "ner_dataset",
            group_name="signals",
            deps=["rule_labels"],
            kinds={"jsonl"},
            description="ner_data.jsonl: text, character-span entities, tokens and BIO tags.",
        ),
    ],
)
def signal_datasets(context: dg.AssetExecutionContext, config: DatasetConfig, lake: LakeResource):
    """Both training files, written in one pass over every rule_labels partition."""
    store = lake.lake()
    files = [store.raw("rule_labels", p) for p in store.partitions("raw", "rule_labels")]
    csv_path, ner_path = store.export("classification_data.csv"), store.export("ner_data.jsonl")
    stats = export_datasets(
        files,
        csv_path,
        ner_path,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
    )
    context.log.info(
        f"exported {sum(stats.per_split.values()):,} messages from {len(files)} partitions "
        f"({stats.duplicates_dropped:,} repeated texts dropped)"
    )
    common = {
        "partitions": len(files),
        "rows_per_split": dict(stats.per_split),
        "duplicates_dropped": stats.duplicates_dropped,
        "split_start": stats.split_start,
        "dagster/row_count": sum(stats.per_split.values()),
    }
    yield dg.MaterializeResult(
        asset_key="classification_dataset",
        metadata={
            **common,
            "labels_per_split": {s: dict(c) for s, c in stats.per_label.items()},
            "path": dg.MetadataValue.path(str(csv_path)),
        },
    )
    yield dg.MaterializeResult(
        asset_key="ner_dataset",
        metadata={
            **common,
            "entities": dict(stats.entities),
            "path": dg.MetadataValue.path(str(ner_path)),
        },
    )
