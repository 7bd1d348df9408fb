"""The one Definitions object that workspace.yaml, `dagster dev` and the tests load."""

import dagster as dg

from trademl_assets.deploy import deployed_models
from trademl_assets.deploy.gate import deployed_gate
from trademl_assets.gate import (
    ai_trade_labels,
    gate_dataset,
    gate_eval_report,
    gate_not_worse_than_champion,
    onnx_gate,
    trade_label_model,
)
from trademl_assets.ingest import (
    candles,
    ingest_checks,
    market_features,
    raw_messages,
    social_posts,
)
from trademl_assets.monitoring import drift_report, sentiment_drift
from trademl_assets.sentiment import (
    active_learning_queue,
    deployed_sentiment,
    sentiment_dataset,
    sentiment_eval_report,
    sentiment_model,
    sentiment_model_onnx,
    sentiment_not_worse_than_champion,
)
from trademl_assets.signals import (
    human_labels,
    llm_labels,
    ner_extractor,
    ner_extractor_eval_report,
    ner_extractor_onnx,
    report_checks,
    rule_labels,
    signal_checks,
    signal_classifier,
    signal_classifier_eval_report,
    signal_classifier_onnx,
    signal_datasets,
    signal_review_queue,
)
from trademl_assets.vision import (
    deployed_meme_adapter,
    llava_meme_adapter,
    llava_meme_adapter_eval_report,
    llava_meme_adapter_not_worse_than_champion,
    meme_dataset,
    meme_sentiment,
)
from trademl_jobs.automation import apply_policies, automation_sensor, model_automation_sensor
from trademl_jobs.drift import drift_sensor
from trademl_jobs.jobs import (
    datasets_job,
    gate_retrain_job,
    ingest_job,
    monitoring_job,
    retrain_job,
    sentiment_monitoring_job,
    sentiment_retrain_job,
    trade_labels_job,
    vision_retrain_job,
)
from trademl_jobs.profiles import executor_for_profile
from trademl_jobs.schedules import daily_retrain_schedule, hourly_ingest_schedule
from trademl_jobs.sensors import inbox_sensor
from trademl_jobs.sentiment import sentiment_drift_sensor
from trademl_resources import default_resources


def build_definitions(resources: dict[str, object] | None = None) -> dg.Definitions:
    """All of trademl; ``resources`` overrides the environment's (tests point them at tmp dirs)."""
    assets = [
        raw_messages,
        market_features,
        candles,
        social_posts,
        rule_labels,
        signal_datasets,
        human_labels,
        llm_labels,
        signal_classifier,
        signal_classifier_onnx,
        ner_extractor,
        ner_extractor_onnx,
        signal_classifier_eval_report,
        ner_extractor_eval_report,
        deployed_models,
        signal_review_queue,
        gate_dataset,
        onnx_gate,
        gate_eval_report,
        deployed_gate,
        ai_trade_labels,
        trade_label_model,
        drift_report,
        sentiment_dataset,
        sentiment_model,
        sentiment_model_onnx,
        sentiment_eval_report,
        deployed_sentiment,
        active_learning_queue,
        sentiment_drift,
        meme_dataset,
        llava_meme_adapter,
        llava_meme_adapter_eval_report,
        deployed_meme_adapter,
        meme_sentiment,
    ]
    return dg.Definitions(
        assets=dg.map_asset_specs(apply_policies, assets),
        asset_checks=[
            *ingest_checks,
            *signal_checks,
            *report_checks,
            gate_not_worse_than_champion,
            sentiment_not_worse_than_champion,
            llava_meme_adapter_not_worse_than_champion,
        ],
        jobs=[
            ingest_job,
            datasets_job,
            retrain_job,
            gate_retrain_job,
            trade_labels_job,
            monitoring_job,
            sentiment_retrain_job,
            sentiment_monitoring_job,
            vision_retrain_job,
        ],
        schedules=[hourly_ingest_schedule, daily_retrain_schedule],
        sensors=[
            inbox_sensor,
            automation_sensor,
            model_automation_sensor,
            drift_sensor,
            sentiment_drift_sensor,
        ],
        resources=resources if resources is not None else default_resources(),
        # TRADEML_PROFILE: multiprocess (local, production), Celery or Kubernetes (profiles.py).
        executor=executor_for_profile(),
    )


defs = build_definitions()
