"""Price-like numbers in signal text: which digits are levels, which are noise (dates, pips, %)."""

from __future__ import annotations

import re

# Runs of digits with their separators; dates, clock times and lists are told apart in Python
# (a single ASCII class is ten times faster than alternatives with look-behinds).
_RUN = re.compile(r"[0-9][0-9.,:]*")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
#: "5,42", "0,00001234": a decimal comma (Russian and European channels); exactly three digits
#: after the comma ("62,000") stay a thousands separator.
_DECIMAL_COMMA = re.compile(r"\d+,(?:\d{1,2}|\d{4,})")
#: "67 200": a space as the thousands separator, after a one- or two-digit group (a no-break or
#: thin space after up to three digits). "targets 100 200 300" stays three numbers.
_SPACED_THOUSANDS = re.compile(r"([ \u00a0\u202f])(\d{3})(?![\d])(?![.,]\d)")

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
    skip_to = -1
    for m in _RUN.finditer(text, start, end):
        if m.start() < skip_to:
            continue  # the second group of a "67 200" already read
        run = m.group().rstrip(".,:")
        s = m.start()
        if ":" in run:
            continue  # a clock time or a ratio
        if run.isdigit() and len(run) <= 3:
            spaced = _SPACED_THOUSANDS.match(text, s + len(run), end)
            if spaced is not None and (len(run) <= 2 or spaced.group(1) != " "):
                if not (s > start and (text[s - 1].isalnum() or text[s - 1] in ".,")):
                    value = float(run)
                    while spaced is not None:  # "1 250 000": every group with the same space
                        value, merged_end = value * 1000 + float(spaced.group(2)), spaced.end()
                        spaced = _SPACED_THOUSANDS.match(text, merged_end, end)
                        if spaced is not None and spaced.group(1) != text[s + len(run)]:
                            spaced = None
                    skip_to = merged_end
                    joined = prev_end >= 0 and _ZONE_JOINER.fullmatch(text, prev_end, s) is not None
                    if not _NOT_PRICE_AFTER.match(text, merged_end):
                        found.append((value, s, merged_end, joined))
                        prev_end = merged_end
                    continue
        if "," not in run or _DECIMAL_COMMA.fullmatch(run) or _THOUSANDS.fullmatch(run):
            parts = [(run, s)]
        else:  # a list written with commas: "1.2,1.3" or "3096,3040"
            parts = []
            offset = s
            for part in run.split(","):
                parts.append((part, offset))
                offset += len(part) + 1
        for raw, ps in parts:
            if not raw or raw.count(".") > 1:
                continue  # a date (21.12.2017) or an empty piece
            pe = ps + len(raw)
            if ps > start and (text[ps - 1].isalpha() or text[ps - 2 : ps] in _DIGIT_DOT):
                continue  # part of a name (H1, US30) or of "1.2.3"
            if ps > 0 and text[ps - 1] == "+":
                continue  # "+70" pips gained, not a level
            value = float(
                raw
                if "," not in raw
                else raw.replace(",", ".")
                if _DECIMAL_COMMA.fullmatch(raw)
                else raw.replace(",", "")
            )
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
