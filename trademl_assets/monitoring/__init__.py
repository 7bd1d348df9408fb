"""Monitoring assets: drift of the models' inputs and outputs, read by the retrain sensors."""

from trademl_assets.monitoring.assets import drift_report
from trademl_assets.monitoring.sentiment import sentiment_drift

__all__ = ["drift_report", "sentiment_drift"]
