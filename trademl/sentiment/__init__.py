"""Crowd sentiment: the dataset from rated posts, VADER + SetFit ensemble, INT8 ONNX serving,
active learning, replay and pseudo-labels, ADWIN drift on the error stream.

``from trademl.sentiment import DeployedSentiment`` loads nothing heavy until it is used: the
runtime needs numpy, onnxruntime, tokenizers and vaderSentiment, never torch or Dagster.
"""

from trademl.sentiment.labels import BEARISH, BULLISH, NEUTRAL, SENTIMENT_LABELS

__all__ = ["BEARISH", "BULLISH", "NEUTRAL", "SENTIMENT_LABELS", "DeployedSentiment"]


def __getattr__(name: str):
    if name == "DeployedSentiment":
        from trademl.sentiment.runtime import DeployedSentiment

        return DeployedSentiment
    raise AttributeError(f"module 'trademl.sentiment' has no attribute {name!r}")
