"""Label assets beyond the rules: human labels from the labelling store, LLM labels."""

import json

import dagster as dg

from trademl.lake import atomic_write_text
from trademl.llm.store import newest_messages, write_label_run
from trademl.signals.human_labels import read_human_labels
from trademl_resources import LakeResource, LLMResource, MessageSourcesResource


@dg.asset(group_name="signals", kinds={"sql"})
def human_labels(
    context: dg.AssetExecutionContext, lake: LakeResource, message_sources: MessageSourcesResource
) -> dg.MaterializeResult:
    """Messages a person labelled in the desk's labelling store (class + character offsets)."""
    url = message_sources.sql_url
    if not url:
        context.log.info("no SQL labelling store configured: no human labels")
        labels, rejected = [], []
    else:
        labels, rejected = read_human_labels(url)
    store = lake.lake()
    path = store.root / "labels" / "human_labels.jsonl"
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in labels))
    quarantine = store.root / "quarantine" / "human_labels" / "rejected.jsonl"
    atomic_write_text(
        quarantine, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rejected)
    )
    if rejected:
        context.log.warning(f"human_labels: {len(rejected)} labels unusable; see {quarantine}")
    per_class: dict[str, int] = {}
    for r in labels:
        per_class[r["label"]] = per_class.get(r["label"], 0) + 1
    return dg.MaterializeResult(
        metadata={
            "labels": len(labels),
            "rejected": len(rejected),
            "per_class": per_class,
            "path": dg.MetadataValue.path(str(path)),
        }
    )


class LLMLabelsConfig(dg.Config):
    """How many of the newest distinct messages one run sends to the LLM (a budget cap)."""

    max_messages: int = 400


@dg.asset(group_name="signals", deps=["rule_labels"], kinds={"parquet"})
def llm_labels(
    context: dg.AssetExecutionContext, config: LLMLabelsConfig, lake: LakeResource, llm: LLMResource
) -> dg.MaterializeResult:
    """LLM labels (class + fields) for the newest messages: schema-checked, grounded, cached."""
    store = lake.lake()
    messages = newest_messages(store, config.max_messages)
    run = llm.labeler(store.root / "cache" / "llm").label(messages)
    paths = write_label_run(run, messages, store)
    stats = run.stats
    if run.mode == "rules":
        context.log.info(
            "no LLM endpoint configured (TRADEML_LLM_BASE_URL): labelled by the rule parser"
        )
    if stats.get("failures") or stats.get("ungrounded"):
        context.log.warning(
            f"llm_labels: {stats.get('failures', 0)} failures, {stats.get('ungrounded', 0)} ungrounded "
            f"answers kept aside in {paths['ungrounded'].parent}"
        )
    return dg.MaterializeResult(
        metadata={
            **{k: v for k, v in stats.items() if isinstance(v, int | float | str)},
            "labels": len(run.labels),
            "path": dg.MetadataValue.path(str(paths["labels"])),
        }
    )
