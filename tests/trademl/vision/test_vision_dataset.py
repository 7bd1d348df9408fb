"""The meme dataset: labels (a person's beats the rating), the sarcasm flag, the time split, and
every kind of bad image quarantined with its own reason while the good ones stay."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from trademl.vision.dataset import (
    COLUMNS,
    REASONS,
    build_meme_dataset,
    read_meme_dataset,
    write_meme_dataset,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _png(size: tuple[int, int] = (48, 48), seed: int = 0) -> bytes:
    """A noisy PNG (noise: its pixel data is long enough to cut or damage in the middle)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG")
    return buf.getvalue()


def _with_size(png: bytes, width: int, height: int) -> bytes:
    """``png`` whose header claims another size (the checksum fixed, so only the size lies)."""
    ihdr = bytearray(png[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
    return png[:16] + bytes(ihdr) + crc + png[33:]


def _post(k: int, image: str | None, rating: int | None = 3, text: str | None = None) -> dict:
    title = text or f"post number {k} about $BTC"
    return {
        "post_id": f"p{k:03d}",
        "date": T0 + timedelta(hours=k),
        "author": "someone",
        "title": title,
        "body": "",
        "image": image,
        "rating": rating,
        "text": title,
    }


@pytest.fixture()
def inbox(tmp_path: Path) -> Path:
    root = tmp_path / "inbox"
    memes = root / "memes"
    memes.mkdir(parents=True)
    for k in range(30):
        (memes / f"good_{k:02d}.png").write_bytes(_png(seed=k))
    good = _png((64, 64), seed=99)
    (memes / "truncated.png").write_bytes(good[: len(good) * 6 // 10])
    damaged = bytearray(good)
    middle = len(damaged) // 2
    damaged[middle : middle + 16] = bytes(b ^ 0xFF for b in damaged[middle : middle + 16])
    (memes / "corrupt.png").write_bytes(bytes(damaged))
    (memes / "notes.png").write_text("this is not a picture\n")
    buf = io.BytesIO()
    Image.new("L", (4097, 2)).save(buf, format="PNG")
    (memes / "huge.png").write_bytes(buf.getvalue())
    (memes / "bomb.png").write_bytes(_with_size(_png((8, 8)), 40_000, 40_000))
    (memes / "folder.png").mkdir()
    (tmp_path / "outside.png").write_bytes(_png(seed=5))
    return root


def _bad_posts(root: Path) -> tuple[list[dict], dict[str, str]]:
    cases = {
        "missing file": "memes/nowhere.png",
        "corrupt image": "memes/corrupt.png",
        "truncated image": "memes/truncated.png",
        "not an image": "memes/notes.png",
        "image too large": "memes/huge.png",
        "decompression bomb": "memes/bomb.png",
        "not a regular file": "memes/folder.png",
        "outside the image root": "../outside.png",
        "unusable path": "memes/bad\x00name.png",
    }
    posts = [_post(100 + k, image) for k, image in enumerate(cases.values())]
    # an absolute path elsewhere is the same traversal as a relative one
    posts.append(_post(120, str((root.parent / "outside.png").resolve())))
    expected = {p["post_id"]: reason for p, reason in zip(posts, cases, strict=False)}
    expected["p120"] = "outside the image root"
    return posts, expected


def test_bad_images_are_quarantined_with_distinct_reasons(inbox: Path) -> None:
    good = [_post(k, f"memes/good_{k:02d}.png") for k in range(5)]
    bad, expected = _bad_posts(inbox)
    table, quarantined, stats = build_meme_dataset(pd.DataFrame(good + bad), inbox)
    assert sorted(table["post_id"]) == [p["post_id"] for p in good]
    got = {q["post_id"]: q["reason"] for q in quarantined}
    assert got == expected
    assert set(got.values()) <= set(REASONS) and len(set(got.values())) == 9
    assert all(q["detail"] and q["image"] for q in quarantined)
    assert stats["quarantined"] == len(bad) and stats["items"] == len(good)
    assert stats["quarantined_per_reason"]["outside the image root"] == 2


def test_unlabelled_posts_and_posts_without_image_are_left_out_unopened(inbox: Path) -> None:
    posts = [
        _post(1, "memes/good_01.png"),
        _post(2, None),  # no image: not a meme
        _post(3, ""),
        _post(4, "memes/nowhere.png", rating=None),  # unlabelled: its image is never opened
    ]
    table, quarantined, stats = build_meme_dataset(pd.DataFrame(posts), inbox)
    assert table["post_id"].tolist() == ["p001"] and quarantined == []
    assert stats["posts_with_image"] == 2 and stats["labelled_with_image"] == 1


def test_human_label_beats_rating_and_carries_sarcasm(inbox: Path) -> None:
    posts = [
        _post(1, "memes/good_01.png", rating=3, text="to the moon they said"),
        _post(2, "memes/good_02.png", rating=1),
        _post(3, "memes/good_03.png", rating=None),  # labelled by a person only
        _post(4, str((inbox / "memes" / "good_04.png").resolve()), rating=2),  # absolute, inside
    ]
    human = pd.DataFrame(
        {
            "post_id": ["p001", "p003", "p999"],
            "label": ["bearish", "neutral", "bullish"],
            "sarcastic": [True, False, None],
            "labeled_at": ["2026-11-02 10:00:00"] * 3,
        }
    )
    table, quarantined, stats = build_meme_dataset(pd.DataFrame(posts), inbox, human)
    assert quarantined == [] and list(table.columns) == list(COLUMNS)
    rows = table.set_index("post_id")
    assert rows.loc["p001", ["label", "label_source"]].tolist() == ["bearish", "human"]
    assert rows.loc["p001", "sarcastic"] is True
    assert rows.loc["p002", ["label", "label_source"]].tolist() == ["bearish", "rating"]
    assert rows.loc["p002", "sarcastic"] is None
    assert rows.loc["p003", ["label", "sarcastic"]].tolist() == ["neutral", False]
    assert rows.loc["p004", "label"] == "neutral"
    assert rows.loc["p001", "caption"] == "to the moon they said"
    for path in table["image_path"]:
        assert Path(path).is_absolute() and Path(path).is_file()
    assert stats["sarcastic"] == 1 and stats["label_sources"]["human"] == 2


def test_split_is_by_time_and_one_split_per_text(inbox: Path) -> None:
    posts = [_post(k, f"memes/good_{k:02d}.png", rating=1 + k % 3) for k in range(20)]
    posts.append(_post(25, "memes/good_25.png", text=posts[0]["text"]))  # a repeat, newest
    table, _, stats = build_meme_dataset(
        pd.DataFrame(posts), inbox, validation_fraction=0.15, test_fraction=0.2
    )
    # 21 labelled: 14 / 3 / 4 by time, then the newest (a repeat of the oldest text) dropped
    assert stats["per_split"] == {"train": 14, "validation": 3, "test": 3}
    assert stats["duplicates_dropped"] == {"test": 1}
    order = {"train": 0, "validation": 1, "test": 2}
    ranked = table.sort_values("ts")["split"].map(order).tolist()
    assert ranked == sorted(ranked)
    assert sum(stats["per_class"]["train"].values()) == 14


def test_write_and_read_round_trip(inbox: Path, tmp_path: Path) -> None:
    posts = [_post(k, f"memes/good_{k:02d}.png") for k in range(6)]
    human = pd.DataFrame(
        {"post_id": ["p002"], "label": ["bearish"], "sarcastic": [True], "labeled_at": ["x"]}
    )
    table, _, _ = build_meme_dataset(pd.DataFrame(posts), inbox, human)
    path = write_meme_dataset(table, tmp_path / "exports" / "meme_dataset.parquet")
    back = read_meme_dataset(path)
    assert back["post_id"].tolist() == table["post_id"].tolist()
    assert back["sarcastic"].tolist() == table["sarcastic"].tolist()
    assert [p.name for p in path.parent.iterdir()] == ["meme_dataset.parquet"]  # no temp left


def test_an_empty_inbox_gives_an_empty_table(inbox: Path) -> None:
    table, quarantined, stats = build_meme_dataset(pd.DataFrame([_post(1, None)]), inbox)
    assert table.empty and list(table.columns) == list(COLUMNS) and quarantined == []
    assert stats["per_split"] == {"train": 0, "validation": 0, "test": 0}
