"""Forum posts about the market, some with a meme attached, about half rated 1-3 by a reader."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from trademl.demo.files import atomic_open
from trademl.demo.memes import Meme

_COINS = ("BTC", "ETH", "SOL", "XRP", "DOGE", "gold")
_TITLES = {
    3: (
        "{c} is about to explode 🚀",
        "Why I'm loading up on {c}",
        "{c} breakout confirmed?",
        "Bull flag on {c} daily",
        "Accumulation phase is over for {c}",
    ),
    2: (
        "{c} weekly outlook",
        "What are you watching on {c}?",
        "Range trading {c} this week",
        "Question about {c} funding",
        "{c} chop, any ideas?",
    ),
    1: (
        "{c} is going to crash",
        "Get out of {c} while you can",
        "{c} bear flag forming",
        "Lost 40% on {c} this week",
        "Top is in for {c}",
    ),
}
_BODIES = {
    3: (
        "Volume is rising and we just reclaimed the 200 MA. Targeting +{p}% from here.",
        "Whales keep buying every dip. I'm long with a tight stop, holding for {p}%.",
        "Funding is neutral, OI climbing, spot leading. This looks like the start of a move up.",
    ),
    2: (
        "Price has been stuck in the same range for {d} days. Waiting for a clear break.",
        "Not sure about direction here. CPI next week could move it {p}% either way.",
        "Sitting on my hands until the range resolves. Anyone have levels?",
    ),
    1: (
        "Lower highs for {d} days straight and volume is dying. Expect another -{p}%.",
        "Exchange inflows spiking, longs overcrowded. I closed everything and I'm short.",
        "Support broke this morning. Next stop is {p}% lower, be careful out there.",
    ),
}
_AUTHORS = (
    "chartwizard",
    "bagholder_99",
    "Nakamoto_Jr",
    "fx_ninja",
    "moonmathmike",
    "sara_trades",
    "grumpy_bear",
    "bullrun2026",
    "lurker",
    "quant_kid",
    "ta_is_astrology",
    "deepvalue",
)


def write_social_posts(
    path: Path, *, seed: int, start_date: date, days: int, memes: list[Meme], n_posts: int = 300
) -> tuple[int, int]:
    """``social/posts.jsonl``; returns (posts, rated posts)."""
    rng = random.Random(f"{seed}/social")
    by_sentiment = {s: [m for m in memes if m.sentiment == s] for s in ("bullish", "bearish")}
    t0 = datetime(start_date.year, start_date.month, start_date.day, tzinfo=UTC)
    times = sorted(rng.randrange(max(days, 1) * 86_400) for _ in range(n_posts))
    rated = 0
    with atomic_open(path) as fh:
        for k, sec in enumerate(times, 1):
            mood = rng.choices((1, 2, 3), weights=(30, 35, 35))[0]
            coin = rng.choice(_COINS)
            fill = {"c": coin, "p": rng.choice((5, 8, 12, 20, 30)), "d": rng.randint(3, 14)}
            image = None
            if mood != 2 and rng.random() < 0.25:
                pool = by_sentiment["bullish" if mood == 3 else "bearish"]
                image = rng.choice(pool).file if pool else None
            # readers rate about half the posts; one in ten ratings disagrees with the author's mood
            rating = None
            if rng.random() < 0.5:
                rating = (
                    mood if rng.random() < 0.9 else rng.choice([r for r in (1, 2, 3) if r != mood])
                )
                rated += 1
            post = {
                "post_id": f"p{k:06d}",
                "date": (t0 + timedelta(seconds=sec)).isoformat(),
                "author": rng.choice(_AUTHORS),
                "title": rng.choice(_TITLES[mood]).format(**fill),
                "body": rng.choice(_BODIES[mood]).format(**fill),
                "image": image,
                "rating": rating,
            }
            fh.write(json.dumps(post, ensure_ascii=False) + "\n")
    return n_posts, rated
