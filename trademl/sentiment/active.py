"""Which unlabelled posts a person should label next: uncertain, and not all alike.

Pure uncertainty sampling spends a labelling round on near-copies of one confusing post (a
repost, a template that many forum users paste). The queue here is hybrid: entropy of the model's
probabilities says how unsure it is, k-means over the post embeddings says which posts are alike,
and the queue takes the most uncertain post of each cluster in turn (clusters whose best post is
the most uncertain first), then the second most uncertain of each, and so on until it is full.

The queue is JSON Lines with ``text`` first (Label Studio and Argilla import one task a line, as
for the signal review queue) and, for the labelling tool's database, a ``sentiment_queue`` table
that always holds the current round only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from trademl.errors import InputError
from trademl.lake import atomic_write_text, lake_path
from trademl.sentiment.labels import SENTIMENT_LABELS

__all__ = ["entropy", "select_for_labelling", "write_queue_jsonl", "write_queue_table"]

#: k-means restarts: fixed, so that the queue depends on the seed only.
KMEANS_N_INIT = 4


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy (natural log) of each probability row; a zero probability adds nothing.

    A 1-D array is one row and gives a 0-d array. The maximum for the three sentiment classes is
    ln 3 = 1.0986.
    """
    p = np.asarray(probs, dtype=float)
    safe = np.where(p > 0, p, 1.0)
    return -np.sum(np.where(p > 0, p * np.log(safe), 0.0), axis=-1)


def _text_key(text: str) -> str:
    # The house de-duplication rule (trademl.signals.datasets.text_key): whitespace and case
    # do not make a post new. Inlined to keep pyarrow out of this module's imports.
    return " ".join(text.split()).casefold()


def _ordinal(k: int) -> str:
    if k == 1:
        return "most"
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix} most"


def _cluster_labels(embeddings: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    if n_clusters <= 1:
        return np.zeros(len(embeddings), dtype=int)
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=n_clusters, n_init=KMEANS_N_INIT, random_state=seed)
    return km.fit_predict(embeddings)


def select_for_labelling(
    post_ids: Sequence[Any],
    texts: Sequence[str],
    probs: np.ndarray,
    embeddings: np.ndarray,
    n: int = 50,
    n_clusters: int | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The next labelling round: up to ``n`` posts, uncertain and diverse, in queue order.

    ``probs[i]`` is the model's probability row for post ``i`` in :data:`SENTIMENT_LABELS` order
    and ``embeddings[i]`` its sentence embedding (L2-normalised here, so k-means groups by
    cosine similarity). Blank texts and repeats of an earlier text (up to whitespace and case)
    are skipped; the first occurrence stays. ``n_clusters`` defaults to ``min(n, number of
    distinct embeddings)`` and is never more than that: one cluster per queue slot, so that the
    first round-robin pass can fill the whole queue with posts unlike each other.

    Clusters are numbered 1, 2, ... in queue order (cluster 1 holds the most uncertain post).
    Each item: ``text``, ``post_id``, ``entropy`` (4 decimals), ``cluster``, ``cluster_size``
    (candidates in the cluster), ``rank`` (1-based), ``probabilities`` ({label: p}),
    ``predicted`` (argmax label) and ``reason`` (why it is in the queue, in words). The result
    depends only on the inputs and ``seed``.
    """
    probs = np.asarray(probs, dtype=float)
    embeddings = np.asarray(embeddings, dtype=float)
    if not len(post_ids) == len(texts) == len(probs) == len(embeddings):
        raise ValueError(
            f"select_for_labelling: {len(post_ids)} post ids, {len(texts)} texts, {len(probs)} "
            f"probability rows and {len(embeddings)} embeddings; they must line up"
        )
    if len(probs) and (probs.ndim != 2 or probs.shape[1] != len(SENTIMENT_LABELS)):
        raise ValueError(
            f"select_for_labelling: probabilities have shape {probs.shape}; expected "
            f"(n, {len(SENTIMENT_LABELS)}) in {SENTIMENT_LABELS} order"
        )
    if len(embeddings) and embeddings.ndim != 2:
        raise ValueError(
            f"select_for_labelling: embeddings have shape {embeddings.shape}; expected (n, d)"
        )
    if n <= 0:
        return []

    seen: set[str] = set()
    keep: list[int] = []
    for i, text in enumerate(texts):
        key = _text_key(text) if isinstance(text, str) else ""
        if key and key not in seen:
            seen.add(key)
            keep.append(i)
    if not keep:
        return []
    idx = np.asarray(keep)
    ent = entropy(probs[idx])
    emb = embeddings[idx]
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    emb = np.divide(emb, norms, out=np.zeros_like(emb), where=norms > 0)

    n_distinct = len(np.unique(np.round(emb, 10), axis=0))
    k = min(n if n_clusters is None else max(1, int(n_clusters)), n_distinct)
    raw_labels = _cluster_labels(emb, k, seed)

    # Members of each cluster, most uncertain first (ties: the earlier post first).
    members: dict[int, list[int]] = {}
    for j in sorted(range(len(idx)), key=lambda j: (-ent[j], j)):
        members.setdefault(int(raw_labels[j]), []).append(j)
    order = sorted(members, key=lambda c: (-ent[members[c][0]], members[c][0]))
    cluster_no = {c: r + 1 for r, c in enumerate(order)}

    picked: list[tuple[int, int, int]] = []  # (candidate, cluster, position in its cluster)
    depth = 0
    while len(picked) < n and any(depth < len(members[c]) for c in order):
        for c in order:
            if depth < len(members[c]) and len(picked) < n:
                picked.append((members[c][depth], c, depth + 1))
        depth += 1

    n_candidates = len(idx)
    sorted_ent = np.sort(ent)[::-1]
    items = []
    for rank, (j, c, pos) in enumerate(picked, start=1):
        i = int(idx[j])
        h = float(ent[j])
        higher = int(np.searchsorted(-sorted_ent, -h, side="left"))  # candidates more uncertain
        top_pct = max(1, math.ceil(100 * (higher + 1) / n_candidates))
        size = len(members[c])
        row = probs[i]
        items.append(
            {
                "text": texts[i],
                "post_id": post_ids[i],
                "entropy": round(h, 4),
                "cluster": cluster_no[c],
                "cluster_size": size,
                "rank": rank,
                "probabilities": {
                    label: round(float(p), 4)
                    for label, p in zip(SENTIMENT_LABELS, row, strict=True)
                },
                "predicted": SENTIMENT_LABELS[int(np.argmax(row))],
                "reason": (
                    f"entropy {h:.2f} (top {top_pct}% of {n_candidates} unlabelled), "
                    f"{_ordinal(pos)} uncertain of cluster {cluster_no[c]} "
                    f"({size} post{'s' if size != 1 else ''})"
                ),
            }
        )
    return items


def write_queue_jsonl(items: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """The queue as JSON Lines (one task a line, ``text`` first), replaced atomically."""
    lines = (
        json.dumps(
            {"text": r["text"], **{k: v for k, v in r.items() if k != "text"}},
            ensure_ascii=False,
            default=str,
        )
        + "\n"
        for r in items
    )
    path = lake_path(path, "active-learning queue")
    atomic_write_text(path, "".join(lines))
    return path


def write_queue_table(
    items: Sequence[dict[str, Any]],
    url: str,
    table: str = "sentiment_queue",
    run_id: str | None = None,
) -> int:
    """Replace the queue table at ``url`` with ``items`` (created when missing); rows written.

    The table is the current round only: the old rows are deleted and the new ones inserted in
    one transaction, so the labelling tool never sees half a round. Columns: post_id, text,
    predicted, entropy, cluster, reason, queued_at (ISO 8601 UTC, one stamp for the round),
    run_id. Any database error is an :class:`InputError` naming the URL (password masked).
    """
    import sqlalchemy as sa

    from trademl.ingest.messages import _mask_url

    safe_url = _mask_url(url)
    meta = sa.MetaData()
    tbl = sa.Table(
        table,
        meta,
        sa.Column("post_id", sa.Text),
        sa.Column("text", sa.Text),
        sa.Column("predicted", sa.Text),
        sa.Column("entropy", sa.Float),
        sa.Column("cluster", sa.Integer),
        sa.Column("reason", sa.Text),
        sa.Column("queued_at", sa.Text),
        sa.Column("run_id", sa.Text),
    )
    queued_at = datetime.now(UTC).isoformat()
    rows = [
        {
            "post_id": None if r.get("post_id") is None else str(r["post_id"]),
            "text": r["text"],
            "predicted": r.get("predicted"),
            "entropy": None if r.get("entropy") is None else float(r["entropy"]),
            "cluster": None if r.get("cluster") is None else int(r["cluster"]),
            "reason": r.get("reason"),
            "queued_at": queued_at,
            "run_id": run_id,
        }
        for r in items
    ]
    try:
        engine = sa.create_engine(url)
    except Exception as exc:  # bad URL syntax, unknown dialect, missing driver
        raise InputError(safe_url, f"cannot create a database engine: {exc}") from None
    try:
        with engine.begin() as conn:
            meta.create_all(conn, checkfirst=True)
            conn.execute(tbl.delete())
            if rows:
                conn.execute(tbl.insert(), rows)
    except sa.exc.SQLAlchemyError as exc:
        raise InputError(
            safe_url,
            f"cannot write the labelling queue to table {table!r}: "
            f"{exc.args[0] if exc.args else exc}",
        ) from None
    finally:
        engine.dispose()
    return len(rows)
