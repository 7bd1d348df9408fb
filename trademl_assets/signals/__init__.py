from trademl_assets.signals.assets import rule_labels, signal_datasets
from trademl_assets.signals.checks import signal_checks

__all__ = ["rule_labels", "signal_checks", "signal_datasets"]
