from trademl_assets.ingest.assets import candles, market_features, raw_messages, social_posts
from trademl_assets.ingest.checks import ingest_checks

__all__ = ["candles", "ingest_checks", "market_features", "raw_messages", "social_posts"]
