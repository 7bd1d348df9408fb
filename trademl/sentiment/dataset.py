"""The sentiment dataset: ingested forum posts with their labels, a time-based split, and the
unlabelled remainder kept for active learning and pseudo-labels.

Labels, strongest source first (one per post, never mixed):

- ``human``: a person's label in the labelling store's ``sentiment_labels`` table (post_id,
  label, sarcastic, labeled_at; when a post was labelled twice the latest wins);
- ``rating``: the reader's 1-3 rating on the post (1 bearish, 2 neutral, 3 bullish);
- ``pseudo``: a confident prediction of an earlier model on a post nobody labelled
  (trademl.sentiment.continual.pseudo_labels). Pseudo-labels only ever join the train split,
  only for posts older than the validation split, and never replace a human or rating label.

The split is by time over the human/rating-labelled posts: the oldest train, the newest test, so a
model is scored on posts from after the ones it learnt from. A text (whitespace- and
case-normalised) lands in one split only, the split of its first occurrence: later repeats are
dropped and counted; an unlabelled post whose text is also a labelled one is dropped from the pool
(counted), so active learning never asks for a label the desk already has.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from trademl.errors import InputError
from trademl.lake import lake_path, read_parquet
from trademl.sentiment.labels import (
    HUMAN,
    PSEUDO,
    RATING,
    RATING_TO_LABEL,
    SENTIMENT_LABELS,
    check_label,
    post_text,
)

SPLITS = ("train", "validation", "test")
UNLABELLED = "unlabelled"
COLUMNS = (
    "post_id",
    "ts",
    "text",
    "label",
    "label_source",
    "split",
    "rating",
    "sarcastic",
    "image",
)


def load_posts(lake) -> pd.DataFrame:
    """Every ingested day of ``social_posts`` (a :class:`trademl.lake.Lake`), one frame with a
    ``text`` column (title and body); a post id seen on two days keeps its latest copy."""
    days = lake.partitions("raw", "social_posts")
    if not days:
        raise InputError(
            str(lake.root / "raw" / "social_posts"),
            "no social_posts partitions",
            "materialize social_posts first",
        )
    frame = pd.concat([read_parquet(lake.raw("social_posts", d)) for d in days], ignore_index=True)
    frame = frame.sort_values("date", kind="stable").drop_duplicates("post_id", keep="last")
    frame["text"] = [post_text(t, b) for t, b in zip(frame["title"], frame["body"], strict=True)]
    return frame.reset_index(drop=True)


def read_sentiment_labels(
    url: str, table: str = "sentiment_labels"
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """``(labels, rejected)`` from the labelling store: one row per post (post_id, label,
    sarcastic, labeled_at), the latest label winning; rows whose label is not one of
    :data:`SENTIMENT_LABELS` are rejected with the reason, never silently dropped. A store
    without the table has no sentiment labels yet (an empty frame, not an error)."""
    import sqlalchemy as sa

    from trademl.ingest.messages import _mask_url

    empty = pd.DataFrame(columns=["post_id", "label", "sarcastic", "labeled_at"])
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(table):
                return empty, []
            # a stable sort of the rows in table order: equal labeled_at keeps insertion order
            rows = conn.execute(
                sa.text(f"SELECT post_id, label, sarcastic, labeled_at FROM {table}")
            ).fetchall()
        rows = sorted(rows, key=lambda r: str(r[3] or ""))
    except sa.exc.SQLAlchemyError as exc:
        raise InputError(
            _mask_url(url),
            f"cannot read sentiment labels from {table}: {exc.args[0] if exc.args else exc}",
        ) from None
    latest: dict[str, dict[str, Any]] = {}
    rejected = []
    for post_id, label, sarcastic, labeled_at in rows:
        if post_id in (None, ""):
            rejected.append({"post_id": post_id, "label": label, "reason": "no post_id"})
            continue
        try:
            label = check_label(label)
        except ValueError as exc:
            rejected.append({"post_id": str(post_id), "label": label, "reason": str(exc)})
            continue
        latest[str(post_id)] = {
            "post_id": str(post_id),
            "label": label,
            "sarcastic": None if sarcastic is None else bool(sarcastic),
            "labeled_at": str(labeled_at),
        }
    if not latest:
        return empty, rejected
    return pd.DataFrame(list(latest.values())), rejected


def build_sentiment_dataset(
    posts: pd.DataFrame,
    human: pd.DataFrame | None = None,
    pseudo: pd.DataFrame | None = None,
    *,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.2,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The dataset table (:data:`COLUMNS`; ``split`` one of train/validation/test/unlabelled)
    and its stats (class counts per split, label sources, drops)."""
    from trademl.signals.datasets import text_key

    if not 0 <= validation_fraction < 1 or not 0 < test_fraction < 1:
        raise ValueError("validation_fraction must be in [0, 1) and test_fraction in (0, 1)")
    if validation_fraction + test_fraction >= 1:
        raise ValueError("validation_fraction + test_fraction must leave a train split")
    frame = posts.sort_values("date", kind="stable").reset_index(drop=True)
    human_by_id = (
        {}
        if human is None or human.empty
        else {r.post_id: r for r in human.itertuples(index=False)}
    )
    stats: dict[str, Any] = {
        "posts": len(frame),
        "human_labels_unknown_post": len(set(human_by_id) - set(frame["post_id"])),
    }
    rows = []
    for rec in frame.itertuples(index=False):
        text = rec.text
        if not isinstance(text, str) or not text.strip():
            continue
        label, source, sarcastic = None, None, None
        rating = None if pd.isna(rec.rating) else int(rec.rating)
        if rec.post_id in human_by_id:
            h = human_by_id[rec.post_id]
            label, source, sarcastic = h.label, HUMAN, h.sarcastic
        elif rating in RATING_TO_LABEL:
            label, source = RATING_TO_LABEL[rating], RATING
        rows.append(
            {
                "post_id": rec.post_id,
                "ts": pd.Timestamp(rec.date),
                "text": text,
                "label": label,
                "label_source": source,
                "split": None,
                "rating": rating,
                "sarcastic": sarcastic,
                "image": rec.image if isinstance(rec.image, str) and rec.image else None,
            }
        )
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    labelled = table[table["label"].notna()].index
    n = len(labelled)
    n_test = int(round(n * test_fraction))
    n_val = int(round(n * validation_fraction))
    cut_val, cut_test = n - n_test - n_val, n - n_test
    for k, idx in enumerate(labelled):
        table.at[idx, "split"] = (
            "train" if k < cut_val else "validation" if k < cut_test else "test"
        )
    table.loc[table["label"].isna(), "split"] = UNLABELLED
    # one split per text: the first occurrence decides; a labelled text leaves the pool
    seen: dict[bytes, str] = {}
    drop = []
    duplicates = Counter()
    for idx in table[table["split"] != UNLABELLED].index:
        key = text_key(table.at[idx, "text"])
        if key in seen:
            drop.append(idx)
            duplicates[table.at[idx, "split"]] += 1
        else:
            seen[key] = table.at[idx, "split"]
    pool_keys: set[bytes] = set()
    for idx in table[table["split"] == UNLABELLED].index:
        key = text_key(table.at[idx, "text"])
        if key in seen or key in pool_keys:
            drop.append(idx)
            duplicates[UNLABELLED] += 1
        pool_keys.add(key)
    table = table.drop(index=drop).reset_index(drop=True)
    stats["duplicates_dropped"] = dict(duplicates)
    stats["pseudo_labels_used"] = 0
    if pseudo is not None and not pseudo.empty:
        table, used = _apply_pseudo(table, pseudo)
        stats["pseudo_labels_used"] = used
    stats["per_split"] = {s: int((table["split"] == s).sum()) for s in (*SPLITS, UNLABELLED)}
    stats["per_class"] = {
        s: {c: int(((table["split"] == s) & (table["label"] == c)).sum()) for c in SENTIMENT_LABELS}
        for s in SPLITS
    }
    stats["label_sources"] = {
        src: int((table["label_source"] == src).sum()) for src in (HUMAN, RATING, PSEUDO)
    }
    stats["split_start"] = {
        s: str(table.loc[table["split"] == s, "ts"].min())
        for s in SPLITS
        if (table["split"] == s).any()
    }
    return table, stats


def _apply_pseudo(table: pd.DataFrame, pseudo: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Pseudo-labels on unlabelled posts older than the validation split join train."""
    held_out = table[table["split"].isin(("validation", "test"))]
    cutoff = held_out["ts"].min() if not held_out.empty else None
    by_id = {
        str(p): check_label(lbl) for p, lbl in zip(pseudo["post_id"], pseudo["label"], strict=True)
    }
    used = 0
    for idx in table[table["split"] == UNLABELLED].index:
        label = by_id.get(table.at[idx, "post_id"])
        if label is None or (cutoff is not None and table.at[idx, "ts"] >= cutoff):
            continue
        table.at[idx, "label"] = label
        table.at[idx, "label_source"] = PSEUDO
        table.at[idx, "split"] = "train"
        used += 1
    return table, used


def read_pseudo_labels(path: str | Path) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """``(pseudo, rejected)`` from a pseudo-label JSONL file (post_id, label, ...; what
    sentiment_model writes): a line that is not UTF-8, not a JSON object, or lacks a post id or
    a valid label is rejected with its line number and the reason; the good lines stand."""
    import json

    rows, rejected = [], []
    with lake_path(path, "pseudo-label file").open("rb") as fh:
        for line_no, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8"))
                if not isinstance(rec, dict):
                    raise ValueError("not a JSON object")
                post_id = rec.get("post_id")
                if not isinstance(post_id, str | int) or isinstance(post_id, bool) or post_id == "":
                    raise ValueError("no post_id")
                rows.append({"post_id": str(post_id), "label": check_label(rec.get("label"))})
            except (UnicodeDecodeError, ValueError) as exc:
                rejected.append({"line": line_no, "reason": str(exc)[:200]})
    return pd.DataFrame(rows, columns=["post_id", "label"]), rejected


def write_dataset(table: pd.DataFrame, path: str | Path) -> Path:
    """The table as Parquet, replaced atomically (ts as UTC timestamps)."""
    from trademl.lake import atomic_path

    path = lake_path(path, "sentiment dataset")
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
    return path


def read_dataset(path: str | Path) -> pd.DataFrame:
    path = lake_path(path, "sentiment dataset")
    if not path.is_file():
        raise InputError(str(path), "no sentiment dataset", "materialize sentiment_dataset first")
    return read_parquet(path)


def split_of(table: pd.DataFrame, split: str | Sequence[str]) -> pd.DataFrame:
    names = (split,) if isinstance(split, str) else tuple(split)
    return table[table["split"].isin(names)].reset_index(drop=True)
