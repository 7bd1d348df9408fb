"""The σ-reversion trade gate: dataset, training, ONNX and native export, evaluation, runtime.

``import trademl.gate`` is what a bot does: it loads only the runtime (numpy now, onnxruntime when
a model is loaded). Training and evaluation live in submodules that import scikit-learn.
"""

from trademl.gate.runtime import (
    DEFAULT_THRESHOLD,
    FEATURES,
    HEURISTIC,
    MODEL_NAME,
    Gate,
    GateInputError,
)

__all__ = ["DEFAULT_THRESHOLD", "FEATURES", "HEURISTIC", "MODEL_NAME", "Gate", "GateInputError"]
