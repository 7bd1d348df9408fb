"""Replay buffer (reservoir sampling, persistence), the training mix, and pseudo-labels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trademl.errors import InputError
from trademl.sentiment.continual import (
    ReplayBuffer,
    pseudo_label_accuracy,
    pseudo_labels,
    training_mix,
)


def _items(start: int, stop: int) -> list[dict]:
    base = pd.Timestamp("2024-01-01", tz="UTC")
    return [
        {
            "post_id": f"p{i}",
            "text": f"post number {i}",
            "label": ("bearish", "neutral", "bullish")[i % 3],
            "ts": base + pd.Timedelta(minutes=i),
        }
        for i in range(start, stop)
    ]


def test_reservoir_is_uniform_over_the_stream():
    n_items, capacity = 10_000, 500
    stream = _items(0, n_items)
    deciles = np.zeros(10)
    for seed in range(5):
        buf = ReplayBuffer(capacity=capacity, seed=seed)
        assert buf.add(stream) == n_items
        assert len(buf) == capacity and buf.seen == n_items
        idx = np.array([int(i["post_id"][1:]) for i in buf.items])
        assert len(set(idx)) == capacity
        deciles += np.bincount(idx * 10 // n_items, minlength=10)
    # A buffer that kept only the first or last items would fail this by a mile.
    assert stats.chisquare(deciles).pvalue > 0.01


def test_each_item_is_kept_with_probability_capacity_over_n():
    n_items, capacity, runs = 100, 10, 1000
    stream = [{**item, "ts": None} for item in _items(0, n_items)]  # no times: a faster loop
    counts = np.zeros(n_items)
    for seed in range(runs):
        buf = ReplayBuffer(capacity=capacity, seed=seed)
        buf.add(stream)
        for item in buf.items:
            counts[int(item["post_id"][1:])] += 1
    freq = counts / runs
    expected = capacity / n_items
    sigma = np.sqrt(expected * (1 - expected) / runs)
    assert np.abs(freq - expected).max() < 5 * sigma
    assert stats.chisquare(counts).pvalue > 0.01


def test_save_load_continues_the_same_random_stream(tmp_path):
    path = tmp_path / "replay" / "buffer.json"
    one = ReplayBuffer(capacity=300, seed=7)
    one.add(_items(0, 1500))
    one.add(_items(1500, 3000))

    two = ReplayBuffer.load(path, capacity=300, seed=7)
    assert len(two) == 0 and two.seen == 0 and two.watermark is None
    two.add(_items(0, 1500))
    two.save()
    three = ReplayBuffer.load(path, capacity=300, seed=999)  # the file's seed and state win
    assert three.items == two.items and three.seen == 1500
    three.add(_items(1500, 3000))
    assert three.items == one.items
    assert three.seen == one.seen == 3000
    assert three.watermark == one.watermark == "2024-01-03T01:59:00+00:00"
    # Another seed would have kept another sample: the comparison above is not vacuous.
    other = ReplayBuffer(capacity=300, seed=8)
    other.add(_items(0, 3000))
    assert other.items != one.items


def test_corrupt_or_foreign_file_is_an_error_naming_the_path(tmp_path):
    path = tmp_path / "buffer.json"
    buf = ReplayBuffer(path, capacity=50)
    buf.add(_items(0, 80))
    buf.save()
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(InputError, match="buffer.json") as truncated:
        ReplayBuffer.load(path, capacity=50)
    assert "cannot read the replay buffer" in str(truncated.value)
    path.write_text(json.dumps({"items": []}), encoding="utf-8")
    with pytest.raises(InputError, match="not a replay buffer file"):
        ReplayBuffer.load(path, capacity=50)


def test_capacity_can_shrink_but_not_grow_on_load(tmp_path):
    path = tmp_path / "buffer.json"
    buf = ReplayBuffer(path, capacity=50)
    buf.add(_items(0, 200))
    buf.save()
    small = ReplayBuffer.load(path, capacity=20)
    assert len(small) == 20 and {i["post_id"] for i in small.items} <= {
        i["post_id"] for i in buf.items
    }
    with pytest.raises(InputError, match="cannot grow"):
        ReplayBuffer.load(path, capacity=100)


def test_ids_already_buffered_are_not_added_twice():
    buf = ReplayBuffer(capacity=100, seed=0)
    assert buf.add(_items(0, 40)) == 40
    assert buf.add(_items(0, 40)) == 0  # a retrain on the same labels
    assert buf.add(_items(35, 45) + _items(44, 46)) == 6  # p40..p45, p44 once
    ids = [i["post_id"] for i in buf.items]
    assert len(ids) == len(set(ids)) == 46 and buf.seen == 46
    with pytest.raises(ValueError, match="lacks"):
        buf.add([{"post_id": "x", "text": "no label"}])


def test_sample_is_without_replacement_and_capped():
    buf = ReplayBuffer(capacity=100)
    buf.add(_items(0, 30))
    picked = buf.sample(10, seed=1)
    assert len({p["post_id"] for p in picked}) == 10
    assert picked == buf.sample(10, seed=1)
    assert len(buf.sample(500, seed=1)) == 30


def _new_rows(start: int, stop: int) -> pd.DataFrame:
    return pd.DataFrame(_items(start, stop))


def test_training_mix_is_seventy_thirty_when_the_buffer_is_large():
    buf = ReplayBuffer(capacity=2000)
    buf.add(_items(0, 2000))
    new = _new_rows(5000, 5700)
    mix, st = training_mix(new, buf, new_share=0.7, seed=0)
    assert st["n_new"] == 700 and st["n_replay"] == 300
    assert st["replay_share"] == pytest.approx(0.3, abs=0.001)
    assert (mix["origin"] == "new").sum() == 700 and (mix["origin"] == "replay").sum() == 300
    assert mix["post_id"].is_unique
    assert list(mix.columns) == [*new.columns, "origin"]
    assert isinstance(mix["ts"].dtype, pd.DatetimeTZDtype)  # replay times parsed back
    odd, st_odd = training_mix(_new_rows(5000, 5010), buf, new_share=0.7)
    assert st_odd["n_replay"] == round(10 * 0.3 / 0.7) == 4 and len(odd) == 14


def test_training_mix_is_capped_by_a_small_buffer_and_excludes_new_ids():
    buf = ReplayBuffer(capacity=100)
    buf.add(_items(0, 50))
    new = _new_rows(40, 240)  # 200 new rows; p40..p49 are also in the buffer
    mix, st = training_mix(new, buf, new_share=0.7)
    assert st["n_replay_wanted"] == 86
    assert st["n_replay"] == 40  # the 50 buffered posts less the 10 in `new`
    replay_ids = set(mix.loc[mix["origin"] == "replay", "post_id"])
    assert not replay_ids & set(new["post_id"])
    assert st["replay_share"] == round(40 / 240, 4)
    assert st["buffer_size"] == 50 and st["buffer_seen"] == 50


def test_training_mix_with_no_new_rows_is_empty():
    buf = ReplayBuffer(capacity=100)
    buf.add(_items(0, 50))
    mix, st = training_mix(_new_rows(0, 0).reindex(columns=["post_id", "text", "label"]), buf)
    assert mix.empty and st["empty_new"] and st["n_replay"] == 0 and st["replay_share"] is None


def test_pseudo_label_threshold_is_inclusive_and_never_overrides():
    probs = np.array(
        [
            [0.949, 0.026, 0.025],  # just below
            [0.025, 0.025, 0.95],  # exactly at the threshold
            [0.01, 0.98, 0.01],  # confident, but a person labelled it
            [0.97, 0.02, 0.01],
            [0.4, 0.3, 0.3],
        ]
    )
    out = pseudo_labels(["a", "b", "c", "d", "e"], list("ABCDE"), probs, exclude_ids={"c"})
    assert list(out.columns) == ["post_id", "text", "label", "confidence", "label_source"]
    assert out["post_id"].tolist() == ["b", "d"]
    assert out["label"].tolist() == ["bullish", "bearish"]
    assert set(out["label_source"]) == {"pseudo"}
    assert out["confidence"].tolist() == [0.95, 0.97]
    none = pseudo_labels(["a"], ["A"], probs[:1])
    assert none.empty and list(none.columns) == list(out.columns)


def test_pseudo_label_accuracy_on_labelled_posts():
    probs = np.array([[0.97, 0.02, 0.01], [0.01, 0.01, 0.98], [0.96, 0.02, 0.02], [0.5, 0.3, 0.2]])
    res = pseudo_label_accuracy(probs, ["bearish", "bullish", "neutral", "bearish"])
    assert res["n_confident"] == 3
    assert res["accuracy"] == round(2 / 3, 4)
    assert res["coverage"] == 0.75
    assert pseudo_label_accuracy(probs[3:], ["bearish"])["accuracy"] is None
