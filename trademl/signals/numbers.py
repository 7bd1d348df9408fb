"""Price-like numbers in signal text: which digits are levels, which are noise (dates, pips, %)."""

from __future__ import annotations

import re

# Runs of digits with their separators; dates, clock times and lists are told apart in Python
# (a single ASCII class is ten times faster than alternatives with look-behinds).
_RUN = re.compile(r"[0-9][0-9.,:]*")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")

# What may follow a number that is not a price: %, pips/points, an ordinal (1st), a unit glued on
# (4h, 2H), a keycap (1️⃣), or a list index "1)".
_NOT_PRICE_AFTER = re.compile(
    r"\s?%|\s*(?:pips?|points?|pts)(?![^\W\d])|[A-Za-zА-Яа-яЁё]|\ufe0f?\u20e3|\s?[x×](?![^\W\d])",
    re.IGNORECASE,
)
_INDEX_AFTER = re.compile(r"\s?\)|\.(?:\s|$)|:(?!\d)")

_DIGIT_DOT = frozenset(f"{d}." for d in "0123456789")

#: Separators that join two numbers into one entry zone ("62000-62500", "1.27_1.28", "4438/4433").
_ZONE_JOINER = re.compile(r"\s*(?:-|–|—|_|/|~|to|до)\s*", re.IGNORECASE)

#: A zone's second number must be this close to the first (rules out "134.30/35" shorthand).
ZONE_MAX_RATIO = 1.1


#: (value, start, end, joined to the previous number by a zone separator)
Number = tuple[float, int, int, bool]


def scan_numbers(text: str, start: int, end: int) -> list[Number]:
    """Price-like numbers in text[start:end], in order.

    A number glued to a word before it (H1, US30) is skipped unless it opens the region, where it
    follows a keyword directly (SL109.5, BUY1.0850).
    """
    found: list[Number] = []
    prev_end = -1
    for m in _RUN.finditer(text, start, end):
        run = m.group().rstrip(".,:")
        s = m.start()
        if ":" in run:
            continue  # a clock time or a ratio
        if "," in run and _THOUSANDS.fullmatch(run) is None:
            parts = []
            offset = s
            for part in run.split(","):
                parts.append((part, offset))
                offset += len(part) + 1
        else:
            parts = [(run, s)]
        for raw, ps in parts:
            if not raw or raw.count(".") > 1:
                continue  # a date (21.12.2017) or an empty piece
            pe = ps + len(raw)
            if ps > start and (text[ps - 1].isalpha() or text[ps - 2 : ps] in _DIGIT_DOT):
                continue  # part of a name (H1, US30) or of "1.2.3"
            if ps > 0 and text[ps - 1] == "+":
                continue  # "+70" pips gained, not a level
            value = float(raw.replace(",", ""))
            tail_end = pe
            if text[pe : pe + 1] in ("k", "K") and not text[pe + 1 : pe + 2].isalpha():
                value *= 1000.0
                tail_end = pe + 1
            elif _NOT_PRICE_AFTER.match(text, pe):
                continue
            elif len(raw) <= 2 and value <= 20 and _INDEX_AFTER.match(text, pe):
                continue
            joined = prev_end >= 0 and _ZONE_JOINER.fullmatch(text, prev_end, ps) is not None
            found.append((value, ps, tail_end, joined))
            prev_end = tail_end
    return found


def within_ratio(value: float, reference: float, ratio: float) -> bool:
    """Whether value lies within a factor `ratio` of reference (both positive)."""
    if value <= 0 or reference <= 0:
        return False
    return reference / ratio <= value <= reference * ratio
