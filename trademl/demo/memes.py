"""Small meme images: a rising or falling chart with a caption, and their sentiment labels."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from trademl.demo.files import atomic_open

SIZE = 96
BULLISH_CAPTIONS = (
    "TO THE MOON",
    "WAGMI",
    "BUY THE DIP",
    "SEND IT",
    "BULLS ARE BACK",
    "HODL",
    "NUMBER GO UP",
    "LFG",
    "ALT SEASON",
    "GREEN DILDO",
    "ATH SOON",
    "PUMP IT",
)
BEARISH_CAPTIONS = (
    "REKT",
    "NGMI",
    "SELL IT ALL",
    "ITS OVER",
    "BEAR MARKET",
    "LIQUIDATED",
    "RUG PULL",
    "CAPITULATION",
    "DUMP INCOMING",
    "BAGHOLDER",
    "TO ZERO",
    "FUNDS GONE",
)


@dataclass(frozen=True)
class Meme:
    file: str  # relative to the output directory, e.g. memes/bullish_01.png
    caption: str
    sentiment: str  # bullish or bearish


def _draw(rng: random.Random, caption: str, bullish: bool) -> Image.Image:
    bg = (rng.randrange(10, 40), rng.randrange(10, 40), rng.randrange(20, 60))
    img = Image.new("RGB", (SIZE, SIZE), bg)
    draw = ImageDraw.Draw(img)
    up, down = (38, 194, 129), (239, 83, 80)
    n = rng.randint(6, 10)
    level = 70.0 if bullish else 20.0
    slope = -(50.0 / n) if bullish else (50.0 / n)
    if rng.random() < 0.5:  # candles
        width = (SIZE - 8) // n
        for k in range(n):
            o = level + rng.uniform(-4, 4)
            c = o + slope + rng.uniform(-3, 3)
            x = 4 + k * width
            color = up if c < o else down  # y grows downwards: a lower y is a higher price
            draw.line(
                [(x + width // 2, min(o, c) - 4), (x + width // 2, max(o, c) + 4)], fill=color
            )
            draw.rectangle([x + 1, min(o, c), x + width - 2, max(o, c) + 1], fill=color)
            level = c
    else:  # a line chart
        points = []
        for k in range(n + 1):
            points.append((4 + k * (SIZE - 8) / n, level))
            level += slope + rng.uniform(-5, 5)
        draw.line(points, fill=up if bullish else down, width=2)
    font = ImageFont.load_default(size=11)
    box = draw.textbbox((0, 0), caption, font=font)
    x = max(1, (SIZE - (box[2] - box[0])) // 2)
    draw.rectangle([0, SIZE - 16, SIZE, SIZE], fill=(0, 0, 0))
    draw.text((x, SIZE - 15), caption, fill=(255, 255, 255), font=font)
    return img


def write_memes(out_dir: Path, *, seed: int) -> list[Meme]:
    """``memes/*.png`` (24 images) and ``memes/labels.jsonl``."""
    rng = random.Random(f"{seed}/memes")
    memes: list[Meme] = []
    for sentiment, captions in (("bullish", BULLISH_CAPTIONS), ("bearish", BEARISH_CAPTIONS)):
        for k, caption in enumerate(captions, 1):
            meme = Meme(f"memes/{sentiment}_{k:02d}.png", caption, sentiment)
            with atomic_open(out_dir / meme.file, "wb") as fh:
                _draw(rng, caption, sentiment == "bullish").save(fh, format="PNG")
            memes.append(meme)
    with atomic_open(out_dir / "memes" / "labels.jsonl") as fh:
        for meme in memes:
            fh.write(
                json.dumps(
                    {"file": meme.file, "caption": meme.caption, "sentiment": meme.sentiment}
                )
                + "\n"
            )
    return memes
