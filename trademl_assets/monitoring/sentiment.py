"""sentiment_drift: ADWIN over the deployed sentiment model's error stream on posts labelled after
it was trained; the sentiment drift sensor (trademl_jobs.sentiment) requests the retrain."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd

from trademl.sentiment.dataset import read_dataset
from trademl.sentiment.labels import HUMAN, RATING
from trademl_assets.sentiment.assets import dataset_path
from trademl_resources import LakeResource, ModelRegistryResource


class SentimentDriftConfig(dg.Config):
    #: ADWIN's confidence (river 0.26 ADWIN(delta)); smaller = fewer, surer alarms.
    delta: float = 0.002


@dg.asset(group_name="monitoring", deps=["sentiment_dataset"], kinds={"river"})
def sentiment_drift(
    context: dg.AssetExecutionContext,
    config: SentimentDriftConfig,
    deployed_sentiment: dict,
    lake: LakeResource,
    registry: ModelRegistryResource,
) -> dg.MaterializeResult:
    """The champion's errors (its answer vs the label) on the posts rated or labelled after its
    training data, in time order, through ADWIN; ``drift_detected`` and ``event_id`` in the
    metadata are what the sensor reads."""
    from trademl.sentiment.drift import error_stream_drift, model_errors
    from trademl.sentiment.ensemble import EnsembleConfig, ensemble
    from trademl.sentiment.runtime import OnnxSentiment
    from trademl.sentiment.vader import vader_compound

    version_dir = Path(deployed_sentiment["path"])
    champion = registry.registry().get(deployed_sentiment["name"], deployed_sentiment["version"])
    train_until = champion.manifest.get("train_until")
    table = read_dataset(dataset_path(lake))
    fresh = table[table["label_source"].isin((HUMAN, RATING))]
    if train_until:
        fresh = fresh[fresh["ts"] > pd.Timestamp(train_until)]
    fresh = fresh.sort_values("ts", kind="stable")
    texts = fresh["text"].tolist()
    metadata = {"model": deployed_sentiment["version"], "train_until": train_until or "unknown"}
    if not texts:
        context.log.info("sentiment_drift: no post labelled after the champion's training data")
        return dg.MaterializeResult(
            metadata={**metadata, "n": 0, "drift_detected": False, "event_id": "none"}
        )
    cfg = EnsembleConfig.from_dict(json.loads((version_dir / "ensemble.json").read_text()))
    probs = OnnxSentiment(version_dir / "onnx").predict_proba(texts)
    predicted = ensemble(vader_compound(texts), probs, cfg).labels
    errors = model_errors(fresh["label"].tolist(), predicted)
    result = error_stream_drift(
        errors,
        timestamps=[str(t) for t in fresh["ts"]],
        post_ids=fresh["post_id"].tolist(),
        delta=config.delta,
    )
    event = result["event_id"]
    if result["drift_detected"]:
        context.log.warning(
            f"sentiment_drift: ADWIN detected a change in the error rate at {event} "
            f"({len(result['detections'])} detection(s) over {result['n']} posts)"
        )
    return dg.MaterializeResult(
        metadata={
            **metadata,
            "n": result["n"],
            "error_rate": round(float(result["error_rate"]), 4),
            "drift_detected": bool(result["drift_detected"]),
            # the sensor's run key: one retrain per detected change, not per materialization
            "event_id": f"{deployed_sentiment['version']}:{event}" if event else "none",
            "detections": dg.MetadataValue.json(result["detections"][:20]),
            "delta": config.delta,
        }
    )
