"""sentiment_dataset's logic: label sources and their order, the time split, one split per text,
pseudo-labels that never override, the labelling store reader, and the scoring helpers."""

import sqlite3

import pandas as pd
import pytest

from trademl.errors import InputError
from trademl.lake import Lake, atomic_path
from trademl.sentiment.dataset import (
    UNLABELLED,
    build_sentiment_dataset,
    load_posts,
    read_sentiment_labels,
)
from trademl.sentiment.evaluation import score_labels
from trademl.sentiment.labels import check_label, post_text, score_of


def _posts(n=40, rated_every=2):
    t0 = pd.Timestamp("2026-11-01", tz="UTC")
    return pd.DataFrame(
        {
            "post_id": [f"p{k:03d}" for k in range(n)],
            "date": [t0 + pd.Timedelta(hours=k) for k in range(n)],
            "author": "a",
            "title": [f"post number {k}" for k in range(n)],
            "body": ["body"] * n,
            "image": None,
            "rating": [(k % 3) + 1 if k % rated_every == 0 else None for k in range(n)],
        }
    ).assign(text=lambda f: [post_text(t, b) for t, b in zip(f.title, f.body, strict=True)])


def test_ratings_map_and_split_by_time():
    table, stats = build_sentiment_dataset(_posts(), validation_fraction=0.2, test_fraction=0.2)
    labelled = table[table["split"] != UNLABELLED]
    assert len(labelled) == 20 and (table["split"] == UNLABELLED).sum() == 20
    assert dict(zip(labelled["rating"], labelled["label"], strict=True)) == {
        1: "bearish",
        2: "neutral",
        3: "bullish",
    }
    assert set(labelled["label_source"]) == {"rating"}
    # the oldest train, the newest test
    by_split = {
        s: labelled.loc[labelled["split"] == s, "ts"] for s in ("train", "validation", "test")
    }
    assert by_split["train"].max() < by_split["validation"].min()
    assert by_split["validation"].max() < by_split["test"].min()
    assert stats["per_split"] == {"train": 12, "validation": 4, "test": 4, UNLABELLED: 20}
    assert sum(stats["per_class"]["train"].values()) == 12


def test_human_labels_win_and_unknown_posts_are_counted():
    human = pd.DataFrame(
        {
            "post_id": ["p000", "p001", "zzz"],
            "label": ["bullish", "bearish", "neutral"],
            "sarcastic": [True, None, None],
            "labeled_at": ["x", "y", "z"],
        }
    )
    table, stats = build_sentiment_dataset(_posts(), human)
    row0 = table[table["post_id"] == "p000"].iloc[0]
    assert row0["label"] == "bullish" and row0["label_source"] == "human"  # rating 1 overridden
    assert bool(row0["sarcastic"]) is True
    row1 = table[table["post_id"] == "p001"].iloc[0]  # unrated: a person's label makes it labelled
    assert row1["label"] == "bearish" and row1["split"] != UNLABELLED
    assert stats["human_labels_unknown_post"] == 1
    assert stats["label_sources"]["human"] == 2


def test_a_text_lands_in_one_split_and_leaves_the_pool():
    posts = _posts()
    posts.loc[posts.index[-2], "text"] = posts.loc[0, "text"].upper()  # a late rated repeat
    posts.loc[posts.index[-1], "text"] = posts.loc[2, "text"]  # an unlabelled repeat
    table, stats = build_sentiment_dataset(posts)
    keys = table["text"].str.casefold()
    assert keys.duplicated().sum() == 0
    assert stats["duplicates_dropped"] == {"test": 1, UNLABELLED: 1}


def test_pseudo_labels_only_fill_unlabelled_train_time_posts():
    posts = _posts()
    pseudo = pd.DataFrame(
        {
            # p000 is rated (never overridden); p001 early unlabelled; p039 after the test start
            "post_id": ["p000", "p001", "p039"],
            "label": ["neutral", "bullish", "bullish"],
        }
    )
    table, stats = build_sentiment_dataset(posts, pseudo=pseudo)
    get = table.set_index("post_id")
    assert get.loc["p000", "label_source"] == "rating" and get.loc["p000", "label"] == "bearish"
    assert get.loc["p001", "label_source"] == "pseudo" and get.loc["p001", "split"] == "train"
    assert get.loc["p039", "split"] == UNLABELLED and pd.isna(get.loc["p039", "label"])
    assert stats["pseudo_labels_used"] == 1 and stats["label_sources"]["pseudo"] == 1


def test_fractions_are_checked():
    with pytest.raises(ValueError, match="leave a train split"):
        build_sentiment_dataset(_posts(), validation_fraction=0.5, test_fraction=0.5)


def test_labelling_store_latest_label_wins_and_bad_rows_are_rejected(tmp_path):
    db = tmp_path / "store.sqlite"
    con = sqlite3.connect(db)
    con.execute(
        "CREATE TABLE sentiment_labels (id INTEGER PRIMARY KEY, post_id TEXT, label TEXT, "
        "sarcastic INTEGER, labeled_at TEXT)"
    )
    con.executemany(
        "INSERT INTO sentiment_labels (post_id, label, sarcastic, labeled_at) VALUES (?,?,?,?)",
        [
            ("p1", "bullish", 0, "2026-11-02 10:00:00"),
            ("p1", " Bearish ", 1, "2026-11-03 10:00:00"),  # a later relabel wins
            ("p2", "moon", None, "2026-11-02 10:00:00"),
            (None, "neutral", None, "2026-11-02 10:00:00"),
        ],
    )
    con.commit()
    con.close()
    labels, rejected = read_sentiment_labels(f"sqlite:///{db}")
    assert labels.to_dict("records") == [
        {
            "post_id": "p1",
            "label": "bearish",
            "sarcastic": True,
            "labeled_at": "2026-11-03 10:00:00",
        }
    ]
    assert sorted(r["reason"][:21] for r in rejected) == ["no post_id", "unknown sentiment lab"]


def test_labelling_store_without_the_table_has_no_labels_and_a_bad_url_is_named(tmp_path):
    db = tmp_path / "empty.sqlite"
    sqlite3.connect(db).close()
    labels, rejected = read_sentiment_labels(f"sqlite:///{db}")
    assert labels.empty and rejected == []
    with pytest.raises(InputError, match="cannot read sentiment labels"):
        read_sentiment_labels("postgresql+psycopg2://u:secret@127.0.0.1:1/none")


def test_load_posts_reads_every_partition_and_names_a_missing_lake(tmp_path):
    lake = Lake(tmp_path)
    with pytest.raises(InputError, match="no social_posts partitions"):
        load_posts(lake)
    posts = _posts(6).drop(columns="text")
    for day, part in (("2026-11-01", posts.iloc[:3]), ("2026-11-02", posts.iloc[3:])):
        with atomic_path(lake.raw("social_posts", day)) as tmp:
            part.to_parquet(tmp, index=False)
    loaded = load_posts(lake)
    assert list(loaded["post_id"]) == list(posts["post_id"])
    assert loaded["text"].iloc[0] == "post number 0\nbody"


def test_label_helpers():
    assert check_label(" BULLISH") == "bullish"
    with pytest.raises(ValueError, match="unknown sentiment label"):
        check_label(3)
    assert score_of([0.2, 0.1, 0.7]) == pytest.approx(0.5)
    assert post_text(None, "  only body ") == "only body"


def test_score_labels_macro_over_present_classes_and_confusion():
    true = ["bullish", "bullish", "bearish", "bearish"]
    pred = ["bullish", "neutral", "bearish", "bullish"]
    s = score_labels(true, pred)
    assert s["accuracy"] == 0.5
    # neutral has no gold support: macro over bearish (F1 2/3) and bullish (F1 0.5)
    assert s["macro_f1"] == pytest.approx((2 / 3 + 0.5) / 2, abs=1e-4)
    assert s["confusion"] == [[1, 0, 1], [0, 0, 0], [0, 1, 1]]
    with pytest.raises(ValueError, match="2 gold labels but 1"):
        score_labels(["bullish", "bearish"], ["bullish"])
