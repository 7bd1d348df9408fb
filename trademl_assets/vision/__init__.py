from trademl_assets.vision.assets import llava_meme_adapter, meme_dataset, meme_sentiment
from trademl_assets.vision.reports import (
    deployed_meme_adapter,
    llava_meme_adapter_eval_report,
    llava_meme_adapter_not_worse_than_champion,
)

__all__ = [
    "deployed_meme_adapter",
    "llava_meme_adapter",
    "llava_meme_adapter_eval_report",
    "llava_meme_adapter_not_worse_than_champion",
    "meme_dataset",
    "meme_sentiment",
]
