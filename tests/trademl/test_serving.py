"""Serving on hostile input and broken deployments: streaming answers, fallbacks that warn."""

from __future__ import annotations

import json
import logging
import sys
import types

import pytest

from trademl.errors import TradeMLError
from trademl.registry import ModelRegistry
from trademl.serving import DeployedSignalModels, answer_jsonl, servable_text

SIGNAL = "Short ETHUSDT 3000 tp 2900 sl 3100"  # the parser settles its class, not its NER needs


class _CountingLines:
    """A binary file object that counts the lines taken from it."""

    def __init__(self, lines: list[bytes]):
        self._lines = iter(lines)
        self.taken = 0

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        line = next(self._lines)
        self.taken += 1
        return line


def test_answers_stream_one_batch_at_a_time(tmp_path):
    handle = _CountingLines([b'{"text": "gm"}\n'] * 10)
    batches = answer_jsonl(DeployedSignalModels(tmp_path), handle, batch_size=3)
    first = next(batches)
    assert [line_no for line_no, _, _ in first] == [1, 2, 3]
    assert handle.taken == 3  # nothing past the batch has been read
    rest = [item for batch in batches for item in batch]
    assert [line_no for line_no, _, _ in rest] == list(range(4, 11))


def test_lone_surrogates_are_answered_not_refused(tmp_path):
    handle = _CountingLines([b'{"text": "Long BTCUSDT 62000 tp 64000 \\ud800 sl 61000"}\n'])
    [[(_, answer, problem)]] = list(answer_jsonl(DeployedSignalModels(tmp_path), handle))
    assert problem is None and answer["label"] == "SIGNAL_LONG"
    json.dumps(answer, ensure_ascii=False).encode("utf-8")  # printable
    assert servable_text("a\ud800b") == "a\ufffdb" and servable_text("plain") == "plain"


def test_broken_ner_falls_back_to_the_parser_with_a_warning(tmp_path, monkeypatch, caplog):
    class BrokenNer:
        @classmethod
        def load(cls, path):
            raise OSError(f"{path}/model.safetensors: truncated")

    # A stand-in for trademl.models.ner: the real one imports torch (seconds) to fail the same way.
    monkeypatch.setitem(
        sys.modules, "trademl.models.ner", types.SimpleNamespace(NerExtractor=BrokenNer)
    )
    source = tmp_path / "src" / "hf"
    source.mkdir(parents=True)
    (source / "config.json").write_text("{}")
    registry = ModelRegistry(tmp_path / "models")
    version = registry.register("ner_extractor", source.parent)
    registry.promote("ner_extractor", version)
    models = DeployedSignalModels(registry.root)
    assert models.name == f"rules+ner@{version}"
    with caplog.at_level(logging.WARNING, logger="trademl.serving"):
        # A call with no pair named and no stop: the parser does not settle it, so the
        # extractor is asked.
        [answer] = models.predict(["long here, entry 62000 tp 64000"])
    assert answer["extractor"] == "rules" and answer["entry"] == [62000.0]
    hf = registry.deployed_path("ner_extractor") / "hf"
    assert any(
        str(hf) in r.getMessage() and "rule parser" in r.getMessage() for r in caplog.records
    )
    assert models.name == "rules" and models.load_errors
    models.predict([SIGNAL])  # no second attempt, no second warning
    assert sum(str(hf) in r.getMessage() for r in caplog.records) == 1


# --- modes and side_source ------------------------------------------------------------------------


class _FixedClassifier:
    """A deployed classifier that answers one class for every text."""

    name = "fake"

    def __init__(self, label: str, confidence: float = 0.9):
        self.label, self.confidence, self.calls = label, confidence, 0

    def predict(self, texts, batch_size=64):
        self.calls += 1
        return [(self.label, self.confidence)] * len(texts)


class _FixedNer:
    """An extractor that reads one SIDE span (the first word) and nothing else."""

    def __init__(self, side: str | None):
        self.side, self.texts = side, []

    def extract(self, texts, batch_size=32):
        self.texts += texts
        fields = {"pair": None, "side": self.side, "entry": [], "targets": []}
        return [{**fields, "stop_loss": None, "leverage": None, "spans": []} for _ in texts]


def _models(tmp_path, label: str, ner_side: str | None = None) -> DeployedSignalModels:
    models = DeployedSignalModels(tmp_path)  # nothing deployed; then the stand-ins
    models.classifier, models.classifier_name, models.classifier_version = (
        _FixedClassifier(label),
        "fake",
        "v1",
    )
    if ner_side is not None:
        models._extractor, models.extractor_version = _FixedNer(ner_side), "v0"
    return models


LEVELS_ONLY = "BTCUSDT entry 62000 tp 64000 sl 61000"  # no side word: the levels imply a long


def test_side_source_stated_levels_model_and_null(tmp_path):
    long_model = _models(tmp_path, "SIGNAL_LONG")
    by = {
        text: long_model.predict([text], mode="model")[0]
        for text in ("Long BTCUSDT 62000 tp 64000 sl 61000", LEVELS_ONLY, "BTCUSDT entry 62000")
    }
    assert [(a["side"], a["side_source"]) for a in by.values()] == [
        ("LONG", "stated"),
        ("LONG", "levels"),
        ("LONG", "model"),  # a pair and an entry: only the classifier says long
    ]
    # The classifier's short contradicts the levels and the stated side: the model is its source.
    [short] = _models(tmp_path, "SIGNAL_SHORT").predict([LEVELS_ONLY], mode="model")
    assert (short["side"], short["side_source"]) == ("SHORT", "model")
    for label in ("NON_SIGNAL", "SIGNAL_NONE"):
        [none] = _models(tmp_path, label).predict([LEVELS_ONLY], mode="model")
        assert none["side"] is None and none["side_source"] is None
    # A side the NER model reads as a SIDE span is stated too.
    ner_model = _models(tmp_path, "SIGNAL_SHORT", ner_side="SHORT")
    [answer] = ner_model.predict(["BTCUSDT entry 62000 📉"], mode="model")
    assert answer["extractor"] == "ner@v0+rules" and answer["side_source"] == "stated"
    # In the CLI's JSON, next to the entities.
    from trademl.serving import to_prediction_json

    shown = to_prediction_json(by[LEVELS_ONLY])
    assert list(shown)[-2:] == ["entities", "side_source"] and shown["side_source"] == "levels"


def test_model_mode_overrules_the_parser_that_auto_keeps(tmp_path):
    settled = "Long BTCUSDT 62000 tp 64000 sl 61000"  # a stated side for a named pair
    models = _models(tmp_path, "SIGNAL_SHORT", ner_side="SHORT")
    [auto] = models.predict([settled])
    assert (auto["label"], auto["model"], auto["side_source"]) == ("SIGNAL_LONG", "rules", "stated")
    assert auto["confidence"] == 1.0 and auto["extractor"] == "rules"
    assert models.classifier.calls == 0 and models._extractor.texts == []  # settled: no model ran
    [model] = models.predict([settled], mode="model")
    assert (model["label"], model["model"], model["side"]) == ("SIGNAL_SHORT", "fake@v1", "SHORT")
    assert model["side_source"] == "stated" and models._extractor.texts == [settled]
    [rules] = models.predict([settled], mode="rules")
    assert (rules["label"], rules["model"], rules["side_source"]) == (
        "SIGNAL_LONG",
        "rules",
        "stated",
    )
    assert models.classifier.calls == 1  # rules mode asked no model


def test_rules_mode_reads_no_registry_and_loads_no_model(tmp_path, monkeypatch, caplog):
    import trademl.models.classifier_runtime as runtime

    def refuse(*args, **kwargs):
        raise AssertionError("rules mode loaded a model")

    monkeypatch.setattr(runtime, "load_classifier", refuse)
    registry = ModelRegistry(tmp_path / "models")
    for name, folder in (("signal_classifier", "onnx"), ("ner_extractor", "hf")):
        source = tmp_path / name / folder
        source.mkdir(parents=True)
        (source / ("model.int8.onnx" if folder == "onnx" else "config.json")).write_text("{}")
        registry.promote(name, registry.register(name, source.parent))
    with caplog.at_level(logging.WARNING, logger="trademl.serving"):
        models = DeployedSignalModels(registry.root, mode="rules")
        answers = models.predict([SIGNAL, LEVELS_ONLY, "gm"])
    assert models.name == "rules" and models.classifier is None and models.extractor is None
    assert [a["model"] for a in answers] == ["rules"] * 3 and not caplog.records
    assert [a["side_source"] for a in answers][0] == "stated" and answers[2]["side_source"] is None
    with pytest.raises(ValueError, match="mode must be one of"):
        models.predict(["gm"], mode="bogus")


def test_broken_onnx_extractor_falls_back_form_by_form(tmp_path, monkeypatch, caplog):
    loaded = []

    class TorchNer:
        @classmethod
        def load(cls, path):
            loaded.append(path)
            return _FixedNer("LONG")

    monkeypatch.setitem(
        sys.modules, "trademl.models.ner", types.SimpleNamespace(NerExtractor=TorchNer)
    )
    monkeypatch.delenv("TRADEML_NER_BACKEND", raising=False)
    source = tmp_path / "src"
    (source / "hf").mkdir(parents=True)
    (source / "hf" / "config.json").write_text("{}")
    (source / "onnx").mkdir()
    (source / "onnx" / "model.int8.onnx").write_bytes(b"not a graph")  # and no manifest
    registry = ModelRegistry(tmp_path / "models")
    registry.promote("ner_extractor", registry.register("ner_extractor", source))
    models = DeployedSignalModels(registry.root)
    with caplog.at_level(logging.WARNING, logger="trademl.serving"):
        assert isinstance(models.extractor, _FixedNer)
    assert models.extractor_name == "torch" and loaded == [
        registry.deployed_path("ner_extractor") / "hf"
    ]
    [warning] = [r.getMessage() for r in caplog.records]
    assert "model.int8.onnx: cannot load" in warning and warning.endswith("trying torch")
    monkeypatch.setenv("TRADEML_NER_BACKEND", "gpu")
    with pytest.raises(TradeMLError, match="TRADEML_NER_BACKEND"):
        DeployedSignalModels(registry.root)


def test_each_distinct_text_is_answered_once(tmp_path):
    models = _models(tmp_path, "SIGNAL_LONG")
    seen = []
    real = models.classifier.predict
    models.classifier.predict = lambda texts, batch_size=16: seen.append(list(texts)) or real(texts)
    answers = models.predict(["gm", LEVELS_ONLY, "gm", LEVELS_ONLY, "gm"], mode="model")
    assert seen == [["gm", LEVELS_ONLY]]
    assert answers[1] == answers[3] and answers[0] == answers[2] == answers[4]
    answers[1]["entry"].append(1.0)  # copies: one answer's lists are not another's
    assert answers[3]["entry"] == [62000.0]


def test_a_pipe_is_answered_as_its_lines_arrive(tmp_path):
    import os

    from trademl.serving import PipeLines, stdin_lines

    read_end, write_end = os.pipe()
    try:
        lines = stdin_lines(os.fdopen(read_end, "rb", buffering=0, closefd=False))
        assert isinstance(lines, PipeLines)
        os.write(write_end, b'{"text": "gm"}\n{"text": "Long BTCUSDT 10 tp 12 sl 9"}\n{"te')
        batches = answer_jsonl(DeployedSignalModels(tmp_path), lines, batch_size=100)
        first = next(batches)  # the writer paused mid-line: what arrived is answered, not held
        assert [line_no for line_no, _, _ in first] == [1, 2]
        assert first[1][1]["entities"]["pair"] == "BTCUSDT"
        os.write(write_end, b'xt": "gn"}\n\xff')
        os.close(write_end)
        write_end = None
        rest = [item for batch in batches for item in batch]
        assert [(n, p) for n, _, p in rest] == [(3, None), (4, "not UTF-8 (byte 0xff at column 1)")]
    finally:
        os.close(read_end)
        if write_end is not None:
            os.close(write_end)
    regular = tmp_path / "in.jsonl"
    regular.write_bytes(b"")
    with regular.open("rb") as fh:
        assert stdin_lines(fh) is fh  # a file: read as it is, full batches


def test_classifier_input_follows_the_normalization_its_model_recorded():
    """A model saved before the level marks (no version) is served the plain word tokens it
    was trained on, an @2 model the marks with the emoji as symbols, not the text the current
    trainer writes."""
    from trademl.models.classifier_runtime import _normalize
    from trademl.signals.tokenize import normalize_for_model

    text = "Long BTCUSDT 62000 tp 64000 ✅ sl 61000"
    current = normalize_for_model(text)
    assert current != text  # the levels are marked ↑ / ↓, the tick is a word
    assert _normalize([text], "trademl.signals.tokenize.normalize_for_model") == [text]
    marked = "Long BTCUSDT 62000 tp 64000 ↑ ✅ sl 61000 ↓"  # @2: marks, emoji kept
    assert _normalize([text], "trademl.signals.tokenize.normalize_for_model@2") == [marked]
    assert _normalize([text], "trademl.signals.tokenize.normalize_for_model@3") == [current]
    assert current == "Long BTCUSDT 62000 tp 64000 ↑ check sl 61000 ↓"
    assert _normalize([text]) == [current]  # nothing recorded: the current normalisation


@pytest.mark.parametrize(
    "text,settled",
    [
        ("#SOL/USDT LONG entry 142 tp 146 sl 139", True),  # stated direction
        ("SOL/USDT entry 142 tp 146 sl 139", True),  # the levels' direction
        ("USDCAD\nEntry: 1.3650\nTP1: 1.3700\nTP2: 1.3600", True),  # SIGNAL_NONE set-up
        # a whole set-up (entry, target and stop) whose levels give its side, pair unnamed
        ("Entry 4438-4433\nSL 4428\nTP1 4443\nTP2 4448", True),
        ("buy 4438 now", False),  # a side and a number but no pair and no set-up
        ("#INJ/USDT\nDirection: LONG\nEntry: 24.10\nTarget 1: 25.00 ✅\nTarget 2: 26.20 ✅", True),
        ("TP2 hit on ETH, move SL to entry", True),  # an update
        ("XAUUSD AL HEMEN", False),  # a layout the parser does not read: the classifier decides
        ("gm fam, coffee first", False),  # chatter: the classifier decides
    ],
)
def test_auto_mode_keeps_the_parsers_structural_readings(text, settled):
    from trademl.serving import _rules_confident
    from trademl.signals.parser import parse_signal

    assert _rules_confident(parse_signal(text), text) is settled
