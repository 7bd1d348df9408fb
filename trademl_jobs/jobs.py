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

#: Models: labels, training, export, evaluation and promotion. One run at a time holds the
#: `resource=gpu` slot (dagster.yaml's tag concurrency limit).
MODEL_ASSETS = (
    "human_labels",
    "llm_labels",
    "signal_classifier",
    "signal_classifier_onnx",
    "ner_extractor",
    "ner_extractor_onnx",
    "signal_classifier_eval_report",
    "ner_extractor_eval_report",
    "deployed_models",
    "signal_review_queue",
)
TRAINING_RUN_TAGS = {"resource": "gpu"}

retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.assets(*MODEL_ASSETS),
    tags=TRAINING_RUN_TAGS,
    description="Relabel, retrain, export, evaluate and (if not worse than the champion) deploy the signal models.",
)

#: The trade gate: dataset, training + ONNX export, evaluation, promotion. Its own job so that the
#: drift sensor (and a desk) can retrain the gate without retraining the signal models.
GATE_ASSETS = ("gate_dataset", "onnx_gate", "gate_eval_report", "deployed_gate")

gate_retrain_job = dg.define_asset_job(
    "gate_retrain_job",
    selection=dg.AssetSelection.assets(*GATE_ASSETS),
    tags=TRAINING_RUN_TAGS,
    description="Relabel market_features, retrain and export the trade gate, evaluate it and (if not "
    "worse than the champion) promote it.",
)

#: AI trade labels on sampled candle points (LLM, or triple barrier without one) and the
#: recommendation model trained on them.
TRADE_LABEL_ASSETS = ("ai_trade_labels", "trade_label_model")

trade_labels_job = dg.define_asset_job(
    "trade_labels_job",
    selection=dg.AssetSelection.assets(*TRADE_LABEL_ASSETS),
    tags=TRAINING_RUN_TAGS,
    description="Label sampled candle points (LLM or triple barrier) and train the trade-label model.",
)

#: One day's drift of the gate's inputs and outputs against its training data (partitioned: a
#: backfill scores every day); the drift sensor retrains the gate from its drift_score.
monitoring_job = dg.define_asset_job(
    "monitoring_job",
    selection=dg.AssetSelection.assets("drift_report"),
    description="Score one day's drift of the gate's features and predictions against its training data.",
)

#: Crowd sentiment: dataset (new ratings, human labels, pseudo-labels), SetFit training with
#: replay, INT8 export, evaluation, promotion, and the next active-learning round. The sentiment
#: drift sensor requests it; it holds the training slot like the other model jobs.
SENTIMENT_ASSETS = (
    "sentiment_dataset",
    "sentiment_model",
    "sentiment_model_onnx",
    "sentiment_eval_report",
    "deployed_sentiment",
    "active_learning_queue",
)

sentiment_retrain_job = dg.define_asset_job(
    "sentiment_retrain_job",
    selection=dg.AssetSelection.assets(*SENTIMENT_ASSETS),
    tags=TRAINING_RUN_TAGS,
    description="Rebuild the sentiment dataset, retrain the VADER + SetFit model (70 % new / 30 % "
    "replayed posts), export INT8, evaluate, promote if not worse, and queue the next labels.",
)

#: The deployed sentiment model's error stream through ADWIN (the sentiment drift sensor reads it).
sentiment_monitoring_job = dg.define_asset_job(
    "sentiment_monitoring_job",
    selection=dg.AssetSelection.assets("sentiment_drift"),
    description="Run ADWIN over the deployed sentiment model's errors on newly labelled posts.",
)

#: Memes: the imaged posts, the LLaVA (Q)LoRA adapter (on a GPU worker when the run lands on
#: one: `resource=gpu`), its evaluation and promotion, and the text x image fusion per post.
VISION_ASSETS = (
    "meme_dataset",
    "llava_meme_adapter",
    "llava_meme_adapter_eval_report",
    "deployed_meme_adapter",
    "meme_sentiment",
)

vision_retrain_job = dg.define_asset_job(
    "vision_retrain_job",
    selection=dg.AssetSelection.assets(*VISION_ASSETS),
    tags=TRAINING_RUN_TAGS,
    description="Rebuild the meme dataset, train the LLaVA meme adapter (QLoRA on CUDA, LoRA on "
    "CPU), evaluate it against the caption-only baselines and the champion, promote if not "
    "worse, and fuse text and image sentiment per post.",
)
