"""Every function that reads one message text holds up on any text (see contracts.TextContract)."""

import math

from tests.robustness.contracts import TextContract, text_contract_tests
from trademl.labels import ENTITY_LABELS, SIGNAL_CLASSES
from trademl.llm.grounding import numbers_in
from trademl.models.entity_fields import parse_leverage, parse_numbers, spans_to_fields
from trademl.signals.normalize import find_pair, normalize_pair
from trademl.signals.numbers import scan_numbers
from trademl.signals.parser import parse_signal
from trademl.signals.tokenize import bio_tags, normalize_for_model, word_tokens

EXAMPLES = (
    "BTCUSDT LONG\nEntry: 65000 - 64500\nTP1 66000 ✅\nTP2 67,200\nSL 63.500\nLeverage x10",
    "#ETH/USDT SHORT 📉 entry 3 250,5 targets 3200 3150 3100 stop 3300 Cross 20x",
    "XAUUSD SELL NOW 2707.61 SL 30 pips TP 60pips",
    "Плечо х10 ШОРТ SOL вход 145,2 цели 140 / 135 стоп 150",
    "gm everyone, BTC long-term holders bought twice this week at 3pm",
    "Target 1: 5.82✅ Target 2: 5.93✅ 52.9% profit",
)


def _check_parsed(text: str, parsed) -> None:
    assert parsed.label in SIGNAL_CLASSES
    for span in parsed.spans:
        assert 0 <= span.start < span.end <= len(text), span
        assert span.label in ENTITY_LABELS
    for value in (*parsed.entry, *parsed.targets, parsed.stop_loss, parsed.leverage):
        assert value is None or math.isfinite(value), parsed


def _check_spans_to_fields(text: str, fields) -> None:
    for value in (*fields["entry"], *fields["targets"], fields["stop_loss"], fields["leverage"]):
        assert value is None or math.isfinite(value), fields


def _parsed_fields(text: str):
    """The NER post-processor on the parser's own spans: the path serving takes."""
    return spans_to_fields(text, [(s.start, s.end, s.label) for s in parse_signal(text).spans])


def _check_bio(text: str, tags) -> None:
    assert len(tags) == len(word_tokens(text))
    assert all(t == "O" or t[2:] in ENTITY_LABELS for t in tags), tags


def _parser_bio(text: str):
    spans = [(s.start, s.end, s.label) for s in parse_signal(text).spans]
    return bio_tags(word_tokens(text), spans)


CONTRACTS = [
    TextContract("parse_signal", parse_signal, EXAMPLES, check=_check_parsed),
    TextContract("normalize_for_model", normalize_for_model, EXAMPLES),
    TextContract("word_tokens", word_tokens, EXAMPLES),
    TextContract("bio_tags", _parser_bio, EXAMPLES, check=_check_bio),
    TextContract("scan_numbers", lambda t: scan_numbers(t, 0, len(t)), EXAMPLES),
    TextContract("numbers_in", numbers_in, EXAMPLES),
    TextContract("find_pair", find_pair, EXAMPLES),
    TextContract("normalize_pair", normalize_pair, EXAMPLES),
    TextContract("entity_parse_numbers", parse_numbers, EXAMPLES),
    TextContract("entity_parse_leverage", parse_leverage, EXAMPLES),
    TextContract("spans_to_fields", _parsed_fields, EXAMPLES, check=_check_spans_to_fields),
]

test_text_any_input = text_contract_tests(CONTRACTS)
