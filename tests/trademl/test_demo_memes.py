"""Demo memes: the picture carries the mood (the chart's direction, read here from the pixels),
sarcastic posts carry a picture that contradicts their words, same seed same bytes, and fast."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trademl.demo.memes import MOODS, SIZE, write_memes
from trademl.demo.social import read_posts, write_social_posts
from trademl.sentiment.labels import RATING_TO_LABEL

START = date(2026, 11, 1)
#: Rows between the caption bands, whichever edge the band is on.
CHART_ROWS = slice(18, 78)


def _write(root: Path, seed: int = 7) -> tuple[list[dict], list[dict], float]:
    started = time.perf_counter()
    memes = write_memes(root, seed=seed)
    elapsed = time.perf_counter() - started
    write_social_posts(root / "posts.jsonl", seed=seed, start_date=START, days=4, memes=memes)
    labels = [json.loads(line) for line in (root / "memes" / "labels.jsonl").open()]
    return labels, read_posts(root / "posts.jsonl"), elapsed


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], list[dict], float]:
    root = tmp_path_factory.mktemp("memes")
    return (root, *_write(root))


def _rise(path: Path) -> float:
    """How far the ink climbs per column, left to right (> 0: up, < 0: down), from a line fitted
    through the pixels that differ from the background (read in the outer columns)."""
    with Image.open(path) as img:
        pixels = np.asarray(img.convert("RGB"), dtype=np.int16)[CHART_ROWS]
    edges = np.concatenate([pixels[:, :3], pixels[:, -3:]], axis=1).reshape(-1, 3)
    ink = np.abs(pixels - np.median(edges, axis=0)).sum(axis=2) > 60
    rows, cols = np.nonzero(ink)
    return -float(np.polyfit(cols, rows, 1)[0])  # image rows grow downwards


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted((root / "memes").glob("*")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_and_fast(demo, tmp_path: Path) -> None:
    root, labels, posts, elapsed = demo
    assert elapsed < 2.0, f"{len(labels)} memes took {elapsed:.2f} s"
    again, posts_again, _ = _write(tmp_path / "a")
    assert _digest(tmp_path / "a") == _digest(root) and posts_again == posts
    _write(tmp_path / "b", seed=8)
    assert _digest(tmp_path / "b") != _digest(root)


def test_every_mood_has_sincere_and_ironic_images(demo) -> None:
    root, labels, _, _ = demo
    kinds = Counter((m["sentiment"], m["sentiment"] != m["caption_sentiment"]) for m in labels)
    assert all(kinds[mood, ironic] >= 50 for mood in MOODS for ironic in (False, True))
    assert Counter(m["style"] for m in labels).keys() == {"colour", "grayscale", "short", "plain"}
    for meme in labels[::37]:
        with Image.open(root / meme["file"]) as img:
            assert img.format == "PNG" and img.size == (SIZE, SIZE)
            if meme["style"] == "grayscale":
                rgb = np.asarray(img.convert("RGB"))
                assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()


def test_the_chart_direction_is_the_mood(demo) -> None:
    root, labels, _, _ = demo
    rises = {m["file"]: _rise(root / m["file"]) for m in labels}

    def read(rise: float) -> str:
        return "bullish" if rise > 0.12 else "bearish" if rise < -0.12 else "neutral"

    right = Counter((m["style"], read(rises[m["file"]]) == m["sentiment"]) for m in labels)
    for style in ("colour", "grayscale", "short", "plain"):  # colourless ones too
        assert right[style, True] >= 0.9 * (right[style, True] + right[style, False]), right
    by_mood = {mood: [rises[m["file"]] for m in labels if m["sentiment"] == mood] for mood in MOODS}
    assert np.median(by_mood["bullish"]) > 0.25 and np.median(by_mood["bearish"]) < -0.25
    assert abs(np.median(by_mood["neutral"])) < 0.05


def test_posts_of_every_mood_carry_the_picture_of_their_true_mood(demo) -> None:
    _, labels, posts, _ = demo
    memes = {m["file"]: m for m in labels}
    with_image = [p for p in posts if p["image"]]
    assert 0.28 * len(posts) <= len(with_image) <= 0.42 * len(posts)
    assert Counter(p["mood"] for p in with_image).keys() == {1, 2, 3}
    assert len({p["image"] for p in with_image}) == len(with_image)  # no file on two posts
    for p in with_image:
        meme = memes[p["image"]]
        assert meme["sentiment"] == RATING_TO_LABEL[p["mood"]]
        assert (meme["caption_sentiment"] != meme["sentiment"]) == p["sarcastic"]


def test_sarcastic_posts_images_contradict_their_words(demo) -> None:
    _, labels, posts, _ = demo
    memes = {m["file"]: m for m in labels}
    with_image = [p for p in posts if p["image"]]
    sarcastic = [p for p in with_image if p["sarcastic"]]
    assert len(sarcastic) >= 0.15 * len(with_image)
    for p in sarcastic:
        if p["mood"] == 2:
            continue  # a bored sarcastic post: its words are hype over a flat chart
        literal = RATING_TO_LABEL[4 - p["mood"]]  # what a sarcastic post's words say
        meme = memes[p["image"]]
        assert meme["sentiment"] != literal and meme["caption_sentiment"] == literal
