"""NER training and serving on synthetic signal messages, and span → field post-processing."""

from __future__ import annotations

import json
import random

import pytest

from trademl.labels import BIO_TAGS, SIGNAL_FIELDS
from trademl.models.entity_fields import (
    field_scores,
    normalize_pair,
    normalize_side,
    parse_leverage,
    parse_numbers,
    spans_to_fields,
)
from trademl.signals.tokenize import bio_tags, word_tokens

# --- synthetic messages --------------------------------------------------------------------------

_COINS = {"BTC": 62000, "ETH": 3150, "SOL": 145, "XRP": 0.52, "DOGE": 0.081, "AVAX": 28, "LINK": 14}


def _price(rng: random.Random, base: float) -> str:
    value = base * rng.uniform(0.9, 1.1)
    if base >= 1000:
        return f"{value:,.0f}" if rng.random() < 0.3 else f"{value:.0f}"
    return f"{value:.4f}" if base < 1 else f"{value:.2f}"


def _compose(parts: list[tuple[str, str | None]]) -> dict:
    """Join ``(text, label)`` parts; spans are tracked while composing."""
    text, entities = "", []
    for chunk, label in parts:
        if label:
            entities.append({"start": len(text), "end": len(text) + len(chunk), "label": label})
        text += chunk
    tokens = word_tokens(text)
    tags = bio_tags(tokens, [(e["start"], e["end"], e["label"]) for e in entities])
    return {"text": text, "entities": entities, "tokens": [t for t, _, _ in tokens], "tags": tags}


def synthetic_message(rng: random.Random) -> dict:
    coin, base = rng.choice(list(_COINS.items()))
    long = rng.random() < 0.5
    sides = ["BUY", "LONG", "Long", "buy"] if long else ["SELL", "SHORT", "Short", "sell"]
    side = rng.choice(sides)
    p = lambda: _price(rng, base)  # noqa: E731
    lev = str(rng.choice([3, 5, 10, 20, 50]))
    style = rng.randrange(5)
    if style == 0:
        pair = rng.choice([f"{coin}/USDT", f"{coin}USDT", f"#{coin}"])
        parts = [(side, "SIDE"), (" ", None), (pair, "PAIR"), ("\nEntry: ", None),
                 (p(), "ENTRY"), (" - ", None), (p(), "ENTRY"), ("\nTP1: ", None),
                 (p(), "TARGET"), ("\nTP2: ", None), (p(), "TARGET"), ("\nSL: ", None),
                 (p(), "STOP_LOSS"), ("\nLeverage: ", None), (lev + "x", "LEVERAGE")]  # fmt: skip
    elif style == 1:
        emoji = "🟢" if long else "🔴"
        parts = [(f"#{coin}", "PAIR"), (" ", None), (side, "SIDE"), (f" {emoji} entry ", None),
                 (p(), "ENTRY"), (" targets ", None), (p(), "TARGET"), (" / ", None),
                 (p(), "TARGET"), (" / ", None), (p(), "TARGET"), (" stop ", None),
                 (p(), "STOP_LOSS"), (" ", None), ("x" + lev, "LEVERAGE")]  # fmt: skip
    elif style == 2:
        parts = [(side, "SIDE"), (" ", None), (f"{coin}USDT", "PAIR"), (" ", None), (p(), "ENTRY"),
                 ("\nSL ", None), (p(), "STOP_LOSS"), ("\nTP ", None), (p(), "TARGET")]  # fmt: skip
    elif style == 3:
        parts = [(f"{coin}USDT.P", "PAIR"), (" | ", None), (side, "SIDE"), (" | Zone ", None),
                 (p(), "ENTRY"), ("-", None), (p(), "ENTRY"), (" | Targets: ", None),
                 (p(), "TARGET"), (", ", None), (p(), "TARGET"), (" | Stop-loss: ", None),
                 (p(), "STOP_LOSS"), (" | Cross ", None), (lev + "x", "LEVERAGE")]  # fmt: skip
    else:
        chatter = [f"TP1 hit on {coin}! +{rng.randint(5, 90)}% profit 🚀",
                   f"Market update: {coin} consolidating near {p()}, stay patient",
                   f"Closed {coin} trade manually, next setup soon",
                   f"Good morning traders, {rng.randint(3, 9)} signals today"]  # fmt: skip
        parts = [(rng.choice(chatter), None)]
    return _compose(parts)


def synthetic_rows(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    rows = [synthetic_message(rng) for _ in range(n)]
    for i, row in enumerate(rows):
        row["split"] = "train" if i < 0.7 * n else "validation" if i < 0.85 * n else "test"
    return rows


def test_synthetic_rows_are_consistent():
    for row in synthetic_rows(50):
        assert row["tokens"] == [t for t, _, _ in word_tokens(row["text"])]
        assert set(row["tags"]) <= set(BIO_TAGS)
        for e in row["entities"]:
            assert row["text"][e["start"] : e["end"]].strip() == row["text"][e["start"] : e["end"]]


# --- spans → fields ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,234.5", [1234.5]),
        ("0.00001234", [0.00001234]),
        ("62k", [62000]),
        ("1.5K", [1500]),
        ("62000-62500", [62000, 62500]),
        ("4438/4433", [4438, 4433]),
        ("62000,62500", [62000, 62500]),
        ("1,234,567", [1234567]),
        ("0,0123", [0.0123]),
        ("1,5", [1.5]),
        ("TP1 62000", [62000]),
        ("@ 1.0740", [1.074]),
        ("no number", []),
    ],
)
def test_parse_numbers(raw, expected):
    assert parse_numbers(raw) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("10x", 10), ("x10", 10), ("Cross 20X", 20), ("х25", 25), ("5-10x", 5), ("isolated", None)],
)
def test_parse_leverage(raw, expected):
    assert parse_leverage(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("btc/usdt", "BTCUSDT"),
        ("#BTCUSDT.P", "BTCUSDT"),
        ("$pepe", "PEPEUSDT"),
        ("BTC", "BTCUSDT"),
        ("ETH-PERP", "ETHUSDT"),
        ("GOLD", "XAUUSD"),
        ("gold/usd", "XAUUSD"),
        ("EUR USD", "EURUSD"),
        ("EUR/USD", "EURUSD"),
        ("GBPJPY", "GBPJPY"),
        ("#PIVX/BTC", "PIVXBTC"),
        ("US30", "US30"),
        ("1000PEPE", "1000PEPEUSDT"),
        ("#/", None),
        (":arrow_up_small:", None),  # an emoji shortcode is not a coin
        ("DJ", None),  # nor a bare two-letter abbreviation
        ("$OP", "OPUSDT"),
        ("BTC_USDT", "BTCUSDT"),
    ],
)
def test_normalize_pair(raw, expected):
    assert normalize_pair(raw) == expected


def test_normalize_pair_default_quote():
    assert normalize_pair("SOL", default_quote="usdc") == "SOLUSDC"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Buy limit", "LONG"),
        ("LONG", "LONG"),
        ("bullish", "LONG"),
        ("ЛОНГ", "LONG"),
        ("🟢", "LONG"),
        ("SELL NOW", "SHORT"),
        ("Short", "SHORT"),
        ("ШОРТ", "SHORT"),
        ("📉", "SHORT"),
        ("setup", None),
        ("buyer", None),
    ],
)
def test_normalize_side(raw, expected):
    assert normalize_side(raw) == expected


def test_spans_to_fields_full_signal():
    text = "BUY #btc/usdt\nEntry: 62,000-62,500\nTP1: 63k\nTP2: 64000\nSL: 61000\nLev x10"
    spans = [
        (0, 3, "SIDE"),
        {"start": 4, "end": 13, "label": "PAIR"},
        (21, 34, "ENTRY"),
        (40, 43, "TARGET"),
        (49, 54, "TARGET"),
        (59, 64, "STOP_LOSS"),
        (69, 72, "LEVERAGE"),
    ]
    assert spans_to_fields(text, spans) == {
        "pair": "BTCUSDT",
        "side": "LONG",
        "entry": [62000, 62500],
        "targets": [63000, 64000],
        "stop_loss": 61000,
        "leverage": 10,
    }


def test_spans_to_fields_empty_and_unordered():
    assert spans_to_fields("hello", []) == {
        "pair": None, "side": None, "entry": [], "targets": [], "stop_loss": None, "leverage": None
    }  # fmt: skip
    text = "GOLD SELL 4626 SL 4632 TP 4620 TP 4615"
    spans = [(31, 33, "TARGET"), (34, 38, "TARGET"), (26, 30, "TARGET"), (0, 4, "PAIR"),
             (5, 9, "SIDE"), (10, 14, "ENTRY"), (18, 22, "STOP_LOSS")]  # fmt: skip
    fields = spans_to_fields(text, spans)
    assert fields["pair"] == "XAUUSD" and fields["side"] == "SHORT"
    assert fields["targets"] == [4620, 4615]  # text order, whatever the span order
    assert fields["stop_loss"] == 4632


def test_field_scores():
    gold = [{"pair": "BTCUSDT", "entry": [1.0, 2.0], "side": "LONG"}, {"pair": "ETHUSDT"}]
    pred = [
        {"pair": "BTCUSDT", "entry": [2, 1.0000000000001], "side": "SHORT"},
        {"pair": "ETHUSDT"},
    ]
    scores = field_scores(gold, pred)
    assert scores["pair"] == 1.0 and scores["entry"] == 1.0 and scores["side"] == 0.5
    assert scores["all_fields"] == 0.5
    assert set(SIGNAL_FIELDS) <= set(scores)


# --- training and serving ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    pytest.importorskip("torch")
    from trademl.models.ner import NerConfig, train_ner

    rows = synthetic_rows(160)
    progress: list[dict] = []
    out = tmp_path_factory.mktemp("ner") / "model"
    config = NerConfig(max_length=64, epochs=2, batch_size=16, learning_rate=3e-4)
    result = train_ner(rows, out, config, progress=progress.append)
    return result, progress, rows


def test_training_beats_all_o_baseline(trained):
    result, progress, _ = trained
    # An all-"O" tagger scores entity F1 0 on the held-out split.
    assert result.metrics["entity_f1"] > 0.2
    assert result.metrics["fields"]["pair"] > 0
    assert [p["epoch"] for p in progress] == list(range(1, len(progress) + 1))
    assert {"epoch", "train_loss", "val_f1", "seconds"} <= set(progress[0])


def test_saved_directory_layout(trained):
    result, _, _ = trained
    names = {p.name for p in result.output_dir.iterdir()}
    expected = {"config.json", "model.safetensors", "trademl_ner.json", "tokenizer_config.json"}
    assert expected <= names
    manifest = json.loads((result.output_dir / "trademl_ner.json").read_text())
    assert manifest["labels"] == list(BIO_TAGS)
    assert manifest["metrics"]["entity_f1"] == result.metrics["entity_f1"]
    assert manifest["config"]["max_length"] == 64
    assert not [p for p in result.output_dir.parent.iterdir() if p.name.startswith(".")]


def test_load_and_extract_round_trip(trained):
    from trademl.models.ner import NerExtractor

    result, _, rows = trained
    extractor = NerExtractor.load(result.output_dir)
    test_rows = [r for r in rows if r["split"] == "test"]
    texts = [r["text"] for r in test_rows] + [""]
    out = extractor.extract(texts, batch_size=8)
    assert len(out) == len(texts)
    assert out[-1]["spans"] == [] and out[-1]["pair"] is None
    for item, text in zip(out, texts, strict=True):
        assert set(SIGNAL_FIELDS) <= set(item)
        for span in item["spans"]:
            assert text[span["start"] : span["end"]] == span["text"]
    gold = [spans_to_fields(r["text"], r["entities"]) for r in test_rows]
    assert field_scores(gold, out[:-1])["pair"] == pytest.approx(result.metrics["fields"]["pair"])


def test_load_rejects_a_directory_without_manifest(tmp_path):
    pytest.importorskip("torch")
    from trademl.models.ner import NerExtractor

    with pytest.raises(FileNotFoundError, match="trademl_ner.json"):
        NerExtractor.load(tmp_path)


def test_rows_without_validation_split_carve_it_from_train():
    from trademl.models.ner import _split

    rows = [{**r, "split": "train"} for r in synthetic_rows(40)]
    splits = _split(rows, seed=1)
    assert len(splits["validation"]) == 4 and len(splits["train"]) == 36
    assert splits["test"] == splits["validation"]
    with pytest.raises(ValueError, match="no rows with split 'train'"):
        _split([{**r, "split": "test"} for r in rows], seed=1)


def test_row_tags_derived_from_entities_and_checked():
    from trademl.models.ner import row_words_and_tags

    row = synthetic_rows(5)[0]
    words, tags = row_words_and_tags({"text": row["text"], "entities": row["entities"]})
    assert (words, tags) == (row["tokens"], row["tags"])
    with pytest.raises(ValueError, match="tokens but"):
        row_words_and_tags({**row, "tags": row["tags"][:-1]})


@pytest.mark.parametrize(
    ("text", "surface", "kept"),
    [
        ("BTC long, Leverage: 10", "10", True),
        ("SOL short 20x", "20", True),
        ("ETH x25 long", "25", True),
        ("ЛОНГ BTC Плечо х10", "10", True),
        ("Cross 50 BTC long", "50", True),
        ("GBPCAD 15m Chart", "15", False),  # a timeframe the model tagged: not a leverage
        ("EURUSD buy, TP 20 pips", "20", False),
    ],
)
def test_a_leverage_span_needs_a_leverage_marker(text, surface, kept):
    start = text.index(surface)
    fields = spans_to_fields(text, [(start, start + len(surface), "LEVERAGE")])
    assert fields["leverage"] == (int(surface) if kept else None)
