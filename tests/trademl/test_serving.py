"""Serving on hostile input and broken deployments: streaming answers, fallbacks that warn."""

from __future__ import annotations

import json
import logging
import sys
import types

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
        [answer] = models.predict(["BTC to the moon, entry 62000 tp 64000 sl 61000"])
    assert answer["extractor"] == "rules" and answer["entry"] == [62000.0]
    hf = registry.deployed_path("ner_extractor") / "hf"
    assert any(
        str(hf) in r.getMessage() and "rule parser" in r.getMessage() for r in caplog.records
    )
    assert models.name == "rules" and models.load_errors
    models.predict([SIGNAL])  # no second attempt, no second warning
    assert sum(str(hf) in r.getMessage() for r in caplog.records) == 1
