"""The LLM trade-label answer reader holds on any text (see contracts.TextContract): an answer
is either a label coherent with the price or refused with a reason, never an exception."""

import json
import math

from tests.robustness.contracts import TextContract, text_contract_tests
from trademl.gate.ai_labels import read_trade_answer

PRICE, ATR = 100.0, 1.0
_GOOD = {
    "recommendation": "BUY",
    "bias": "bullish",
    "target": 103,
    "stop_loss": 98,
    "confidence": 0.6,
}
EXAMPLES = (
    json.dumps(_GOOD),
    "```json\n"
    + json.dumps({**_GOOD, "recommendation": "SELL", "target": 97, "stop_loss": 102})
    + "\n```",
    json.dumps({**_GOOD, "recommendation": "HOLD", "bias": "neutral", "confidence": 1}),
    json.dumps({**_GOOD, "stop_loss": 101}),
    '{"recommendation": "BUY", "target": NaN, "stop_loss": 1e999, "confidence": -0}',
    "I'd buy here, target 103 and stop 98.",
)


def _read(text: str):
    return read_trade_answer(text, PRICE, ATR)


def _check(text: str, outcome) -> None:
    answer, reason = outcome
    assert (answer is None) != (reason is None), outcome
    if reason is not None:
        assert isinstance(reason, str) and reason
        return
    target, stop = answer["target"], answer["stop_loss"]
    assert all(math.isfinite(v) for v in (target, stop, answer["confidence"]))
    assert 0 <= answer["confidence"] <= 1
    if answer["recommendation"] == "BUY":
        assert stop < PRICE < target
    elif answer["recommendation"] == "SELL":
        assert target < PRICE < stop


CONTRACTS = [TextContract("read_trade_answer", _read, EXAMPLES, check=_check)]

test_text_any_input = text_contract_tests(CONTRACTS, max_examples=300)


def test_examples_read_as_intended():
    outcomes = [_read(text) for text in EXAMPLES]
    assert [a is not None for a, _ in outcomes] == [True, True, True, False, False, False]
    assert "BUY needs stop_loss < price" in outcomes[3][1]
    assert "not JSON" in outcomes[5][1]
