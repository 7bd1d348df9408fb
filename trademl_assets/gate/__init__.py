from trademl_assets.gate.assets import gate_dataset, onnx_gate
from trademl_assets.gate.reports import gate_eval_report, gate_not_worse_than_champion
from trademl_assets.gate.trade_labels import ai_trade_labels, trade_label_model

__all__ = [
    "ai_trade_labels",
    "gate_dataset",
    "gate_eval_report",
    "gate_not_worse_than_champion",
    "onnx_gate",
    "trade_label_model",
]
