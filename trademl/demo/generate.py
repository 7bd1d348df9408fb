"""The demo desk's raw material in one call: chat exports, their answers, a labelling store,
order-book features, candles, forum posts and memes. Same seed, same bytes."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from trademl.demo.candles import write_candles
from trademl.demo.channels import CHANNELS, channel_messages
from trademl.demo.chat_exports import write_discord_export, write_telegram_export
from trademl.demo.files import atomic_open
from trademl.demo.labeling_store import write_labeling_store
from trademl.demo.market import simulate, write_features
from trademl.demo.memes import write_memes
from trademl.demo.social import read_posts, write_social_posts

log = logging.getLogger(__name__)

#: Which channels get a defective message on day one (chat exports are never perfectly clean).
_EMPTY_TEXT_CHANNELS = ("moon-rocket-signals", "quick-scalps", "kripto-signaly-pro", "signals")
_BAD_DATE_CHANNELS = ("cornix-pro-futures",)
#: Order-book symbols and the format each is written in (both formats exist on purpose).
MARKET_FORMATS = {"BTCUSDT": "jsonl", "ETHUSDT": "csv"}


@dataclass
class DemoSummary:
    """What :func:`generate_demo_data` wrote: counts per kind and the paths."""

    out_dir: Path
    seed: int
    days: int
    telegram_messages: int = 0  # "type": "message" entries, defects included
    telegram_service_messages: int = 0
    discord_messages: int = 0
    labels: dict[str, int] = field(
        default_factory=dict
    )  # answers per class (None: defect, no label)
    empty_text_messages: int = 0
    unparseable_date_messages: int = 0
    labeling_messages: int = 0
    labeling_labeled: int = 0
    market_rows: dict[str, int] = field(default_factory=dict)
    market_bad_rows: dict[str, int] = field(default_factory=dict)
    candle_rows: dict[str, int] = field(default_factory=dict)
    social_posts: int = 0
    social_rated: int = 0
    memes: int = 0
    paths: dict[str, list[Path]] = field(default_factory=dict)

    @property
    def chat_messages(self) -> int:
        return self.telegram_messages + self.discord_messages

    def to_dict(self) -> dict:
        out = asdict(self)
        out["out_dir"] = str(self.out_dir)
        out["paths"] = {k: [str(p) for p in v] for k, v in self.paths.items()}
        return out


def generate_demo_data(
    out_dir: str | Path,
    *,
    seed: int = 7,
    days: int = 4,
    messages_per_channel_per_day: int = 60,
    start_date: date = date(2026, 11, 1),
) -> DemoSummary:
    """Write the whole demo data set under ``out_dir`` (layout in the package docs)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = DemoSummary(out_dir=out, seed=seed, days=days)
    paths: dict[str, list[Path]] = {
        k: []
        for k in (
            "telegram",
            "discord",
            "answers",
            "labeling",
            "market",
            "candles",
            "social",
            "memes",
        )
    }
    answers: list[dict] = []
    for channel in CHANNELS:
        defects = {
            "empty_text": int(channel.slug in _EMPTY_TEXT_CHANNELS),
            "unparseable_date": int(
                channel.slug in _BAD_DATE_CHANNELS and channel.platform == "telegram"
            ),
        }
        messages = channel_messages(
            channel,
            seed=seed,
            start_date=start_date,
            days=days,
            per_day=messages_per_channel_per_day,
            defects=defects,
        )
        writer = write_telegram_export if channel.platform == "telegram" else write_discord_export
        path, lines = writer(out, channel, messages)
        paths[channel.platform].append(path)
        answers += lines
        service = sum(m.kind == "service" for m in messages)
        if channel.platform == "telegram":
            summary.telegram_messages += len(messages) - service
            summary.telegram_service_messages += service
        else:
            summary.discord_messages += len(messages)
    summary.empty_text_messages = sum(a["defect"] == "empty_text" for a in answers)
    summary.unparseable_date_messages = sum(a["defect"] == "unparseable_date" for a in answers)
    summary.labels = dict(sorted(Counter(str(a["label"]) for a in answers).items()))
    answers_path = out / "answers.jsonl"
    with atomic_open(answers_path) as fh:
        fh.writelines(json.dumps(a, ensure_ascii=False) + "\n" for a in answers)
    paths["answers"].append(answers_path)
    log.info(
        "demo chat: %d telegram + %d discord messages",
        summary.telegram_messages,
        summary.discord_messages,
    )

    for symbol, fmt in MARKET_FORMATS.items():
        price_path, features = simulate(symbol, seed=seed, start_date=start_date, days=days)
        market_file = out / "market" / f"orderbook_{symbol}.{fmt}"
        summary.market_bad_rows[symbol] = write_features(
            market_file, price_path, features, seed=seed, fmt=fmt
        )
        summary.market_rows[symbol] = len(price_path.price)
        paths["market"].append(market_file)
        candle_files = write_candles(out / "candles", price_path)
        summary.candle_rows[symbol] = len(price_path.price) // 12
        paths["candles"] += candle_files
    log.info(
        "demo market: %s rows, %s injected bad rows", summary.market_rows, summary.market_bad_rows
    )

    memes = write_memes(out, seed=seed)
    summary.memes = len(memes)
    paths["memes"] += [out / m.file for m in memes] + [out / "memes" / "labels.jsonl"]
    posts_path = out / "social" / "posts.jsonl"
    summary.social_posts, summary.social_rated = write_social_posts(
        posts_path, seed=seed, start_date=start_date, days=days, memes=memes
    )
    paths["social"].append(posts_path)

    # after the posts: a person's sentiment labels in the store are labels of those posts
    store = out / "labeling.sqlite"
    summary.labeling_messages, summary.labeling_labeled = write_labeling_store(
        store, seed=seed, start_date=start_date, days=days, posts=read_posts(posts_path)
    )
    paths["labeling"].append(store)
    summary.paths = paths
    return summary
