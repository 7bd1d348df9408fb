from trademl_assets.gate.assets import gate_dataset, onnx_gate
from trademl_assets.gate.reports import gate_eval_report, gate_not_worse_than_champion

__all__ = ["gate_dataset", "gate_eval_report", "gate_not_worse_than_champion", "onnx_gate"]
