import json

import pytest

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


def test_predict_answers_say_where_the_side_comes_from(tmp_path, capsys):
    assert main(["predict", "--models", str(tmp_path), "Long BTCUSDT 62000 tp 64000 sl 61000"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert list(answer)[-2:] == ["entities", "side_source"] and answer["side_source"] == "stated"
    assert main(["predict", "--models", str(tmp_path), "gm"]) == 0
    assert json.loads(capsys.readouterr().out)["side_source"] is None


def test_predict_mode_rules_needs_no_registry(tmp_path, capsys):
    """The parser alone: no registry is read, so even a missing one is no error or note."""
    text = "Short ETHUSDT 3000 tp 2900 sl 3100"
    assert main(["predict", "--mode", "rules", "--models", str(tmp_path / "none"), text]) == 0
    captured = capsys.readouterr()
    answer = json.loads(captured.out)
    assert (answer["label"], answer["model"], answer["extractor"]) == (
        "SIGNAL_SHORT",
        "rules",
        "rules",
    )
    assert answer["side_source"] == "stated" and captured.err == ""


def test_predict_mode_is_one_of_three(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "--mode", "llm", "gm"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["auto", "model", "rules"])
def test_predict_jsonl_every_mode_answers_every_line(tmp_path, capsys, mode):
    lines = [b'{"text": "Long BTCUSDT 10 tp 12 sl 9"}', b"{bad", b'{"text": "gm"}', b""]
    code, out, err = _predict(_jsonl(tmp_path, lines), capsys, "--mode", mode)
    assert code == 1 and len(out) == len(lines)
    assert out[0]["entities"]["pair"] == "BTCUSDT" and out[0]["side_source"] == "stated"
    assert [row.get("line") for row in out] == [None, 2, None, 4]


def test_rollback_without_history_says_so(tmp_path, capsys):
    from trademl.registry import ModelRegistry

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "w.bin").write_text("w")
    ModelRegistry(tmp_path).register("signal_classifier", tmp_path / "src")
    assert main(["models", "rollback", "signal_classifier", "--models", str(tmp_path)]) == 2
    assert "no previous champion" in capsys.readouterr().err


# --- bad input (issue 7, part 2) -------------------------------------------------------------


def _jsonl(tmp_path, lines: list[bytes], name: str = "in.jsonl"):
    path = tmp_path / name
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _predict(path, capsys, *extra):
    models = path.parent / "no_models"
    models.mkdir(exist_ok=True)
    code = main(["predict", "--jsonl", str(path), "--models", str(models), *extra])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_predict_jsonl_answers_every_line_and_reports_the_bad_ones(tmp_path, capsys):
    lines = [
        b'{"text": "Long BTCUSDT @ 62000, SL 59000, Targets 64000"}',
        b"{not json",
        b'{"label": "NON_SIGNAL"}',
        b'{"text": 42}',
        b'{"text": "caf\xe9 long ETH"}',
        b"",
        b"[1, 2]",
        b'{"text": "Short ETHUSDT 3000 tp 2900 sl 3100", "label": "BUY", "extra": {"k": 1}}',
        b'{"text": "gm"}',
    ]
    path = _jsonl(tmp_path, lines)
    code, out, err = _predict(path, capsys, "--batch-size", "2")
    assert code == 1
    assert len(out) == len(lines)
    assert out[0]["label"] == "SIGNAL_LONG" and out[0]["entities"]["pair"] == "BTCUSDT"
    assert out[7]["label"] == "SIGNAL_SHORT" and out[7]["entities"]["pair"] == "ETHUSDT"
    assert out[8]["label"] == "NON_SIGNAL"
    bad = {row["line"]: row["error"] for row in out if "error" in row}
    assert sorted(bad) == [2, 3, 4, 5, 6, 7]
    assert "not valid JSON" in bad[2]
    assert '"text"' in bad[3] and '"text"' in bad[4]
    assert "UTF-8" in bad[5]
    assert bad[6] == "empty line"
    assert "JSON object" in bad[7]
    for n in bad:
        assert f"{path}:{n}: " in err
    assert "Traceback" not in err


def test_predict_jsonl_all_good_exits_zero_and_keeps_order(tmp_path, capsys):
    pairs = ["BTC", "ETH", "SOL", "XRP", "ADA"]
    path = _jsonl(
        tmp_path, [json.dumps({"text": f"Long {p}USDT 10 tp 12 sl 9"}).encode() for p in pairs]
    )
    code, out, err = _predict(path, capsys, "--batch-size", "2")
    assert code == 0
    assert [row["entities"]["pair"] for row in out] == [f"{p}USDT" for p in pairs]


def test_predict_jsonl_crlf_bom_and_no_final_newline(tmp_path, capsys):
    path = tmp_path / "win.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "gm"}\r\n{"text": "gn"}')
    code, out, _ = _predict(path, capsys)
    assert code == 0 and [row["label"] for row in out] == ["NON_SIGNAL", "NON_SIGNAL"]


def test_predict_empty_jsonl_prints_nothing(tmp_path, capsys):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    code, out, _ = _predict(path, capsys)
    assert code == 0 and out == []


@pytest.mark.parametrize("size", ["0", "-1"])
def test_batch_size_must_be_positive(tmp_path, capsys, size):
    path = _jsonl(tmp_path, [b'{"text": "gm"}'])
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "--jsonl", str(path), "--batch-size", size])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "--batch-size" in captured.err and "positive" in captured.err


@pytest.mark.parametrize("command", ["predict", "eval-signals"])
def test_a_directory_given_as_a_file_is_one_clear_error(tmp_path, capsys, command):
    argv = (
        ["predict", "--jsonl", str(tmp_path), "--models", str(tmp_path)]
        if command == "predict"
        else ["eval-signals", str(tmp_path), "--extractor", "rules"]
    )
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path}: is a directory" in err
    assert "Traceback" not in err


def test_missing_jsonl_is_one_clear_error(tmp_path, capsys):
    assert (
        main(["predict", "--jsonl", str(tmp_path / "nope.jsonl"), "--models", str(tmp_path)]) == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.jsonl: no such file" in err


@pytest.mark.parametrize("command", ["predict", "eval-signals", "models"])
def test_explicit_models_root_that_does_not_exist_is_refused(tmp_path, capsys, command):
    gold = _jsonl(tmp_path, [b'{"text": "gm", "label": "NON_SIGNAL"}'])
    missing = tmp_path / "typo"
    argv = {
        "predict": ["predict", "gm"],
        "eval-signals": ["eval-signals", str(gold)],
        "models": ["models", "list"],
    }[command]
    assert main([*argv, "--models", str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{missing}: no such model registry" in captured.err
    assert captured.err.count("\n") == 1


def test_models_root_from_environment_must_exist(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TRADEML_MODELS", str(tmp_path / "typo"))
    assert main(["predict", "gm"]) == 2
    assert "no such model registry" in capsys.readouterr().err


def test_default_models_root_missing_answers_with_rules_and_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TRADEML_MODELS", raising=False)
    monkeypatch.setenv("TRADEML_HOME", str(tmp_path / "home"))
    assert main(["predict", "gm"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["model"] == "rules"
    assert "only the rule parser answers" in captured.err


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [b'{"text": "x", "label": "SIGNAL_LONG", "entry": "62000"}'],
            'gold.jsonl:1: field "entry"',
        ),
        (
            [b'{"text": "x", "label": "NON_SIGNAL", "stop_loss": [1]}'],
            'gold.jsonl:1: field "stop_loss"',
        ),
        ([b'{"text": "x", "label": "NON_SIGNAL", "pair": 5}'], 'gold.jsonl:1: field "pair"'),
        ([b'{"text": "x", "label": "NON_SIGNAL", "side": "UP"}'], 'gold.jsonl:1: field "side"'),
        (
            [b'{"text": "x", "label": "NON_SIGNAL", "leverage": true}'],
            'gold.jsonl:1: field "leverage"',
        ),
        ([b'{"text": "x", "label": 3}'], "gold.jsonl:1: unknown label 3"),
        ([b'{"text": "ok", "label": null}', b'{"text": "\xff"}'], "gold.jsonl:2: not UTF-8"),
        ([], "gold.jsonl: no gold rows"),
        ([b"", b"  "], "gold.jsonl: no gold rows"),
    ],
)
def test_bad_gold_file_is_one_clear_error(tmp_path, capsys, lines, message):
    gold = _jsonl(tmp_path, lines, name="gold.jsonl")
    assert main(["eval-signals", str(gold), "--extractor", "rules"]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.count("\n") == 1
    assert captured.out == "" and "Traceback" not in captured.err


def test_corrupt_deployed_artifact_is_a_warning_naming_the_file(tmp_path, capsys):
    from trademl.registry import ModelRegistry

    source = tmp_path / "src"
    (source / "onnx").mkdir(parents=True)
    (source / "onnx" / "model.int8.onnx").write_bytes(b"not an onnx file")
    (source / "baseline.joblib").write_bytes(b"not a joblib file")
    registry = ModelRegistry(tmp_path / "models")
    version = registry.register("signal_classifier", source)
    registry.promote("signal_classifier", version)
    assert main(["predict", "gm", "--models", str(registry.root)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["model"] == "rules"
    deployed = registry.deployed_path("signal_classifier")
    assert "warning" in captured.err
    assert str(deployed / "onnx" / "model.int8.onnx") in captured.err
    assert str(deployed / "baseline.joblib") in captured.err
    assert "Traceback" not in captured.err


def test_models_list_and_rollback_of_unknown_name(tmp_path, capsys):
    from trademl.registry import ModelRegistry

    source = tmp_path / "src"
    source.mkdir()
    (source / "w.bin").write_text("w")
    registry = ModelRegistry(tmp_path / "models")
    registry.register("ner_extractor", source)
    for action in ("list", "rollback"):
        assert main(["models", action, "nope", "--models", str(registry.root)]) == 2
        err = capsys.readouterr().err
        assert f"no model named 'nope' under {registry.root}; known: ner_extractor" in err
    assert sorted(p.name for p in registry.root.iterdir()) == ["ner_extractor"]


@pytest.mark.parametrize("name", ["../../x", "a/b", "Signal", ".hidden", ""])
def test_models_commands_refuse_invalid_names(tmp_path, capsys, name):
    root = tmp_path / "deep" / "models"
    root.mkdir(parents=True)
    for action in ("list", "rollback"):
        assert main(["models", action, name, "--models", str(root)]) == 2
        err = capsys.readouterr().err
        assert "model name" in err and "Traceback" not in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == [
        root.parent.relative_to(tmp_path),
        root.relative_to(tmp_path),
    ]


def test_gate_commands_are_reachable_from_trademl(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["gate", "export", "--help"])
    assert exc.value.code == 0
    assert "--lang" in capsys.readouterr().out
