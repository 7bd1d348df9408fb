"""Small meme images whose picture carries the mood: a price chart with a caption band.

The chart's direction is the evidence: a rising line, mostly green candles or an up arrow is
bullish, a falling one bearish, a flat range (often grey, between two range lines) neutral. No
single pixel statistic gives it away: a fifth of the images are grayscale (direction alone), some
are drawn in a colour that means nothing (white, cyan, navy...), some show only a short stretch
of chart, and the position, scale, thickness, background, grid and chart kind (line, area,
candles) vary. Bullish and bearish charts also get a distracting horizontal line now and then.

An *ironic* meme puts a caption of the other side over its chart ("TO THE MOON" over a crash):
what a sarcastic post attaches. Its ``sentiment`` is what the chart shows (the author's mood),
``caption_sentiment`` what the words literally say; a caption-only reader gets it backwards.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from trademl.demo.files import atomic_open

SIZE = 96
MOODS = ("bearish", "neutral", "bullish")
CAPTIONS = {
    "bullish": (
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
    ),
    "bearish": (
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
    ),
    "neutral": (
        "CRAB MARKET",
        "SIDEWAYS",
        "WAKE ME UP",
        "NOTHING HAPPENS",
        "RANGE BOUND",
        "CHOP CHOP",
        "ZZZ",
        "BORING",
        "STILL WAITING",
        "FLAT AGAIN",
        "NO VOLUME",
        "SAME LEVEL",
    ),
}
#: The literal mood of an ironic meme's caption, per chart mood (a flat chart gets hype).
IRONIC_CAPTION = {"bearish": "bullish", "bullish": "bearish", "neutral": "bullish"}
#: Images per chart mood: enough that no two imaged demo posts share a file (at most 130 sincere
#: and 60 ironic ones are attached per mood), so a time split never sees one image twice.
SINCERE_PER_MOOD = 150
IRONIC_PER_MOOD = 64
#: How the chart is drawn, and how often: mood colours, grayscale (direction alone), a short
#: stretch in mood colours, or a colour that says nothing about the mood.
STYLES = {"colour": 50, "grayscale": 20, "short": 15, "plain": 15}

_UP = ((38, 194, 129), (0, 200, 83), (76, 175, 80), (46, 204, 113))
_DOWN = ((239, 83, 80), (229, 57, 53), (255, 82, 82), (200, 40, 40))
_FLAT = ((150, 150, 150), (170, 170, 180), (120, 130, 140), (140, 150, 170))
_PLAIN_ON_DARK = ((235, 235, 235), (80, 200, 230), (240, 200, 60), (120, 150, 240))
_PLAIN_ON_LIGHT = ((30, 30, 30), (40, 60, 160), (120, 40, 140), (20, 110, 130))


@dataclass(frozen=True)
class Meme:
    file: str  # relative to the output directory, e.g. memes/bullish_001.png
    caption: str
    sentiment: str  # what the chart shows: bullish, neutral or bearish
    caption_sentiment: str = ""  # what the caption literally says ("" = same as sentiment)
    style: str = ""  # colour, grayscale, short or plain

    @property
    def ironic(self) -> bool:
        return bool(self.caption_sentiment) and self.caption_sentiment != self.sentiment


@lru_cache(maxsize=1)
def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=11)


def _jitter(rng: random.Random, colour: tuple[int, int, int], by: int = 15) -> tuple[int, ...]:
    return tuple(min(255, max(0, c + rng.randint(-by, by))) for c in colour)


def _series(rng: random.Random, mood: str, n: int) -> list[float]:
    """``n + 1`` prices in [0, 1] (1 = the top of the chart) that move the way ``mood`` says."""
    if mood == "neutral":
        level, drift = rng.uniform(0.3, 0.7), rng.uniform(-0.04, 0.04)
        amp, cycles, phase = rng.uniform(0.04, 0.1), rng.randint(2, 4), rng.uniform(0, 2 * math.pi)
        values = [
            level + drift * k / n + amp * math.sin(phase + 2 * math.pi * cycles * k / n)
            for k in range(n + 1)
        ]
    else:
        start, rise = rng.uniform(0.05, 0.3), rng.uniform(0.45, 0.85)
        wiggle = rng.uniform(0.02, 0.07)
        values = [start + rise * k / n + rng.gauss(0, wiggle) for k in range(n + 1)]
        if mood == "bearish":
            values = [1 - v for v in values]
    return [min(0.98, max(0.02, v)) for v in values]


def _arrow(draw: ImageDraw.ImageDraw, mood: str, box: tuple[int, int, int, int], colour, size: int):
    """An up arrow top right (bullish), a down arrow bottom right, a flat double arrow mid right."""
    x0, y0, x1, y1 = box
    cx, half = x1 - size, size // 2
    shaft = max(1, size // 5)
    if mood == "neutral":
        cx, cy = x1 - size - half, (y0 + y1) // 2
        draw.rectangle([cx - size, cy - shaft, cx + size, cy + shaft], fill=colour)
        draw.polygon(
            [(cx - size - half, cy), (cx - size, cy - half), (cx - size, cy + half)], colour
        )
        draw.polygon(
            [(cx + size + half, cy), (cx + size, cy - half), (cx + size, cy + half)], colour
        )
        return
    tip, base = (y0 + 1, y0 + size + 1) if mood == "bullish" else (y1 - 1, y1 - size - 1)
    tail = base + size if mood == "bullish" else base - size
    draw.rectangle([cx - shaft, min(base, tail), cx + shaft, max(base, tail)], fill=colour)
    draw.polygon([(cx, tip), (cx - half - 1, base), (cx + half + 1, base)], fill=colour)


def _draw(rng: random.Random, caption: str, mood: str, style: str) -> Image.Image:
    light = rng.random() < 0.3
    bg = (
        _jitter(rng, (rng.randint(215, 245),) * 3, 8)
        if light
        else (rng.randrange(10, 40), rng.randrange(10, 40), rng.randrange(20, 60))
    )
    if rng.random() < 0.5:  # sensor-like noise on half: no background is one exact colour
        noise = np.random.default_rng(rng.getrandbits(32)).integers(-4, 5, (SIZE, SIZE, 1))
        pixels = np.clip(np.asarray(bg, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
        img = Image.fromarray(pixels, "RGB")
    else:
        img = Image.new("RGB", (SIZE, SIZE), bg)
    draw = ImageDraw.Draw(img)
    band_top = rng.random() < 0.7
    y0, y1 = (
        (rng.randint(20, 26), rng.randint(86, 92))
        if band_top
        else (rng.randint(3, 8), rng.randint(70, 76))
    )
    # the chart keeps off the outer 4 columns: there the background shows on every image
    x0, x1 = rng.randint(6, 12), rng.randint(84, 89)
    if style == "short":
        width = rng.randint(34, 52)
        x0 = rng.randint(6, 89 - width)
        x1 = x0 + width
    if rng.random() < 0.5:  # a faint grid, below any chart's contrast
        grid = tuple(c + (14 if not light else -14) for c in bg)
        step = rng.randint(12, 20)
        for y in range(y0, y1, step):
            draw.line([(0, y), (SIZE, y)], fill=grid)
        for x in range(x0, x1, step):
            draw.line([(x, y0), (x, y1)], fill=grid)
    palette = {"bullish": _UP, "bearish": _DOWN, "neutral": _FLAT}[mood]
    if style == "plain":
        palette = _PLAIN_ON_LIGHT if light else _PLAIN_ON_DARK
    colour = _jitter(rng, rng.choice(palette))
    height = y1 - y0

    def to_y(v: float) -> float:
        return y1 - v * height

    kind = rng.choices(("line", "area", "candles"), (45, 20, 35))[0]
    n = rng.randint(6, 12) if kind == "candles" else rng.randint(8, 22)
    values = _series(rng, mood, n)
    if mood == "neutral" or rng.random() < 0.2:  # range lines; on a trend, a distraction
        muted = _jitter(rng, (110, 110, 120) if not light else (150, 150, 150), 10)
        levels = (min(values), max(values)) if mood == "neutral" else (rng.uniform(0.3, 0.7),)
        for v in levels:
            for x in range(x0, x1, 6):
                draw.line([(x, to_y(v)), (min(x + 3, x1), to_y(v))], fill=muted)
    if kind == "candles":
        step = (x1 - x0) / n
        up = _jitter(rng, rng.choice(_UP)) if style not in ("plain",) else colour
        down = _jitter(rng, rng.choice(_DOWN)) if style not in ("plain",) else colour
        for k in range(n):
            o, c = values[k], values[k + 1]
            if mood == "neutral" and style != "plain":
                fill = colour
            else:
                fill = up if c >= o else down
            left = x0 + k * step
            mid = left + step / 2
            top, bottom = to_y(max(o, c)), to_y(min(o, c))
            wick = rng.uniform(1, 5)
            draw.line([(mid, top - wick), (mid, bottom + wick)], fill=fill)
            draw.rectangle(
                [left + 1, top, left + max(step - 2, 2), max(bottom, top + 1)], fill=fill
            )
    else:
        xs = [x0 + k * (x1 - x0) / n for k in range(n + 1)]
        points = [(x, to_y(v)) for x, v in zip(xs, values, strict=True)]
        if kind == "area":
            shade = tuple(int(0.45 * c + 0.55 * b) for c, b in zip(colour, bg, strict=True))
            draw.polygon([*points, (x1, y1), (x0, y1)], fill=shade)
        draw.line(points, fill=colour, width=rng.randint(1, 4))
    if rng.random() < 0.35:
        size = min(rng.randint(8, 13), (x1 - x0) // 4)
        _arrow(draw, mood, (x0, y0, x1, y1), colour, size)
    font = _font()
    box = draw.textbbox((0, 0), caption, font=font)
    tx = max(1, (SIZE - (box[2] - box[0])) // 2)
    ty = 1 if band_top else SIZE - 15
    if rng.random() < 0.6:
        draw.rectangle([0, ty - 1, SIZE, ty + 14], fill=(0, 0, 0))
        draw.text((tx, ty), caption, fill=(255, 255, 255), font=font)
    else:  # impact-style: white letters with a black outline straight on the picture
        draw.text(
            (tx, ty),
            caption,
            fill=(255, 255, 255),
            font=font,
            stroke_width=1,
            stroke_fill=(0, 0, 0),
        )
    if style == "grayscale":
        img = img.convert("L").convert("RGB")
    return img


def write_memes(out_dir: Path, *, seed: int) -> list[Meme]:
    """``memes/*.png`` (:data:`SINCERE_PER_MOOD` + :data:`IRONIC_PER_MOOD` per mood) and
    ``memes/labels.jsonl`` (file, caption, sentiment, caption_sentiment, style)."""
    rng = random.Random(f"{seed}/memes")
    memes: list[Meme] = []
    for mood in MOODS:
        for k in range(SINCERE_PER_MOOD + IRONIC_PER_MOOD):
            ironic = k >= SINCERE_PER_MOOD
            said = IRONIC_CAPTION[mood] if ironic else mood
            name = (
                f"{mood}_ironic_{k - SINCERE_PER_MOOD + 1:03d}" if ironic else f"{mood}_{k + 1:03d}"
            )
            style = rng.choices(list(STYLES), weights=list(STYLES.values()))[0]
            meme = Meme(f"memes/{name}.png", rng.choice(CAPTIONS[said]), mood, said, style)
            with atomic_open(out_dir / meme.file, "wb") as fh:
                _draw(rng, meme.caption, mood, style).save(fh, format="PNG", compress_level=1)
            memes.append(meme)
    with atomic_open(out_dir / "memes" / "labels.jsonl") as fh:
        for meme in memes:
            record = {
                "file": meme.file,
                "caption": meme.caption,
                "sentiment": meme.sentiment,
                "caption_sentiment": meme.caption_sentiment,
                "style": meme.style,
            }
            fh.write(json.dumps(record) + "\n")
    return memes
