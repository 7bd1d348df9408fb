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


def test_rule_parser_rows_of_the_llm_label_file_are_not_llm_labels():
    """llm_labels without an endpoint writes the parser's labels (source "rules"): the training
    merge must not count them as LLM labels, nor let them override or add; real LLM rows still
    count as "llm", and rows from before the source column existed count as "llm" too."""
    dataset = pd.DataFrame(
        {
            "text": ["BTC long 62000", "eth 3100 tp 3200", "hello all"],
            "label": ["SIGNAL_LONG", "NON_SIGNAL", "NON_SIGNAL"],
            "split": ["train", "train", "test"],
        }
    )
    rules_run = [
        {"text": "BTC long 62000", "label": "SIGNAL_LONG", "source": "rules"},
        {"text": "eth 3100 tp 3200", "label": "SIGNAL_NONE", "source": "rules"},
        {"text": "not in the dataset", "label": "NON_SIGNAL", "source": "rules"},
    ]
    merged, stats = merge_labels(dataset, [], rules_run)
    assert merged["label_source"].tolist() == ["rules"] * 3
    assert merged["label"].tolist() == dataset["label"].tolist()
    assert stats["label_sources"] == {"rules": 3}
    assert stats["skipped"] == {"rules": 3}
    assert stats["overrides"] == {} and stats["added"] == {} and stats["agree"] == {}

    llm_run = [
        {"text": "eth 3100 tp 3200", "label": "SIGNAL_NONE", "source": "llm"},
        {"text": "hello all", "label": "NON_SIGNAL"},  # no source column: an LLM label
        {"text": "BTC long 62000", "label": "SIGNAL_LONG", "source": float("nan")},
    ]
    merged, stats = merge_labels(dataset, [], llm_run)
    assert merged["label_source"].tolist() == ["llm"] * 3
    assert stats["label_sources"] == {"llm": 3} and stats["skipped"] == {}
    assert stats["overrides"] == {"llm": 1} and stats["agree"] == {"llm": 2}


def test_training_table_from_a_rules_only_llm_labels_run_reports_no_llm_labels(tmp_path):
    """End to end through the lake: llm_labels' parquet written by a run without an endpoint."""
    from trademl.lake import Lake
    from trademl.llm import LLMLabeler
    from trademl.llm.store import write_label_run
    from trademl.signals.model_reports import training_table

    lake = Lake(tmp_path / "lake")
    texts = ["BTC/USDT LONG entry 62000 TP1 63500 SL 60500", "gm fam"]
    export = lake.export("classification_data.csv")
    export.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {"text": texts, "label": ["SIGNAL_LONG", "NON_SIGNAL"], "split": ["train", "test"]}
    ).to_csv(export, index=False)
    messages = [{"message_id": f"m{i}", "text": t} for i, t in enumerate(texts)]
    run = LLMLabeler(None).label(messages)
    assert run.mode == "rules"
    write_label_run(run, messages, lake)
    table, stats = training_table(lake)
    assert set(table["label_source"]) == {"rules"}
    assert "llm" not in stats["label_sources"] and stats["skipped"] == {"rules": 2}
