from trademl_assets.sentiment.assets import (
    active_learning_queue,
    sentiment_dataset,
    sentiment_model,
    sentiment_model_onnx,
)
from trademl_assets.sentiment.reports import (
    deployed_sentiment,
    sentiment_eval_report,
    sentiment_not_worse_than_champion,
)

__all__ = [
    "active_learning_queue",
    "deployed_sentiment",
    "sentiment_dataset",
    "sentiment_eval_report",
    "sentiment_model",
    "sentiment_model_onnx",
    "sentiment_not_worse_than_champion",
]
