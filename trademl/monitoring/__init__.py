"""Drift statistics shared by every drift asset: PSI / KS with bootstrap-calibrated thresholds,
ADWIN over error streams, and the gate's daily drift report."""

from trademl.monitoring.gate_drift import DriftResult, DriftSettings, gate_drift
from trademl.monitoring.stats import ReferenceBins, adwin_error_drift, psi, quantile_edges

__all__ = [
    "DriftResult",
    "DriftSettings",
    "ReferenceBins",
    "adwin_error_drift",
    "gate_drift",
    "psi",
    "quantile_edges",
]
