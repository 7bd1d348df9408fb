"""A labelling tool's SQLite database: messages, and the minority a human has labelled so far.

The ``labeled`` table stores one character span per field (entry as one span covering the entry
zone, up to five targets), which is how desks' labelling UIs store highlights.
``sentiment_labels`` holds a person's mood labels for a sample of forum posts; a post relabelled
later (a sarcastic post first read literally) has two rows, and the later one is the answer.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from trademl.demo.channels import CHANNELS, SETUP_KINDS, compose, day_quota

_SCHEMA = """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    message_id TEXT NOT NULL,
    date TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE labeled (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id),
    is_signal INTEGER NOT NULL,
    -- 'LONG' | 'SHORT' (stated, or implied by the levels) | 'NONE' (a set-up whose direction
    -- neither words nor levels tell) | NULL (not a signal)
    direction TEXT,
    pair_start INTEGER, pair_end INTEGER,
    leverage_start INTEGER, leverage_end INTEGER,
    entry_start INTEGER, entry_end INTEGER,
    stop_loss_start INTEGER, stop_loss_end INTEGER,
    target1_start INTEGER, target1_end INTEGER,
    target2_start INTEGER, target2_end INTEGER,
    target3_start INTEGER, target3_end INTEGER,
    target4_start INTEGER, target4_end INTEGER,
    target5_start INTEGER, target5_end INTEGER,
    labeled_at TEXT NOT NULL
);
CREATE TABLE sentiment_labels (
    id INTEGER PRIMARY KEY,
    post_id TEXT NOT NULL,
    label TEXT NOT NULL, -- 'bearish' | 'neutral' | 'bullish'
    sarcastic INTEGER,
    labeled_at TEXT NOT NULL
);
"""
_MOOD_LABELS = {1: "bearish", 2: "neutral", 3: "bullish"}

_SPAN_COLUMNS = ("pair", "leverage", "entry", "stop_loss") + tuple(
    f"target{k}" for k in range(1, 6)
)
LABELED_COLUMNS: tuple[str, ...] = (
    "message_id",
    "is_signal",
    "direction",
    *(f"{name}_{end}" for name in _SPAN_COLUMNS for end in ("start", "end")),
    "labeled_at",
)


def _label_row(
    row_id: int, kind: str, side: str | None, spans: list[dict], when: datetime
) -> tuple:
    cols: dict[str, int | None] = {}
    by_label: dict[str, list[dict]] = {}
    for span in spans:
        by_label.setdefault(span["label"], []).append(span)

    def put(name: str, found: list[dict] | None) -> None:
        cols[f"{name}_start"] = found[0]["start"] if found else None
        cols[f"{name}_end"] = found[-1]["end"] if found else None

    put("pair", by_label.get("PAIR", [])[:1])
    put("leverage", by_label.get("LEVERAGE"))
    put("entry", by_label.get("ENTRY"))  # one highlight over the whole entry zone
    put("stop_loss", by_label.get("STOP_LOSS", [])[:1])
    targets = by_label.get("TARGET", [])
    for k in range(1, 6):
        put(f"target{k}", targets[k - 1 : k])
    is_signal = kind in SETUP_KINDS
    direction = (side if kind != "signal_none" else "NONE") if is_signal else None
    return (
        row_id,
        int(is_signal),
        direction,
        *(cols[f"{n}_{e}"] for n in _SPAN_COLUMNS for e in ("start", "end")),
        when.strftime("%Y-%m-%d %H:%M:%S"),
    )


def _sentiment_rows(
    posts: Sequence[Mapping], seed: int, n_labels: int, n_relabels: int
) -> list[tuple]:
    """A person's labels (the author's true mood) for a sample of posts, rated or not; for a few
    sarcastic posts a first, literal label and a correction hours later."""
    rng = random.Random(f"{seed}/sentiment_labels")
    sample = sorted(rng.sample(list(posts), min(n_labels, len(posts))), key=lambda p: p["date"])
    misread = [p["post_id"] for p in sample if p["sarcastic"] and p["mood"] != 2]
    misread = set(rng.sample(misread, min(n_relabels, len(misread))))
    rows: list[tuple[str, str, int, datetime]] = []
    for post in sample:
        when = datetime.fromisoformat(post["date"]) + timedelta(days=1, minutes=rng.randrange(600))
        label, sarcastic = _MOOD_LABELS[post["mood"]], int(post["sarcastic"])
        if post["post_id"] in misread:  # read literally first, corrected on a second look
            rows.append((post["post_id"], _MOOD_LABELS[4 - post["mood"]], 0, when))
            when += timedelta(hours=rng.randint(3, 30))
        rows.append((post["post_id"], label, sarcastic, when))
    rows.sort(key=lambda r: r[3])
    return [
        (k, post_id, label, sarcastic, when.strftime("%Y-%m-%d %H:%M:%S"))
        for k, (post_id, label, sarcastic, when) in enumerate(rows, 1)
    ]


def write_labeling_store(
    path: Path,
    *,
    seed: int,
    start_date: date,
    days: int,
    n_messages: int = 400,
    labeled_share: float = 0.3,
    posts: Sequence[Mapping] = (),
    n_sentiment_labels: int = 117,
    n_sentiment_relabels: int = 3,
) -> tuple[int, int]:
    """Write ``labeling.sqlite``; returns (messages, labelled rows).

    ``posts`` (:func:`trademl.demo.social.read_posts`: post_id, date, mood, sarcastic) are the
    forum posts a person labels ``n_sentiment_labels`` of, ``n_sentiment_relabels`` twice.
    """
    rng = random.Random(f"{seed}/labeling")
    channels = [c for c in CHANNELS if c.platform == "telegram"]
    kinds = day_quota(n_messages)
    rng.shuffle(kinds)
    t0 = datetime(start_date.year, start_date.month, start_date.day, tzinfo=UTC)
    messages, labeled = [], []
    for row_id, kind in enumerate(kinds, 1):
        channel = rng.choice(channels)
        when = t0 + timedelta(seconds=rng.randrange(max(days, 1) * 86_400))
        body, numbers, _ = compose(rng, channel, kind, (when - t0).days, None)
        text = body.plain()
        messages.append(
            (
                row_id,
                channel.name,
                f"{channel.slug}:{rng.randrange(1, 99_999)}",
                when.strftime("%Y-%m-%dT%H:%M:%S"),
                text,
            )
        )
        if rng.random() < labeled_share:
            side = numbers.side if numbers else None
            spans = body.spans() if kind in SETUP_KINDS else []
            labeled_when = when + timedelta(days=1, minutes=rng.randrange(600))
            labeled.append(_label_row(row_id, kind, side, spans, labeled_when))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    try:
        con.executescript(_SCHEMA)
        con.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?)", messages)
        placeholders = ", ".join("?" * len(LABELED_COLUMNS))
        con.executemany(
            f"INSERT INTO labeled ({', '.join(LABELED_COLUMNS)}) VALUES ({placeholders})",
            labeled,
        )
        con.executemany(
            "INSERT INTO sentiment_labels VALUES (?, ?, ?, ?, ?)",
            _sentiment_rows(posts, seed, n_sentiment_labels, n_sentiment_relabels),
        )
        con.commit()
    finally:
        con.close()
    tmp.replace(path)
    return len(messages), len(labeled)
