"""Typed signal fields (the gold format) from labelled character spans.

The NER model and the rule parser both produce spans; this module is the one place that turns a
span's text into a number, a normalised pair or a direction, so both are scored the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from trademl.labels import SIGNAL_FIELDS

#: Quote currencies a pair may already end with (longest first, so USDT wins over USD).
QUOTE_CURRENCIES: tuple[str, ...] = (
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "BTC", "ETH", "BNB",
    "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "MXN", "ZAR", "TRY", "SEK", "NOK",
    "SGD", "HKD", "PLN", "CNH", "RUB", "TRX", "DAI",
)  # fmt: skip

#: Names desks use for a symbol, mapped to the symbol the gold format writes.
PAIR_ALIASES: dict[str, str] = {
    "GOLD": "XAUUSD",
    "XAU": "XAUUSD",
    "SILVER": "XAGUSD",
    "XAG": "XAGUSD",
    "OIL": "USOIL",
    "WTI": "USOIL",
    "BRENT": "UKOIL",
    "DOW": "US30",
    "DJ30": "US30",
    "NASDAQ": "NAS100",
    "NAS": "NAS100",
    "US100": "NAS100",
    "SP500": "US500",
    "SPX": "US500",
    "SPX500": "US500",
    "DAX": "GER40",
    "DE40": "GER40",
}

#: Index and commodity CFD symbols that carry no quote currency and must not get one.
_STANDALONE_SYMBOLS = frozenset(
    {"US30", "NAS100", "US500", "USOIL", "UKOIL", "GER40", "UK100", "JP225", "XAUUSD", "XAGUSD"}
)

_LONG_WORDS = (
    "long", "buy", "bull", "bullish", "up", "calls", "call", "лонг", "лонгуем", "покупка",
    "купить", "покупаем", "вверх", "рост", "compra", "comprar", "achat",
)  # fmt: skip
_SHORT_WORDS = (
    "short", "sell", "bear", "bearish", "down", "puts", "put", "шорт", "шортим", "продажа",
    "продать", "продаем", "продаём", "вниз", "падение", "venta", "vender", "vente",
)  # fmt: skip
_LONG_SYMBOLS = ("🟢", "📈", "⬆", "🔼", "🚀", "🐂", "↗")
_SHORT_SYMBOLS = ("🔴", "📉", "⬇", "🔽", "🐻", "↘")

# A number as signal channels write it: thousands groups, a decimal point or comma, an optional
# "k" multiplier ("62k"). No sign: a "-" between two numbers is a range, never a minus. A number
# glued to letters ("TP1", "x10") is not a price.
_NUMBER_RE = re.compile(
    r"(?<![\w.])"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![,\d])"  # 1,234,567.89
    r"|\d{1,3},\d+(?![,\d])"  # 0,0123 (decimal comma)
    r"|\d+(?:\.\d+)?"  # 62000, 0.00001234
    r"|\.\d+)"  # .5
    r"(?P<mult>[kK](?![^\W\d_]))?"
)
_THOUSANDS_RE = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?")
_PLAIN_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")


def parse_number(raw: str) -> float | int | None:
    """The first number in ``raw`` (``"1,234.5"``, ``"0,0123"``, ``"62k"``), or None."""
    numbers = parse_numbers(raw)
    return numbers[0] if numbers else None


def parse_numbers(raw: str) -> list[float | int]:
    """Every number in ``raw`` in order; a zone ``"62000-62500"`` or ``"4438/4433"`` gives two."""
    values: list[float | int] = []
    for match in _NUMBER_RE.finditer(raw):
        value = _to_float(match.group("num"))
        if match.group("mult"):
            value *= 1_000
        values.append(_tidy(value))
    return values


def parse_leverage(raw: str) -> float | int | None:
    """Leverage from ``"10x"``, ``"x10"``, ``"Cross 20X"``, ``"20"``; None when no number."""
    match = _PLAIN_NUMBER_RE.search(raw)
    return None if match is None else _tidy(float(match.group()))


_SHORTCODE = re.compile(r":[a-z0-9]+(?:_[a-z0-9]+)+:?|[a-z]+_[a-z]+_", re.IGNORECASE)


def normalize_pair(raw: str, default_quote: str = "USDT") -> str | None:
    """Normalised symbol: ``"#btc/usdt.P"`` → ``BTCUSDT``, ``"GOLD"`` → ``XAUUSD``.

    A bare coin (``"SOL"``, ``"$PEPE"``) gets ``default_quote`` appended, because crypto desks
    quote against USDT unless they say otherwise; forex and metal pairs already carry a quote.
    """
    if _SHORTCODE.search(raw):
        return None  # an emoji shortcode (":arrow_up_small:") the model took for a coin
    if re.fullmatch(r"\s*[A-Za-z]{1,2}\s*", raw):
        return None  # a bare two-letter word is an abbreviation (DJ, BE, TP); "$OP" still counts
    symbol = raw.strip().upper()
    symbol = re.sub(r"\.P$|[\s_-]*PERP(?:ETUAL)?$", "", symbol)
    symbol = re.sub(r"[^0-9A-Z]", "", symbol)
    if not symbol:
        return None
    symbol = PAIR_ALIASES.get(symbol, symbol)
    if symbol in _STANDALONE_SYMBOLS:
        return symbol
    for quote in QUOTE_CURRENCIES:
        base = symbol.removesuffix(quote)
        if base != symbol and len(base) >= 2:
            # "GOLDUSD" and "SILVERUSD" name the metal symbols.
            return PAIR_ALIASES[base] if base in ("GOLD", "SILVER") else symbol
    return symbol + default_quote.upper()


def normalize_side(raw: str) -> str | None:
    """``LONG`` / ``SHORT`` from a side span (``"Buy limit"``, ``"ШОРТ"``, ``"📉"``), else None."""
    lowered = raw.lower()
    first: tuple[int, str] | None = None
    for words, symbols, side in (
        (_LONG_WORDS, _LONG_SYMBOLS, "LONG"),
        (_SHORT_WORDS, _SHORT_SYMBOLS, "SHORT"),
    ):
        positions = [m.start() for w in words for m in re.finditer(rf"(?<!\w){w}(?!\w)", lowered)]
        positions += [i for s in symbols if (i := raw.find(s)) >= 0]
        if positions and (first is None or min(positions) < first[0]):
            first = (min(positions), side)
    return first[1] if first else None


def spans_to_fields(
    text: str, spans: Iterable[Mapping[str, Any] | Sequence[Any]], default_quote: str = "USDT"
) -> dict[str, Any]:
    """The six gold-format fields from entity ``spans`` over ``text``.

    ``spans`` are ``{"start", "end", "label"}`` dicts or ``(start, end, label)`` tuples. The first
    PAIR / SIDE / STOP_LOSS / LEVERAGE span that parses wins; ENTRY and TARGET collect every number
    of every span in text order (a zone gives two entries).
    """
    by_label: dict[str, list[str]] = {}
    for span in sorted((_as_tuple(s) for s in spans), key=lambda s: (s[0], s[1])):
        start, end, label = span
        if label == "LEVERAGE" and not leverage_is_marked(text, start, end):
            continue  # "15m Chart", "TP 20": a bare number is not a leverage
        by_label.setdefault(label, []).append(text[start:end])

    def first(label: str, parse) -> Any:
        for chunk in by_label.get(label, []):
            if (value := parse(chunk)) is not None:
                return value
        return None

    return {
        "pair": first("PAIR", lambda s: normalize_pair(s, default_quote)),
        "side": first("SIDE", normalize_side),
        "entry": [n for chunk in by_label.get("ENTRY", []) for n in parse_numbers(chunk)],
        "targets": [n for chunk in by_label.get("TARGET", []) for n in parse_numbers(chunk)],
        "stop_loss": first("STOP_LOSS", parse_number),
        "leverage": first("LEVERAGE", parse_leverage),
    }


_LEVERAGE_WORD = re.compile(r"lev|cross|isolated|margin|плеч|кросс|изолир", re.IGNORECASE)


def leverage_is_marked(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is written as a leverage: an x next to it ("10x", "x20", "10х") or
    a leverage word shortly before it ("Leverage: 10", "Cross 20")."""
    surface, before, after = text[start:end], text[max(0, start - 24) : start], text[end : end + 2]
    if re.search(r"[x×х]", surface, re.IGNORECASE):
        return True
    if re.search(r"[x×х]\s?$", before, re.IGNORECASE) or re.match(
        r"\s?[x×х](?![^\W\d_])", after, re.IGNORECASE
    ):
        return True
    return _LEVERAGE_WORD.search(before) is not None


def _as_tuple(span: Mapping[str, Any] | Sequence[Any]) -> tuple[int, int, str]:
    if isinstance(span, Mapping):
        return int(span["start"]), int(span["end"]), str(span["label"])
    start, end, label = span[:3]
    return int(start), int(end), str(label)


def _to_float(num: str) -> float:
    # "1,234" groups thousands; "0,123" and "1,5" use a decimal comma.
    if _THOUSANDS_RE.fullmatch(num):
        return float(num.replace(",", ""))
    return float(num.replace(",", "."))


def _tidy(value: float) -> float | int:
    return int(value) if value.is_integer() else value


def fields_equal(gold: Any, pred: Any) -> bool:
    """Field equality as the evaluation counts it: numbers to 1e-9, lists as multisets."""
    if isinstance(gold, list) or isinstance(pred, list):
        gold, pred = sorted(gold or []), sorted(pred or [])
        return len(gold) == len(pred) and all(map(fields_equal, gold, pred))
    if isinstance(gold, int | float) and isinstance(pred, int | float):
        return math.isclose(gold, pred, rel_tol=1e-9, abs_tol=1e-12)
    return gold == pred


def field_scores(
    gold_rows: Sequence[Mapping[str, Any]], pred_rows: Sequence[Mapping[str, Any]]
) -> dict[str, float]:
    """Per-field exact-match accuracy over rows, plus ``all_fields`` (every field right)."""
    if len(gold_rows) != len(pred_rows):
        raise ValueError(f"field_scores: {len(gold_rows)} gold rows but {len(pred_rows)} predicted")
    if not gold_rows:
        return {}
    hits = {name: 0 for name in SIGNAL_FIELDS}
    all_right = 0
    for gold, pred in zip(gold_rows, pred_rows, strict=True):
        right = [fields_equal(gold.get(name), pred.get(name)) for name in SIGNAL_FIELDS]
        for name, ok in zip(SIGNAL_FIELDS, right, strict=True):
            hits[name] += ok
        all_right += all(right)
    n = len(gold_rows)
    return {**{name: hits[name] / n for name in SIGNAL_FIELDS}, "all_fields": all_right / n}
