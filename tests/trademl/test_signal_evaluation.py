"""Scoring of signal predictions against gold rows, on small hand-computed cases."""

import json

import pytest

from trademl.signals.evaluation import format_report, load_gold, score_signals


def _row(label, **fields):
    base = {
        "text": "x",
        "label": label,
        "pair": None,
        "side": None,
        "entry": [],
        "targets": [],
        "stop_loss": None,
        "leverage": None,
    }
    base.update(fields)
    return base


def test_classification_counts_accuracy_macro_f1_and_confusion():
    gold = [_row("SIGNAL_LONG"), _row("SIGNAL_LONG"), _row("NON_SIGNAL"), _row(None)]
    pred = [_row("SIGNAL_LONG"), _row("NON_SIGNAL"), _row("NON_SIGNAL"), _row("SIGNAL_SHORT")]
    c = score_signals(gold, pred)["classification"]
    assert c["n"] == 3  # the null-label row is skipped
    assert c["accuracy"] == pytest.approx(2 / 3)
    # LONG: p=1, r=1/2, f1=2/3. NON: p=1/2, r=1, f1=2/3. SHORT never appears among scored rows.
    assert set(c["per_class"]) == {"NON_SIGNAL", "SIGNAL_LONG"}
    assert c["per_class"]["SIGNAL_LONG"]["f1"] == pytest.approx(2 / 3)
    assert c["per_class"]["NON_SIGNAL"]["precision"] == pytest.approx(0.5)
    assert c["per_class"]["SIGNAL_LONG"]["support"] == 2
    assert c["macro_f1"] == pytest.approx(2 / 3)
    assert c["confusion"] == {
        "SIGNAL_LONG": {"SIGNAL_LONG": 1, "NON_SIGNAL": 1},
        "NON_SIGNAL": {"NON_SIGNAL": 1},
    }


def test_macro_f1_is_over_the_gold_files_classes():
    gold = [_row("SIGNAL_LONG"), _row("SIGNAL_LONG")]
    pred = [_row("SIGNAL_LONG"), _row("SIGNAL_NONE")]
    c = score_signals(gold, pred)["classification"]
    # Issue 9: macro over the classes present in the gold file. The wrong SIGNAL_NONE answer
    # still costs LONG its recall: LONG f1 = 2*1*0.5/1.5 = 2/3 -> macro 2/3, not (2/3 + 0)/2.
    assert c["macro_f1"] == pytest.approx(2 / 3)
    assert c["per_class"]["SIGNAL_NONE"]["f1"] == 0.0  # still reported


def test_extraction_scalar_rules():
    gold = [
        _row("SIGNAL_LONG", pair="BTC/USDT", side="LONG", stop_loss=100.0, leverage=None),
        _row("SIGNAL_SHORT", pair="ETHUSDT", side="SHORT", stop_loss=50.0, leverage=10),
        _row("NON_SIGNAL", pair="SOLUSDT"),  # not a signal: not scored for extraction
    ]
    pred = [
        _row("SIGNAL_LONG", pair="#btcusdt", side="LONG", stop_loss=100.05, leverage=20),
        _row("SIGNAL_SHORT", pair="ETHBTC", side=None, stop_loss=None, leverage=10.0),
        _row("NON_SIGNAL", pair=None),
    ]
    e = score_signals(gold, pred)["extraction"]
    assert e["n"] == 2
    f = e["fields"]
    assert (f["pair"]["tp"], f["pair"]["fp"], f["pair"]["fn"]) == (1, 1, 1)  # wrong -> fp + fn
    assert (f["side"]["tp"], f["side"]["fp"], f["side"]["fn"]) == (1, 0, 1)  # null pred -> fn
    # 100.05 is within rel_tol 1e-3 of 100; missing 50 is a fn
    assert (f["stop_loss"]["tp"], f["stop_loss"]["fp"], f["stop_loss"]["fn"]) == (1, 0, 1)
    # gold null + pred 20 -> fp; 10 == 10.0 -> tp
    assert (f["leverage"]["tp"], f["leverage"]["fp"], f["leverage"]["fn"]) == (1, 1, 0)


def test_extraction_lists_match_each_gold_number_once():
    gold = [_row("SIGNAL_NONE", entry=[1.0, 1.0], targets=[2.0, 3.0, 4.0])]
    pred = [_row("SIGNAL_NONE", entry=[1.0005, 1.0, 1.0], targets=[3.0, 5.0])]
    e = score_signals(gold, pred)["extraction"]
    ent, tgt = e["fields"]["entry"], e["fields"]["targets"]
    assert (ent["tp"], ent["fp"], ent["fn"]) == (2, 1, 0)
    assert (tgt["tp"], tgt["fp"], tgt["fn"]) == (1, 1, 2)
    # micro over all six fields: tp=3, fp=2, fn=2 -> P=R=F1=0.6
    assert e["micro_precision"] == pytest.approx(0.6)
    assert e["micro_recall"] == pytest.approx(0.6)
    assert e["micro_f1"] == pytest.approx(0.6)


def test_null_gold_list_is_not_annotated_and_not_scored():
    gold = [_row("SIGNAL_LONG", entry=None, targets=None)]
    pred = [_row("SIGNAL_LONG", entry=[1.0], targets=[2.0])]
    f = score_signals(gold, pred)["extraction"]["fields"]
    assert f["entry"]["fp"] == 0 and f["targets"]["fp"] == 0


def test_metrics_are_json_serialisable_and_reportable():
    gold = [_row("SIGNAL_LONG", pair="BTCUSDT")]
    metrics = score_signals(gold, [_row("SIGNAL_LONG", pair="BTCUSDT")])
    assert json.loads(json.dumps(metrics))["extraction"]["fields"]["pair"]["f1"] == 1.0
    report = format_report(metrics)
    assert "macro-F1: 1.000" in report
    assert "pair" in report and "SIGNAL_LONG" in report


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="1 gold rows but 0 predictions"):
        score_signals([_row("NON_SIGNAL")], [])


def test_load_gold_reads_rows_and_skips_blank_lines(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps(_row("SIGNAL_LONG")) + "\n\n" + json.dumps(_row(None)) + "\n")
    rows = load_gold(path)
    assert [r["label"] for r in rows] == ["SIGNAL_LONG", None]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "gold.jsonl:2: not valid JSON"),
        ('{"label": "NON_SIGNAL"}', 'gold.jsonl:2: missing string field "text"'),
        ('{"text": "hi", "label": "BUY"}', "gold.jsonl:2: unknown label 'BUY'"),
        ("[1, 2]", "gold.jsonl:2: expected a JSON object"),
    ],
)
def test_load_gold_names_file_and_line_of_a_bad_row(tmp_path, line, message):
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps(_row("NON_SIGNAL")) + "\n" + line + "\n")
    with pytest.raises(ValueError, match=message):
        load_gold(path)
