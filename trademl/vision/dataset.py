"""The meme dataset: forum posts with an image and a label, each image opened and verified.

One row per post (:data:`COLUMNS`): the absolute image path, the post text as the caption, the
label (a person's label in the labelling store beats the reader's rating, exactly as in
:mod:`trademl.sentiment.dataset`, whose split this reuses: by time, oldest train, newest test,
one split per text) and the store's sarcasm flag where a person gave one.

An image that cannot be trusted never reaches a model and never crashes a run: its post is
quarantined with the post id and one of :data:`REASONS` (and a detail). Images are opened with
Pillow and checked in this order: a path that is not usable text, a path that leaves the image
root (``../``, an absolute path elsewhere, a symlink out), a missing file, not a regular file, an
unreadable file, a file over :data:`MAX_FILE_BYTES`, not an image, a declared size beyond
:data:`MAX_PIXELS` (a decompression bomb: the header claims more pixels than any meme) or a side
beyond :data:`MAX_SIDE`, a file that ends before its pixels do (truncated), and one whose pixels
do not decode or whose checksums fail Pillow's ``verify`` (corrupt).
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image, UnidentifiedImageError

from trademl.errors import InputError
from trademl.sentiment.dataset import SPLITS, build_sentiment_dataset
from trademl.sentiment.labels import RATING_TO_LABEL, SENTIMENT_LABELS

COLUMNS = ("post_id", "ts", "image_path", "caption", "label", "label_source", "sarcastic", "split")
#: A meme is a few hundred pixels a side; anything past these is not one.
MAX_SIDE = 4096
MAX_PIXELS = 4096 * 4096
MAX_FILE_BYTES = 20 * 1024 * 1024
REASONS = (
    "unusable path",
    "outside the image root",
    "missing file",
    "not a regular file",
    "unreadable file",
    "file too large",
    "not an image",
    "decompression bomb",
    "image too large",
    "corrupt image",
    "truncated image",
)


class ImageRejected(Exception):
    """An image that fails a check: ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def resolve_image(image: Any, image_root: str | Path) -> Path:
    """The absolute path of a post's ``image`` (relative to ``image_root`` or absolute inside
    it), or :class:`ImageRejected` when it is not usable text or lies outside the root."""
    if not isinstance(image, str) or not image.strip() or "\x00" in image:
        raise ImageRejected("unusable path", f"image path {image!r} is not a usable path")
    root = Path(image_root).resolve()
    try:
        path = (root / image).resolve()  # an absolute ``image`` replaces the root here
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, an odd name
        raise ImageRejected("unusable path", f"{image!r}: {exc}") from None
    if not path.is_relative_to(root):
        raise ImageRejected("outside the image root", f"{image!r} resolves outside {root}")
    return path


def check_image(
    path: Path,
    *,
    max_side: int = MAX_SIDE,
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_FILE_BYTES,
) -> tuple[int, int]:
    """The (width, height) of the image at ``path`` once every check passed, else
    :class:`ImageRejected` with the first check that failed."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ImageRejected("missing file", f"{path} does not exist") from None
    except OSError as exc:
        raise ImageRejected("unreadable file", f"{path}: {exc.strerror or exc}") from None
    if not path.is_file():
        raise ImageRejected("not a regular file", f"{path} is not a regular file")
    if st.st_size > max_bytes:
        raise ImageRejected("file too large", f"{path}: {st.st_size:,} bytes > {max_bytes:,}")
    if not os.access(path, os.R_OK):
        raise ImageRejected("unreadable file", f"{path}: permission denied")
    with warnings.catch_warnings():
        # Pillow only warns between its limit and twice it; a bomb is an error here
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as img:
                width, height = img.size
                _check_size(path, width, height, max_side, max_pixels)
                img.load()  # every pixel decodes: a cut-off file fails here
            with Image.open(path) as img:  # verify() needs a fresh file and spoils the image
                img.verify()  # chunk checksums: bytes changed in place fail here
        except ImageRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected("decompression bomb", f"{path}: {exc}") from None
        except UnidentifiedImageError:
            raise ImageRejected("not an image", f"{path}: not a format Pillow reads") from None
        except PermissionError as exc:
            raise ImageRejected("unreadable file", f"{path}: {exc.strerror or exc}") from None
        except OSError as exc:
            reason = "truncated image" if "truncated" in str(exc) else "corrupt image"
            raise ImageRejected(reason, f"{path}: {exc}") from None
        except Exception as exc:  # Pillow's decoders also raise SyntaxError, struct.error...
            raise ImageRejected("corrupt image", f"{path}: {type(exc).__name__}: {exc}") from None
    return width, height


def _check_size(path: Path, width: int, height: int, max_side: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageRejected(
            "decompression bomb", f"{path}: {width}x{height} px declared, > {max_pixels:,} pixels"
        )
    if max(width, height) > max_side:
        raise ImageRejected("image too large", f"{path}: {width}x{height} px, > {max_side} a side")


def build_meme_dataset(
    posts: pd.DataFrame,
    image_root: str | Path,
    human: pd.DataFrame | None = None,
    *,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.2,
    max_side: int = MAX_SIDE,
    max_pixels: int = MAX_PIXELS,
) -> tuple[pd.DataFrame, list[dict[str, Any]], dict[str, Any]]:
    """``(table, quarantined, stats)`` from ingested posts (:func:`trademl.sentiment.dataset.
    load_posts`: post_id, date, text, rating, image) and the store's labels
    (:func:`trademl.sentiment.dataset.read_sentiment_labels`).

    ``table`` has :data:`COLUMNS`, one row per labelled post with a good image; ``quarantined``
    one dict per labelled post whose image failed (post_id, image, reason, detail); ``stats``
    the counts per split and class, label sources, quarantined per reason and sarcastic posts.
    Only labelled posts' images are opened: an unlabelled post is not in the dataset."""
    human_ids = set() if human is None or human.empty else set(human["post_id"].astype(str))
    has_image = posts["image"].map(lambda v: isinstance(v, str) and v != "")
    ratings = pd.to_numeric(posts["rating"], errors="coerce")
    labelled = posts["post_id"].astype(str).isin(human_ids) | ratings.isin(list(RATING_TO_LABEL))
    candidates = posts[has_image & labelled]
    quarantined: list[dict[str, Any]] = []
    resolved: dict[str, str] = {}
    for rec in candidates.itertuples(index=False):
        try:
            path = resolve_image(rec.image, image_root)
            check_image(path, max_side=max_side, max_pixels=max_pixels)
        except ImageRejected as exc:
            quarantined.append(
                {
                    "post_id": str(rec.post_id),
                    "image": rec.image,
                    "reason": exc.reason,
                    "detail": exc.detail,
                }
            )
            continue
        resolved[str(rec.post_id)] = str(path)
    good = candidates[candidates["post_id"].astype(str).isin(resolved)]
    table, split_stats = build_sentiment_dataset(
        good, human, validation_fraction=validation_fraction, test_fraction=test_fraction
    )
    table = table[table["split"].isin(SPLITS)].reset_index(drop=True)
    table["image_path"] = table["post_id"].astype(str).map(resolved)
    table = table.rename(columns={"text": "caption"})
    table["sarcastic"] = [None if pd.isna(v) else bool(v) for v in table["sarcastic"]]
    table = table[list(COLUMNS)]
    stats: dict[str, Any] = {
        "posts": len(posts),
        "posts_with_image": int(has_image.sum()),
        "labelled_with_image": len(candidates),
        "items": len(table),
        "quarantined": len(quarantined),
        "quarantined_per_reason": dict(Counter(q["reason"] for q in quarantined)),
        "per_split": {s: int((table["split"] == s).sum()) for s in SPLITS},
        "per_class": {
            s: {
                c: int(((table["split"] == s) & (table["label"] == c)).sum())
                for c in SENTIMENT_LABELS
            }
            for s in SPLITS
        },
        "label_sources": split_stats["label_sources"],
        "sarcastic": int(sum(v is True for v in table["sarcastic"])),
        "duplicates_dropped": split_stats["duplicates_dropped"],
        "split_start": split_stats["split_start"],
    }
    return table, quarantined, stats


def write_meme_dataset(table: pd.DataFrame, path: str | Path) -> Path:
    """The table as Parquet, replaced atomically."""
    from trademl.lake import atomic_path, lake_path

    path = lake_path(path, "meme dataset")
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
    return path


def read_meme_dataset(path: str | Path) -> pd.DataFrame:
    """The table :func:`write_meme_dataset` wrote (``sarcastic`` back to True/False/None)."""
    from trademl.lake import lake_path, read_parquet

    path = lake_path(path, "meme dataset")
    if not path.is_file():
        raise InputError(str(path), "no meme dataset", "materialize meme_dataset first")
    try:
        table = read_parquet(path)
    except Exception as exc:  # pyarrow raises its own errors for bytes that are not Parquet
        raise InputError(
            str(path),
            f"not a readable Parquet file ({type(exc).__name__}: {exc})",
            "materialize meme_dataset again",
        ) from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InputError(str(path), f"not a meme dataset: no column(s) {missing}")
    table["sarcastic"] = [None if pd.isna(v) else bool(v) for v in table["sarcastic"]]
    return table
