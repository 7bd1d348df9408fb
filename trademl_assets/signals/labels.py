"""Label assets beyond the rules: human labels from the labelling store, LLM labels, and the
queue of messages to label next."""

import json

import dagster as dg

from trademl.lake import atomic_write_text
from trademl.llm.client import LLMEndpointError
from trademl.llm.market import CandlePrices
from trademl.llm.store import newest_messages, read_llm_review, write_label_run
from trademl.serving import DeployedSignalModels
from trademl.signals.human_labels import read_human_labels
from trademl.signals.parser import parse_signal
from trademl.signals.review import (
    DISAGREE,
    LLM_UNCONFIRMED,
    UNCERTAIN,
    rank_for_review,
    write_review_queue,
)
from trademl_resources import (
    LakeResource,
    LLMResource,
    MessageSourcesResource,
    ModelRegistryResource,
)


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
    """LLM labels (class + fields) for the newest messages: schema-checked, grounded, cached, and
    accepted as signals only on evidence (levels in price position, coherent, near the market at
    the message time where the lake has candles); the rest go to labels/llm_review.jsonl.

    A refused key (401/403) or a wrong URL/model (404) fails the run; answers already received
    stay cached, so the re-run after the fix pays only for the rest."""
    store = lake.lake()
    messages = newest_messages(store, config.max_messages)
    try:
        labeler = llm.labeler(store.root / "cache" / "llm", market=CandlePrices(store))
        run = labeler.label(messages)
    except LLMEndpointError as exc:  # its message names the endpoint and the key's variable
        raise dg.Failure(description=str(exc)) from exc
    paths = write_label_run(run, messages, store)
    stats = run.stats
    if run.mode == "rules":
        context.log.info(
            "no LLM endpoint configured (TRADEML_LLM_BASE_URL): labelled by the rule parser; "
            "these rows are not LLM labels and training does not count them as such"
        )
    if stats.get("failures") or stats.get("ungrounded"):
        context.log.warning(
            f"llm_labels: {stats.get('failures', 0)} failures, {stats.get('ungrounded', 0)} ungrounded "
            f"answers kept aside in {paths['ungrounded'].parent}"
        )
    if run.review:
        context.log.warning(
            f"llm_labels: {len(run.review)} signal labels without the evidence to train on; "
            f"queued for a person in {paths['review']}"
        )
    return dg.MaterializeResult(
        metadata={
            **{k: v for k, v in stats.items() if isinstance(v, int | float | str)},
            "labels": len(run.labels),
            # What training counts as LLM labels: none when the rule parser labelled the run.
            "llm_labels": sum(row.get("source") == "llm" for row in run.labels),
            "path": dg.MetadataValue.path(str(paths["labels"])),
        }
    )


class ReviewQueueConfig(dg.Config):
    """How many recent messages to score, how many to queue, and what counts as unsure."""

    #: The newest messages scored by the deployed classifier (2,000: ~14 s of the demo).
    candidates: int = 2000
    limit: int = 200
    uncertain_below: float = 0.6


@dg.asset(
    group_name="signals",
    deps=["rule_labels", "human_labels", "llm_labels", "deployed_models"],
    kinds={"jsonl"},
)
def signal_review_queue(
    context: dg.AssetExecutionContext,
    config: ReviewQueueConfig,
    lake: LakeResource,
    registry: ModelRegistryResource,
) -> dg.MaterializeResult:
    """The messages to label next (Label Studio / Argilla JSONL): LLM signal labels the evidence
    did not confirm, then where the rule parser and the deployed classifier disagree, then where
    the classifier is least sure; labelled texts skipped."""
    store = lake.lake()
    models = DeployedSignalModels(registry.root)
    messages = newest_messages(store, config.candidates) if models.classifier is not None else []
    if models.classifier is None:
        context.log.info("no deployed signal_classifier: nothing to compare the parser with")
    texts = [m["text"] for m in messages]
    rules = [parse_signal(t).label for t in texts]
    predictions = models.classifier.predict(texts) if texts else []
    human_path = store.root / "labels" / "human_labels.jsonl"
    labelled = (
        [json.loads(line)["text"] for line in human_path.open()] if human_path.exists() else []
    )
    queue = rank_for_review(
        messages,
        rules,
        predictions,
        labelled_texts=labelled,
        limit=config.limit,
        uncertain_below=config.uncertain_below,
        llm_unconfirmed=read_llm_review(store),
    )
    path = write_review_queue(queue, store.root / "labels" / "review_queue.jsonl")
    reasons = {
        r: sum(q["reason"] == r for q in queue) for r in (LLM_UNCONFIRMED, DISAGREE, UNCERTAIN)
    }
    preview = "\n".join(
        f"| {q['rule_label']} | {q['model_label']} | "
        + ("llm" if q["confidence"] is None else f"{q['confidence']:.2f}")
        + " | "
        + " ".join(q["text"].split())[:80].replace("|", "/")
        + " |"
        for q in queue[:15]
    )
    return dg.MaterializeResult(
        metadata={
            "scored": len(messages),
            "queued": len(queue),
            **reasons,
            "classifier": models.name,
            "preview": dg.MetadataValue.md(
                "| parser | model | confidence | text |\n|---|---|---|---|\n" + preview
            ),
            "path": dg.MetadataValue.path(str(path)),
        }
    )
