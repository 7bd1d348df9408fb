"""The sentiment domain under the hostile-input contracts: `trademl sentiment --jsonl` (one answer
per line, in order, VADER fallback and a deployed model), the text functions, and the files it
reads back (the replay buffer, pseudo-labels): any bytes give a clear error naming the file or
rows that are all accounted for, never a crash."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.robustness.contracts import (
    SETTINGS,
    LineContract,
    TextContract,
    line_contract_tests,
    text_contract_tests,
)
from trademl.cli import main
from trademl.errors import InputError
from trademl.sentiment.dataset import read_pseudo_labels
from trademl.sentiment.labels import SENTIMENT_LABELS, post_text


def _run_sentiment(data: bytes, batch_size: int, models: Path | None = None):
    with tempfile.TemporaryDirectory() as tmp:
        if models is None:
            models = Path(tmp) / "models"  # exists and is empty: VADER alone answers
            models.mkdir()
        path = Path(tmp) / "in.jsonl"
        path.write_bytes(data)
        argv = ["sentiment", "--models", str(models), "--batch-size", str(batch_size)]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main([*argv, "--jsonl", str(path)])
    assert "Traceback" not in err.getvalue()
    lines = out.getvalue().split("\n")[:-1]
    for line in lines:
        answer = json.loads(line)
        if "error" not in answer:
            assert answer["label"] in SENTIMENT_LABELS and -1.0 <= answer["score"] <= 1.0
    return lines, status


CONTRACTS = [
    LineContract("sentiment-vader-batch-1", lambda data: _run_sentiment(data, 1)),
    LineContract("sentiment-vader-batch-64", lambda data: _run_sentiment(data, 64)),
]
test_sentiment_one_answer_per_line = line_contract_tests(CONTRACTS, max_examples=40)


def _vader_one(text: str):
    from trademl.sentiment.vader import vader_compound

    return round(float(vader_compound([text])[0]), 6)


TEXTS = [
    TextContract("vader_compound", _vader_one, ("BTC to the moon 🚀", "not bad at all")),
    TextContract("post_text", lambda t: post_text(t, t), ("title",)),
]
test_sentiment_text_functions = text_contract_tests(TEXTS, max_examples=80)


@given(data=st.binary(max_size=400))
@SETTINGS
def test_pseudo_label_file_any_bytes(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pseudo.jsonl"
        path.write_bytes(data)
        rows, rejected = read_pseudo_labels(path)
    non_blank = [line for line in data.split(b"\n") if line.strip()]
    assert len(rows) + len(rejected) == len(non_blank)  # every line accounted for
    assert set(rows["label"]) <= set(SENTIMENT_LABELS)


def test_pseudo_label_file_keeps_good_lines():
    good = json.dumps({"post_id": "p1", "label": "bullish", "confidence": 0.99})
    data = b"\n".join([good.encode(), b"\xff\xfe", b"[1]", b'{"post_id": "p2", "label": "moon"}'])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pseudo.jsonl"
        path.write_bytes(data)
        rows, rejected = read_pseudo_labels(path)
    assert rows.to_dict("records") == [{"post_id": "p1", "label": "bullish"}]
    assert [r["line"] for r in rejected] == [2, 3, 4]


@given(data=st.binary(max_size=400))
@SETTINGS
def test_replay_buffer_file_any_bytes(data):
    from trademl.sentiment.continual import ReplayBuffer

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "replay.json"
        path.write_bytes(data)
        try:
            buffer = ReplayBuffer.load(path, capacity=10)
        except InputError as exc:
            assert str(path) in str(exc)
        else:  # only a well-formed buffer file loads
            assert len(buffer) <= 10


@pytest.mark.parametrize("text", ["", "   ", "\ud800", "x" * 100_000, "🚀" * 50])
def test_sentiment_cli_one_text_never_crashes(text, tmp_path, capsys):
    models = tmp_path / "models"
    models.mkdir()
    assert main(["sentiment", "--models", str(models), text]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["model"] == "vader" and answer["label"] in SENTIMENT_LABELS


def test_sentiment_cli_bad_file_and_usage(tmp_path, capsys):
    assert main(["sentiment", "--jsonl", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
    assert main(["sentiment"]) == 2
    assert "give either TEXT or --jsonl FILE" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert main(["sentiment", "--models", str(tmp_path), "--jsonl", str(empty)]) == 0
    assert capsys.readouterr().out == ""
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(b'{"text": "great day"}\n{"note": 1}\n\xff\n')
    assert main(["sentiment", "--models", str(tmp_path), "--jsonl", str(mixed)]) == 1
    captured = capsys.readouterr()
    out = [json.loads(line) for line in captured.out.splitlines()]
    assert len(out) == 3 and "label" in out[0] and out[1]["line"] == 2 and out[2]["line"] == 3
    assert f"{mixed}:2:" in captured.err and f"{mixed}:3:" in captured.err
