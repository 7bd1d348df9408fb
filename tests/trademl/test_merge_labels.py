import pandas as pd

from trademl.signals.human_labels import read_human_labels
from trademl.signals.merge import merge_labels


def test_human_beats_llm_beats_rules_and_splits_stay_put():
    dataset = pd.DataFrame(
        {
            "text": ["BTC long 62000", "eth 3100 tp 3200", "hello all", "SOL short 180"],
            "label": ["SIGNAL_LONG", "NON_SIGNAL", "NON_SIGNAL", "SIGNAL_SHORT"],
            "split": ["train", "validation", "test", "train"],
        }
    )
    llm = [
        {"text": "eth  3100 TP 3200", "label": "SIGNAL_NONE"},  # same text, other spacing/case
        {"text": "hello all", "label": "SIGNAL_LONG"},
        {"text": "new one", "label": "NON_SIGNAL"},
    ]
    human = [
        {"text": "hello all", "label": "NON_SIGNAL"},
        {"text": "new one", "label": "SIGNAL_NONE"},
    ]
    merged, stats = merge_labels(dataset, human, llm)
    by_text = merged.set_index("text")
    assert by_text.loc["eth 3100 tp 3200", "label"] == "SIGNAL_NONE"
    assert by_text.loc["eth 3100 tp 3200", "split"] == "validation"
    assert by_text.loc["hello all", ["label", "label_source"]].tolist() == ["NON_SIGNAL", "human"]
    assert by_text.loc["new one", ["label", "split", "label_source"]].tolist() == [
        "SIGNAL_NONE",
        "train",
        "human",
    ]
    assert by_text.loc["SOL short 180", "label_source"] == "rules"
    assert stats["overrides"] == {"llm": 2, "human": 1}
    assert stats["added"] == {"llm": 1}
    assert len(merged) == 5


def test_human_labels_from_a_labelling_store(tmp_path):
    import sqlite3

    db = tmp_path / "store.sqlite"
    con = sqlite3.connect(db)
    spans = ", ".join(
        f"{c}_start INTEGER, {c}_end INTEGER"
        for c in ["pair", "leverage", "entry", "stop_loss"] + [f"target{i}" for i in range(1, 6)]
    )
    con.executescript(
        "create table messages (id integer primary key, channel text, message_id text, date text, text text);"
        f"create table labeled (id integer primary key, message_id integer, is_signal integer, direction text, {spans}, labeled_at text);"
    )
    con.execute(
        "insert into messages values (1, 'c', 'm1', '2026-11-01', 'Long BTC 62000 tp 64000')"
    )
    con.execute("insert into messages values (2, 'c', 'm2', '2026-11-01', 'gm')")
    con.execute(
        "insert into labeled (message_id, is_signal, direction, pair_start, pair_end, entry_start, entry_end, target1_start, target1_end, labeled_at) values (1, 1, 'LONG', 5, 8, 9, 14, 18, 23, '2026-11-02')"
    )
    con.execute(
        "insert into labeled (message_id, is_signal, direction, pair_start, pair_end, labeled_at) values (2, 1, 'SIDEWAYS', 0, 1, '2026-11-02')"
    )
    con.commit()
    labels, rejected = read_human_labels(f"sqlite:///{db}")
    assert labels[0]["label"] == "SIGNAL_LONG"
    text = labels[0]["text"]
    assert [(text[e["start"] : e["end"]], e["label"]) for e in labels[0]["entities"]] == [
        ("BTC", "PAIR"),
        ("62000", "ENTRY"),
        ("64000", "TARGET"),
    ]
    assert rejected == [
        {
            "message_id": "m2",
            "reason": "unknown direction 'SIDEWAYS' (expected LONG, SHORT, NONE or NULL)",
        }
    ]
