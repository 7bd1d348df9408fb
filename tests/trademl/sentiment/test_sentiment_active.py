"""Hybrid acquisition: uncertain AND diverse posts, and the queue's two outputs."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import sqlalchemy as sa

from trademl.errors import InputError
from trademl.sentiment.active import (
    entropy,
    select_for_labelling,
    write_queue_jsonl,
    write_queue_table,
)
from trademl.sentiment.labels import SENTIMENT_LABELS

N_GROUPS, PER_GROUP = 5, 10


def _pool(seed: int = 0):
    """Five tight embedding groups of ten posts; group 0 is the most uncertain by a hair."""
    rng = np.random.default_rng(seed)
    dim = 16
    ids, texts, probs, embs, group = [], [], [], [], []
    for g in range(N_GROUPS):
        center = np.zeros(dim)
        center[g] = 1.0
        for k in range(PER_GROUP):
            ids.append(f"p{g}-{k}")
            texts.append(f"post {g} {k}")
            # Group 0 near-uniform (entropy ~1.098); the others clearly uncertain but less so.
            top = 0.34 + 0.001 * k if g == 0 else 0.42 + 0.002 * k + 0.01 * g
            rest = (1 - top) / 2
            probs.append([rest, top, rest])
            embs.append(center + rng.normal(scale=0.01, size=dim))
            group.append(g)
    return ids, texts, np.array(probs), np.array(embs), dict(zip(ids, group, strict=True))


def test_entropy_is_safe_for_zeros_and_natural_log():
    h = entropy(np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]]))
    assert np.allclose(h, [0.0, np.log(3), np.log(2)])
    assert not np.isnan(h).any()


def test_hybrid_covers_clusters_that_top_entropy_misses():
    ids, texts, probs, embs, group = _pool()
    n = 10
    top = np.argsort(-entropy(probs), kind="stable")[:n]
    assert {group[ids[i]] for i in top} == {0}  # pure uncertainty: ten near-copies

    queue = select_for_labelling(ids, texts, probs, embs, n=n, seed=0)
    assert len(queue) == n
    assert {group[q["post_id"]] for q in queue} == set(range(N_GROUPS))
    # The most uncertain post still heads the queue.
    assert queue[0]["post_id"] == ids[int(np.argmax(entropy(probs)))]
    assert [q["rank"] for q in queue] == list(range(1, n + 1))
    assert queue[0]["cluster"] == 1
    # Round-robin: the first pass takes one post per cluster, so clusters are distinct.
    k = len({q["cluster"] for q in queue})
    assert [q["cluster"] for q in queue[:k]] == sorted(q["cluster"] for q in queue[:k])


def test_same_seed_same_queue_and_item_fields():
    ids, texts, probs, embs, _ = _pool()
    a = select_for_labelling(ids, texts, probs, embs, n=12, seed=3)
    b = select_for_labelling(ids, texts, probs, embs, n=12, seed=3)
    assert a == b
    item = a[0]
    assert list(item)[0] == "text"
    assert set(item) == {
        "text", "post_id", "entropy", "cluster", "cluster_size", "rank",
        "probabilities", "predicted", "reason",
    }  # fmt: skip
    assert list(item["probabilities"]) == list(SENTIMENT_LABELS)
    assert item["predicted"] == "neutral"
    assert item["entropy"] == round(float(entropy(probs[ids.index(item["post_id"])])), 4)
    pattern = re.compile(
        r"^entropy \d\.\d\d \(top \d+% of 50 unlabelled\), (most|\d+(st|nd|rd|th) most) "
        r"uncertain of cluster \d+ \(\d+ posts?\)$"
    )
    assert all(pattern.match(q["reason"]) for q in a), [q["reason"] for q in a]
    assert a[0]["reason"].startswith("entropy 1.10 (top 2% of 50 unlabelled), most uncertain")


def test_fewer_candidates_than_n_gives_them_all():
    ids, texts, probs, embs, _ = _pool()
    queue = select_for_labelling(ids[:7], texts[:7], probs[:7], embs[:7], n=50)
    assert sorted(q["post_id"] for q in queue) == sorted(ids[:7])
    assert [q["rank"] for q in queue] == list(range(1, 8))
    assert select_for_labelling([], [], np.zeros((0, 3)), np.zeros((0, 4)), n=5) == []


def test_duplicate_texts_are_skipped_keeping_the_first():
    ids = ["a", "b", "c", "d"]
    texts = ["Buy the dip", "  buy THE   dip ", "Sell everything", "   "]
    probs = np.array([[0.3, 0.4, 0.3], [0.34, 0.33, 0.33], [0.2, 0.2, 0.6], [0.34, 0.33, 0.33]])
    embs = np.eye(4)
    queue = select_for_labelling(ids, texts, probs, embs, n=10)
    assert sorted(q["post_id"] for q in queue) == ["a", "c"]
    assert "of 2 unlabelled" in queue[0]["reason"]


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="line up"):
        select_for_labelling(["a"], ["x", "y"], np.ones((2, 3)) / 3, np.eye(2))


def test_jsonl_has_one_task_a_line_text_first(tmp_path):
    ids, texts, probs, embs, _ = _pool()
    queue = select_for_labelling(ids, texts, probs, embs, n=6)
    path = write_queue_jsonl(queue, tmp_path / "queue" / "sentiment.jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6
    rows = [json.loads(line) for line in lines]
    assert all(list(r)[0] == "text" for r in rows)
    assert rows == queue
    assert not list(path.parent.glob(".*.tmp"))


def test_queue_table_is_replaced_each_round(tmp_path):
    ids, texts, probs, embs, _ = _pool()
    url = f"sqlite:///{tmp_path / 'labelling.db'}"
    first = select_for_labelling(ids, texts, probs, embs, n=8)
    assert write_queue_table(first, url, run_id="run-1") == 8
    second = select_for_labelling(ids, texts, probs, embs, n=3, seed=1)
    assert write_queue_table(second, url, run_id="run-2") == 3
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT post_id, text, predicted, entropy, cluster, reason, queued_at, run_id "
                "FROM sentiment_queue"
            )
        ).fetchall()
    engine.dispose()
    assert len(rows) == 3
    assert {r.run_id for r in rows} == {"run-2"}
    assert sorted(r.post_id for r in rows) == sorted(q["post_id"] for q in second)
    assert all(r.queued_at.endswith("+00:00") for r in rows)
    assert {r.cluster for r in rows} == {q["cluster"] for q in second}


def test_queue_table_errors_name_the_url_without_password(tmp_path):
    with pytest.raises(InputError) as bad_dialect:
        write_queue_table([], "nosuchdb://labeller:s3cret@db.example/labels")
    assert "s3cret" not in str(bad_dialect.value)
    assert "db.example" in str(bad_dialect.value)
    missing_dir = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'q.db'}"
    with pytest.raises(InputError, match="cannot write the labelling queue"):
        write_queue_table([{"text": "x", "post_id": 1}], missing_dir)
