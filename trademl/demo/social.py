"""Forum posts about the market, some with a meme attached, about half rated 1-3 by a reader.

A post is composed from parts (:mod:`trademl.demo.social_styles`): a title that often says
nothing, one to three sentences that say the author's mood plainly, in slang, sarcastically, by
negating the other side, as a question or as a news headline, then casing, typos and cashtags as
people type them. Besides the fields the ingest reads, each line carries the truth for tests and
evaluation: ``mood`` (1-3, what the author meant), ``sarcastic`` and ``styles``; the ingest
reader keeps only its own fields, so the truth never reaches the lake a model trains from.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from trademl.demo.files import atomic_open
from trademl.demo.memes import Meme
from trademl.demo.social_styles import (
    ASSETS,
    BANKS,
    CORES,
    DAYS,
    EXCHANGES,
    FILLERS,
    GENERIC_TITLES,
    ISSUERS,
    KIND_MOVES,
    KIND_WEIGHTS,
    NEUTRAL,
    STYLE_WEIGHTS,
    SUPPORT,
    TYPOS,
    WHENS,
    Asset,
)

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
    "gold_bug_88",
    "thetagang",
    "ser_wen_lambo",
    "macro_mara",
    "pip_hunter",
    "degen_dave",
)
#: Words that only make sense about a coin (a spot ETF of gold exists, but not this one's news).
_COIN_ONLY = re.compile(
    r"ETF|lists|delist|upgrade|unlock|halving|mainnet|deposits|withdrawals|fund\b|HODL|wagmi"
)
_WORD = re.compile(r"[A-Za-z]{5,}")
_MOOD_NAMES = {1: "bearish", 2: "neutral", 3: "bullish"}


@dataclass(frozen=True)
class ComposedPost:
    """A post's text and the truth behind it."""

    title: str
    body: str
    mood: int  # 1 bearish, 2 neutral, 3 bullish: what the author means
    sarcastic: bool
    styles: tuple[str, ...]  # plain, slang, sarcasm, negation, question, news; then typo, lowercase


def _kind_of(template: str, style: str) -> str | None:
    if "{co}" in template:
        return "stock"
    if style == "slang" or _COIN_ONLY.search(template):
        return "coin"
    return None


def _price(asset: Asset, value: float, rng: random.Random) -> str:
    if asset.price >= 1_000:
        value = round(value / 50) * 50
        return rng.choice((f"{value:,.0f}", f"{value:.0f}", f"{value / 1000:.1f}k"))
    return f"{value:.{asset.decimals}f}"


def _slots(rng: random.Random, asset: Asset) -> dict[str, str]:
    stock = asset if asset.company else rng.choice([a for a in ASSETS if a.company])
    x = rng.randint(5, 90) + rng.randint(0, 9) / 10
    moves = KIND_MOVES[asset.kind]
    big = max(moves) / 100
    return {
        "a": rng.choice(asset.names),
        "co": stock.company,
        "cur": stock.currency,
        "lo": _price(asset, asset.price * (1 - rng.uniform(big / 12, big / 3)), rng),
        "lvl": _price(asset, asset.price * (1 + rng.uniform(-big / 40, big / 40)), rng),
        "hi": _price(asset, asset.price * (1 + rng.uniform(big / 12, big / 3)), rng),
        "p": f"{rng.choice(moves):g}",
        "p2": f"{rng.choice(moves[:4]):g}",
        "n": str(rng.randint(3, 14)),
        "day": rng.choice(DAYS),
        "when": rng.choice(WHENS),
        "ex": rng.choice(EXCHANGES),
        "issuer": rng.choice(ISSUERS),
        "bank": rng.choice(BANKS),
        "q": str(rng.randint(1, 4)),
        "rev": f"{rng.randint(2, 95)}.{rng.randint(0, 9)}",
        "x": f"{x:.1f}",
        "y": f"{x * rng.uniform(0.5, 0.9):.1f}",
        "pt": str(rng.randrange(20, 400, 5)),
        "jobs": f"{rng.randrange(200, 12_000, 50):,}",
    }


def _sentence(text: str, rng: random.Random, last: bool = True) -> str:
    """``text`` as typed: a capital or not, a full stop or not (always one before another)."""
    if text and text[-1].isalnum() and (not last or rng.random() < 0.6):
        text += rng.choice((".", ".", ".", "!")) if not last else rng.choice((".", ".", "!", "!!"))
    return text[:1].upper() + text[1:] if rng.random() < 0.35 else text


def _typo(text: str, rng: random.Random) -> str:
    words = [w for w in TYPOS if re.search(rf"\b{w}\b", text)]
    if words and rng.random() < 0.5:
        w = rng.choice(words)
        return re.sub(rf"\b{w}\b", TYPOS[w], text, count=1)
    found = list(_WORD.finditer(text))
    if not found:
        return text
    m = rng.choice(found)
    w, k = m.group(), rng.randrange(1, len(m.group()) - 2)
    slip = w[:k] + w[k + 1] + w[k] + w[k + 2 :] if rng.random() < 0.5 else w[:k] + w[k + 1 :]
    return text[: m.start()] + slip + text[m.end() :]


def compose_post(rng: random.Random, mood: int) -> ComposedPost:
    """One post by an author in ``mood``: title, body and which ways of saying it were used."""
    weights = STYLE_WEIGHTS[mood]
    style = rng.choices(list(weights), weights=list(weights.values()))[0]
    core = rng.choice(CORES[mood, style])
    layout = rng.choices(("generic", "one_liner", "headline", "two_cores"), (45, 15, 20, 20))[0]
    kind = _kind_of(core, style)
    styles = [style]
    second = None
    if layout == "two_cores":
        for _ in range(20):
            style2 = rng.choices(list(weights), weights=list(weights.values()))[0]
            second = rng.choice(CORES[mood, style2])
            kind2 = _kind_of(second, style2)
            if second != core and (None in (kind, kind2) or kind == kind2):
                kind = kind or kind2
                styles.append(style2)
                break
        else:
            layout, second = "headline", None
    pool = [a for a in ASSETS if a.kind == kind] if kind else list(ASSETS)
    asset = rng.choices(pool, weights=[KIND_WEIGHTS[a.kind] for a in pool])[0]
    slots = _slots(rng, asset)

    def fill(template: str, last: bool = True) -> str:
        return _sentence(template.format(**slots), rng, last)

    extras = []
    if rng.random() < 0.45:
        extras.append(rng.choice(SUPPORT[mood]))
    if rng.random() < 0.3:
        extras.append(rng.choice(FILLERS))
    if layout == "generic":
        title = rng.choice(GENERIC_TITLES).format(**slots)
        body = [core, *extras]
    elif layout == "one_liner":
        title, body = fill(core), []
    elif layout == "headline":
        title, body = fill(core), extras or [rng.choice(FILLERS + SUPPORT[mood])]
    else:
        title, body = fill(core), [second, *extras[:1]]
    body_text = " ".join(fill(s, k == len(body) - 1) for k, s in enumerate(body))
    if rng.random() < 0.08:
        styles.append("typo")
        if body_text:
            body_text = _typo(body_text, rng)
        else:
            title = _typo(title, rng)
    if rng.random() < 0.2:
        title, body_text, styles = title.lower(), body_text.lower(), [*styles, "lowercase"]
    sarcastic = "sarcasm" in styles
    return ComposedPost(title, body_text, mood, sarcastic, tuple(dict.fromkeys(styles)))


def write_social_posts(
    path: Path, *, seed: int, start_date: date, days: int, memes: list[Meme], n_posts: int = 1500
) -> tuple[int, int]:
    """``social/posts.jsonl``; returns (posts, rated posts).

    About a third of the posts carry a meme whose chart shows the author's mood, each post its
    own file while the pool lasts; a sarcastic post is likelier to carry one, and gets an ironic
    meme: the caption says what the words say, the chart what the author means."""
    rng = random.Random(f"{seed}/social")
    # images come from their own stream, so the words, ratings and authors of a seed stay as
    # they were before images followed sarcasm
    image_rng = random.Random(f"{seed}/social/images")
    pools: dict[tuple[str, bool], list[Meme]] = {}
    for meme in memes:
        pools.setdefault((meme.sentiment, meme.ironic), []).append(meme)
    attached: Counter[tuple[str, bool]] = Counter()
    t0 = datetime(start_date.year, start_date.month, start_date.day, tzinfo=UTC)
    times = sorted(rng.randrange(max(days, 1) * 86_400) for _ in range(n_posts))
    rated = 0
    with atomic_open(path) as fh:
        for k, sec in enumerate(times, 1):
            mood = rng.choices((1, 2, 3), weights=(30, 35, 35))[0]
            post = compose_post(rng, mood)
            image = None
            if mood != NEUTRAL and rng.random() < 0.25:
                # what an earlier version drew here to pick its image: kept, so a seed's posts
                # keep their words, ratings and authors
                rng.randrange(12)
            # a meme shows what the author means, also where the words say the opposite
            if image_rng.random() < (0.6 if post.sarcastic else 0.3):
                key = (_MOOD_NAMES[mood], post.sarcastic)
                pool = pools.get(key) or pools.get((key[0], False))
                if pool:
                    image = pool[attached[key] % len(pool)].file
                    attached[key] += 1
            # readers rate about half the posts; one in ten ratings disagrees with the author's
            # mood, and a reader who misses sarcasm rates what the words say
            rating = None
            if rng.random() < 0.5:
                rating = mood
                if rng.random() >= 0.9:
                    others = [r for r in (1, 2, 3) if r != mood]
                    literal = post.sarcastic and mood != NEUTRAL
                    rating = 4 - mood if literal else rng.choice(others)
                rated += 1
            record = {
                "post_id": f"p{k:06d}",
                "date": (t0 + timedelta(seconds=sec)).isoformat(),
                "author": rng.choice(_AUTHORS),
                "title": post.title,
                "body": post.body,
                "image": image,
                "rating": rating,
                "mood": post.mood,
                "sarcastic": post.sarcastic,
                "styles": list(post.styles),
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return n_posts, rated


def read_posts(path: Path) -> list[dict]:
    """The posts :func:`write_social_posts` wrote, truth fields included."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
