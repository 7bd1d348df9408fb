"""Seeded demo data in the formats trading desks really have (see :func:`generate_demo_data`).

Layout under ``out_dir``: ``telegram/<slug>/result.json`` (Telegram Desktop export),
``discord/<guild>-<channel>.json`` (DiscordChatExporter), ``answers.jsonl`` (the truth: gold
format plus spans, ``side_source`` "stated" / "levels" / null, and for error analysis the message's
``kind``, ``layout`` and the channel ``boilerplate`` lines stamped on it), ``labeling.sqlite``, ``market/orderbook_BTCUSDT.jsonl`` and
``market/orderbook_ETHUSDT.csv``, ``candles/<SYMBOL>-1m-<YYYY-MM-DD>.csv`` (Binance klines),
``social/posts.jsonl`` and ``memes/*.png`` with ``memes/labels.jsonl``.
"""

from trademl.demo.generate import DemoSummary, generate_demo_data
from trademl.demo.telegram_scale import write_telegram_export_at_scale

__all__ = ["DemoSummary", "generate_demo_data", "write_telegram_export_at_scale"]
