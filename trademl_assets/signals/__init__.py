from trademl_assets.signals.assets import rule_labels, signal_datasets
from trademl_assets.signals.checks import signal_checks
from trademl_assets.signals.labels import human_labels, llm_labels, signal_review_queue
from trademl_assets.signals.models import ner_extractor, signal_classifier, signal_classifier_onnx
from trademl_assets.signals.ner_onnx import ner_extractor_onnx
from trademl_assets.signals.reports import (
    ner_extractor_eval_report,
    report_checks,
    signal_classifier_eval_report,
)

__all__ = [
    "human_labels",
    "llm_labels",
    "ner_extractor",
    "ner_extractor_eval_report",
    "ner_extractor_onnx",
    "report_checks",
    "rule_labels",
    "signal_checks",
    "signal_classifier",
    "signal_classifier_eval_report",
    "signal_classifier_onnx",
    "signal_datasets",
    "signal_review_queue",
]
