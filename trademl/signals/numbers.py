"""Price-like numbers in signal text: which digits are levels, which are noise (dates, pips, %)."""

from __future__ import annotations

import re

# Dates and clock times are matched first so that their digits never read as prices.
_NUMBER = re.compile(
    r"(?P<date>(?<!\d)\d{1,4}([./-])\d{1,2}\2\d{2,4}(?![\d.]))"
    r"|(?P<time>(?<![\d.])\d{1,2}:\d{2}(?::\d{2})?(?![\d.]))"
    r"|(?<!\d)(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])|\d+(?:\.\d+)?)"
    r"(?P<k>[kK](?![A-Za-z]))?"
)

# What may follow a number that is not a price: %, pips/points, an ordinal (1st), a unit glued on
# (4h, 2H), a keycap (1️⃣), or a list index "1)".
_NOT_PRICE_AFTER = re.compile(
    r"\s?%|\s*(?:pips?|points?|pts)(?![^\W\d])|[A-Za-zА-Яа-яЁё]|\ufe0f?\u20e3|\s?[x×](?![^\W\d])",
    re.IGNORECASE,
)
_INDEX_AFTER = re.compile(r"\s?\)|\.(?:\s|$)|:(?!\d)")

_DIGIT_DOT = frozenset(f"{d}." for d in "0123456789")

#: Separators that join two numbers into one entry zone ("62000-62500", "1.2735_1.2740", "4438/4433").
_ZONE_JOINER = re.compile(r"\s*(?:-|–|—|_|/|~|to|до)\s*", re.IGNORECASE)

#: A zone's second number must be this close to the first (rules out "134.30/35" shorthand).
ZONE_MAX_RATIO = 1.1


def scan_numbers(
    text: str, start: int, end: int
) -> list[tuple[float, int, int, bool]]:
    """Price-like numbers in text[start:end] as (value, start, end, joined_to_previous_by_zone)."""
    found: list[tuple[float, int, int, bool]] = []
    prev_end = -1
    for m in _NUMBER.finditer(text, start, end):
        raw = m.group("num")
        if raw is None:
            continue
        s, e = m.span("num")
        if s > start and (text[s - 1].isalpha() or text[s - 2 : s] in _DIGIT_DOT):
            continue  # H1, US30, "1.2.3": part of a name, unless glued to a keyword (SL109.5)
        if s > 0 and text[s - 1] == "+":
            continue  # "+70" pips gained, not a level
        tail_end = m.end()
        if m.group("k") is None and _NOT_PRICE_AFTER.match(text, e, end):
            continue
        if "." not in raw and "," not in raw and len(raw) <= 2 and int(raw) <= 20:
            if _INDEX_AFTER.match(text, e, end):
                continue
        value = float(raw.replace(",", ""))
        if m.group("k") is not None:
            value *= 1000.0
        joined = prev_end >= 0 and _ZONE_JOINER.fullmatch(text, prev_end, s) is not None
        found.append((value, s, tail_end, joined))
        prev_end = tail_end
    return found


def within_ratio(value: float, reference: float, ratio: float) -> bool:
    """Whether value lies within a factor `ratio` of reference (both positive)."""
    if value <= 0 or reference <= 0:
        return False
    return reference / ratio <= value <= reference * ratio
