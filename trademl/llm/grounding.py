"""Grounding: an LLM answer counts only when the message text supports every part of it."""

from __future__ import annotations

import math
import re
from typing import Any

from trademl.labels import NON_SIGNAL, SIGNAL_LONG, SIGNAL_SHORT
from trademl.signals.levels import side_from_levels

# --- grounding ------------------------------------------------------------------------------

# Lookaheads, so a number may start inside another: "Tp1.1.96600" holds 1.1, 1.966 and 96600.
_NUMBER_RES = (
    re.compile(r"(?<!\d)(?=(\d{1,3}(?:,\d{3})+(?:\.\d+)?)([kK]\b)?)"),
    re.compile(r"(?<!\d)(?=(\d+(?:\.\d+)?|\.\d+)([kK]\b)?)"),
)
_QUOTES = (
    "FDUSD",
    "USDT",
    "USDC",
    "BUSD",
    "TUSD",
    "USD",
    "EUR",
    "GBP",
    "JPY",
    "CHF",
    "CAD",
    "AUD",
    "NZD",
    "BTC",
    "ETH",
    "BNB",
)
_ALIASES = {
    "XAU": ("GOLD",),
    "XAG": ("SILVER",),
    "BTC": ("BITCOIN",),
    "ETH": ("ETHEREUM",),
    "US30": ("DOW", "DJ", "DJI"),
    "NAS100": ("NASDAQ", "NAS", "NQ"),
    "SPX": ("SP500",),
}
#: A horizon or a market event, not a side: "long-term", "short and medium term", "short squeeze",
#: "longs liquidated" ("buy the rumour" is excluded where buy is matched).
_NOT_A_SIDE = (
    r"(?![\s-]*(?:term|time|run)\b)"
    r"(?!\s*(?:and|or|&|/|to|-)\s*(?:long|short|mid|medium)[\s-]*term)"
    r"(?!s?[\s-]*(?:squeez|liquidat))"
)
_DIRECTION_RE = {
    "LONG": re.compile(
        rf"\b(?:long{_NOT_A_SIDE}|buy(?!\s+the\s+rumou?r)|bull)|📈|⬆|↗|🟢", re.IGNORECASE
    ),
    "SHORT": re.compile(rf"\b(?:short{_NOT_A_SIDE}|sell|bear)|📉|⬇|↘|🔴", re.IGNORECASE),
}
_INSTRUCTION_RE = re.compile(
    r"\b(?:ignore|disregard|forget)\b.{0,40}\b(?:instructions?|prompts?|rules|above|previous)\b"
    r"|\byou\s+are\s+now\b|\bact\s+as\b|\bpretend\b|\bsystem\s+prompt\b|\bnew\s+instructions?\b"
    r"|\b(?:answer|respond|reply|output)(?:\s+(?:with|only|as))?\s*[:=]?\s*[\"']?"
    r"(?:signal_\w+|non_signal|long|short)\b"
    r"|\b(?:classify|label|mark)\s+(?:this|it|me|the\s+message)\s+as\b"
    r"|\b(?:SIGNAL_LONG|SIGNAL_SHORT|SIGNAL_NONE|NON_SIGNAL)\b|</?message>",
    re.IGNORECASE | re.DOTALL,
)


def numbers_in(text: str) -> list[float]:
    """Every number written in ``text``: ``1,234.5`` is 1234.5; ``62k`` counts as 62 and 62000."""
    found = []
    for pattern in _NUMBER_RES:
        for match in pattern.finditer(text):
            value = float(match.group(1).replace(",", ""))
            found.append(value)
            if match.group(2):
                found.append(value * 1000)
    return found


def direction_from_levels(answer: dict[str, Any]) -> str | None:
    """The side an answer's own levels imply (:func:`trademl.signals.levels.side_from_levels`,
    the one definition: every target above the entry and the stop below it is a long, the mirror
    a short, an entry zone by its bounds), or ``None``."""
    return side_from_levels(answer["entry"], answer["targets"], answer["stop_loss"])


def pair_base(pair: str) -> str:
    """``BTCUSDT`` → ``BTC``, ``EURUSD`` → ``EUR``, ``XAUUSD`` → ``XAU``."""
    pair = pair.removesuffix("PERP")
    for quote in _QUOTES:
        if pair.endswith(quote) and len(pair) > len(quote):
            return pair[: -len(quote)]
    return pair


def instruction_like(text: str) -> str | None:
    """The first instruction-like phrase in ``text`` (prompt-injection tell), or ``None``."""
    match = _INSTRUCTION_RE.search(text)
    return match.group(0)[:60] if match else None


def grounding_problem(text: str, answer: dict[str, Any]) -> str | None:
    """Why ``answer`` is not supported by ``text``; ``None`` when every part of it is."""
    present = numbers_in(text)
    claimed = [*answer["entry"], *answer["targets"], answer["stop_loss"], answer["leverage"]]
    missing = [
        x
        for x in claimed
        if x is not None
        and not any(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) for y in present)
    ]
    if missing:
        return f"numbers not in the message: {', '.join(f'{x:.12g}' for x in missing)}"
    pair = answer["pair"]
    if pair:
        base = pair_base(pair)
        upper = text.upper()
        if not any(
            re.search(rf"(?<![A-Z0-9]){re.escape(name)}", upper)
            for name in (base, *_ALIASES.get(base, ()))
        ):
            return f"pair {pair}: base symbol {base} not in the message"
    label, side = answer["label"], answer["side"]
    expected_side = {SIGNAL_LONG: "LONG", SIGNAL_SHORT: "SHORT"}.get(label)
    if expected_side and side not in (None, expected_side):
        return f"label {label} contradicts side {side}"
    if label != NON_SIGNAL and expected_side is None and side is not None:
        return f"label {label} (no direction in words or levels) but side {side}"
    direction = side or expected_side
    if (
        direction
        and not _DIRECTION_RE[direction].search(text)
        and direction_from_levels(answer) != direction
    ):
        return (
            f"direction {direction} claimed, but neither a {direction.lower()}/buy/sell word "
            "in the message (a horizon such as 'short term' is not one) nor its levels imply it"
        )
    if label != NON_SIGNAL and not (
        pair or answer["entry"] or answer["targets"] or answer["stop_loss"] is not None
    ):
        return f"label {label} but no pair and no price level in the message"
    return None
