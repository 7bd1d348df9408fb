import json

from trademl.cli import main


def test_eval_signals_json_has_the_documented_keys(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    rows = [
        {
            "text": "Long BTC/USDT entry 62000 tp 64000 sl 61000",
            "label": "SIGNAL_LONG",
            "pair": "BTCUSDT",
            "side": "LONG",
            "entry": [62000],
            "targets": [64000],
            "stop_loss": 61000,
            "leverage": None,
        },
        {
            "text": "good morning traders",
            "label": "NON_SIGNAL",
            "pair": None,
            "side": None,
            "entry": [],
            "targets": [],
            "stop_loss": None,
            "leverage": None,
        },
    ]
    gold.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["eval-signals", str(gold), "--extractor", "rules", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 2 and metrics["extractor"] == "rules"
    assert metrics["classification"]["accuracy"] == 1.0
    assert set(metrics["classification"]["per_class"]) >= {"SIGNAL_LONG", "NON_SIGNAL"}
    assert metrics["extraction"]["fields"]["pair"]["f1"] == 1.0
    assert 0 <= metrics["extraction"]["micro_f1"] <= 1


def test_bad_gold_line_is_one_clear_error(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"text": "x"\n')
    assert main(["eval-signals", str(gold)]) == 2
    err = capsys.readouterr().err
    assert f"{gold}:1" in err and "Traceback" not in err


def test_predict_without_models_falls_back_to_rules(tmp_path, capsys):
    assert (
        main(
            [
                "predict",
                "--models",
                str(tmp_path),
                "Long BTCUSDT @ 62000, SL 59000, Targets 64000/66000",
            ]
        )
        == 0
    )
    answer = json.loads(capsys.readouterr().out)
    assert answer["model"] == "rules" and answer["label"] == "SIGNAL_LONG"
    assert answer["entities"] == {
        "pair": "BTCUSDT",
        "side": "LONG",
        "entry": [62000.0],
        "targets": [64000.0, 66000.0],
        "stop_loss": 59000.0,
        "leverage": None,
    }


def test_rollback_without_history_says_so(tmp_path, capsys):
    assert main(["models", "rollback", "signal_classifier", "--models", str(tmp_path)]) == 2
    assert "no previous champion" in capsys.readouterr().err
