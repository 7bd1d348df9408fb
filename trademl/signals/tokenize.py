"""Word tokenisation with character offsets, shared by dataset export, training and serving.

Models see the same word boundaries at training and at serving time. Numbers stay whole
(``62,000.5``), a range ``62000-62500`` splits into ``62000``, ``-``, ``62500``, and every emoji or
symbol is its own token, so ``SHORT📉`` never reaches a WordPiece tokenizer as one [UNK] word.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Order matters: numbers first (with thousands separators and decimals), then words (letters,
# digits, underscores; a word may carry a trailing "x"/"%" only via separate tokens), then any
# single non-space character (emoji, punctuation, symbols).
_TOKEN_RE = re.compile(
    r"\d{1,3}(?:,\d{3})+(?:\.\d+)?"  # 1,234,567.89
    r"|\d+(?:\.\d+)?"  # 62000, 0.00001234
    r"|\.\d+"  # .5
    r"|[^\W\d_]+(?:[\d_]+[^\W\d_]*)*"  # words, including alphanumerics like TP1 or USDT2
    r"|\S",
    re.UNICODE,
)


def word_tokens(text: str) -> list[tuple[str, int, int]]:
    """Split ``text`` into ``(token, start, end)`` triples; ``text[start:end] == token``."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]


#: Marks written after a price-like number that lies above / below the message's first level.
ABOVE, BELOW = "↑", "↓"
#: A number farther than this factor from the reference level is not one of its levels.
_LEVEL_RATIO = 1.5
#: The reference opens the largest group of numbers within this factor of one another.
_REFERENCE_RATIO = 1.5


def _decimals(surface: str) -> int:
    for sep in ".,":
        if sep in surface:
            return len(surface) - surface.rindex(sep) - 1
    return 0


def _without_indices(text: str, nums: list) -> list:
    """``nums`` less the one- and two-digit integers quoted beside prices of three or more
    decimals within 1.5x of them: the "1" of "T.P 1" or "Timeframe: 1 Hour" beside an FX price
    1.25623 is an index or a count, not a level (and must not become the reference)."""
    from trademl.signals.numbers import within_ratio

    fine = [n[0] for n in nums if _decimals(text[n[1] : n[2]]) >= 3]
    if not fine:
        return nums
    return [
        n
        for n in nums
        if not (
            text[n[1] : n[2]].isdigit()
            and n[2] - n[1] <= 2
            and any(within_ratio(v, n[0], _LEVEL_RATIO) for v in fine)
        )
    ]


def level_marks(text: str, *, anchor_entry: bool = True) -> dict[int, str]:
    """Where to mark levels: end offset of a number -> ``ABOVE`` or ``BELOW``.

    The reference is the entry the rule parser reads, wherever it stands in the message
    (:func:`_entry_anchored_marks`; ``anchor_entry=False``: as before normalize_for_model@3).
    Without one, it is the first number of the largest group of price-like numbers within 1.5× of
    one another (an ID "4-03", a signal number or a second trade's prices further down do not
    make it; an entry zone "142-140" counts by its middle); every later number within 1.5× of it is
    marked by which side of it it lies. A transformer reads digits as word pieces and cannot
    compare 146 with 142.5; with the marks, "TP 146 ↑ ... SL 139 ↓" says long in any layout and
    language, which is what the class definition asks of it (a direction the levels imply is a
    direction).
    """
    from trademl.signals.numbers import ZONE_MAX_RATIO, scan_numbers, within_ratio

    if not any(c.isdigit() for c in text):
        return {}
    nums = _without_indices(text, scan_numbers(text, 0, len(text)))
    if len(nums) < 2:
        return {}
    anchored = _entry_anchored_marks(text, nums) if anchor_entry else None
    if anchored is not None:
        return anchored
    best, best_size = -1, 1
    for i, (value, _, _, _) in enumerate(nums[:12]):  # the reference opens the set-up
        size = sum(1 for n in nums if within_ratio(n[0], value, _REFERENCE_RATIO))
        if size > best_size:
            best, best_size = i, size
    if best < 0:
        return {}
    reference = nums[best][0]
    first = best + 1
    if (
        first < len(nums)
        and nums[first][3]
        and within_ratio(nums[first][0], reference, ZONE_MAX_RATIO)
    ):  # a zone: its partner is part of the entry ("134.30/35" shorthand is not one)
        reference = (reference + nums[first][0]) / 2
        first += 1
    marks = {}
    for n_value, _, end, _ in nums[first:]:
        if n_value != reference and within_ratio(n_value, reference, _LEVEL_RATIO):
            marks[end] = ABOVE if n_value > reference else BELOW
    return marks


def _entry_anchored_marks(text: str, nums: list) -> dict[int, str] | None:
    """Marks against the entry the rule parser reads (the middle of a zone), for every other
    number within 1.5x of it, before the entry or after it; None when the parser reads no entry.

    "T1: 150 / T2: 155 / Entry: 145 / SL: 140 / LONG" opens with its targets: against its first
    number every level but one read ↓, as in a short; against the entry they read long.
    """
    from trademl.signals.numbers import within_ratio
    from trademl.signals.parser import parse_signal

    parsed = parse_signal(text)
    if not parsed.entry:
        return None
    reference = sum(parsed.entry) / len(parsed.entry)
    entry_spans = [(s.start, s.end) for s in parsed.spans if s.label == "ENTRY"]
    marks = {}
    for value, start, end, _ in nums:
        if any(a <= start and end <= b for a, b in entry_spans) or value == reference:
            continue
        if within_ratio(value, reference, _LEVEL_RATIO):
            marks[end] = ABOVE if value > reference else BELOW
    return marks


#: A side glued to an upper-case pair ("XAUUSDSELL", "BTCUSDTLONG"): two words to a model.
_GLUED_SIDE = re.compile(r"([A-Z]{6,9})(BUY|SELL|LONG|SHORT)")


def _unglue(token: str) -> str:
    m = _GLUED_SIDE.fullmatch(token)
    return f"{m.group(1)} {m.group(2)}" if m else token


#: Emoji and pictographs as words. A WordPiece vocabulary such as the default encoder's has none
#: of them: "TP1 ✅", "⬆️", "🟢 LONG" and "🔴 SHORT" all reached the model as the one [UNK] token, so
#: a ticked (hit) target looked like a rocket, and an arrow or a coloured dot said nothing. The
#: marks signal channels use get a word that describes them (a colour, a check, an arrow); a
#: triangle or diamond, which channels use as bullets as often as for a direction ("🔻 1.10500" is
#: one room's stop), and any other symbol (Unicode category So), the bullet "•". Variation
#: selectors, joiners, skin tones and flag letters are dropped.
EMOJI_WORDS = {
    **dict.fromkeys("✅✔☑✓🗸🆗", "check"),
    **dict.fromkeys("❌✖✗✘❎", "cross"),
    **dict.fromkeys("⬆🔼⏫↗⤴🆙", "up"),
    **dict.fromkeys("⬇🔽⏬↘⤵", "down"),
    "📈": "chart up",
    "📉": "chart down",
    **dict.fromkeys("🟢🟩💚", "green"),
    **dict.fromkeys("🔴🟥❤", "red"),
    **dict.fromkeys("🛑⛔🚫", "stop"),
    **dict.fromkeys("💰💵💸🤑💲", "money"),
    **dict.fromkeys("⏰⏳⌛⏱", "time"),
    **dict.fromkeys("🔔📢📣", "alert"),
    **dict.fromkeys("👉➡", "→"),
    **dict.fromkeys("🔺🔻▲▼△▽", "triangle"),
    "🎯": "target",
    "🚀": "rocket",
    "🔥": "fire",
    "🐂": "bull",
    "🐻": "bear",
    "⚠": "warning",
    "📊": "chart",
    "👍": "thumbs up",
    "👎": "thumbs down",
}
#: Any other pictograph: one bullet token (its Unicode name, "banknote with yen sign" or "rose",
#: would spend the model's max_length on words that say nothing about a trade).
EMOJI_BULLET = "•"
#: What joins or varies an emoji (variation selectors, zero-width joiner, keycap): dropped. Other
#: combining marks stay: they are the vowel signs of Devanagari or Thai words.
_EMOJI_GLUE = frozenset("\ufe0e\ufe0f\u200d\u20e3")
#: A run of the same emoji longer than this is cut to it ("🚀🚀🚀🚀🚀🚀" is three rockets' worth).
_EMOJI_RUN = 3


#: Emoji written as shortcodes (":white_check_mark:", as Discord, Slack and some Telegram exports
#: write them): the symbol they stand for, so they read as the symbol does; any other
#: shortcode with an underscore in its name, a bullet.
_SHORTCODES = {
    "white_check_mark": "✅",
    "heavy_check_mark": "✔",
    "ballot_box_with_check": "☑",
    "x": "❌",
    "negative_squared_cross_mark": "❎",
    "chart_with_upwards_trend": "📈",
    "chart_with_downwards_trend": "📉",
    "arrow_up": "⬆",
    "arrow_down": "⬇",
    "arrow_upper_right": "↗",
    "arrow_lower_right": "↘",
    "green_circle": "🟢",
    "red_circle": "🔴",
    "rocket": "🚀",
    "fire": "🔥",
    "dart": "🎯",
    "moneybag": "💰",
    "warning": "⚠",
    "stop_sign": "🛑",
}
_SHORTCODE = re.compile(r":([a-z]+(?:_[a-z0-9]+)+|[a-z]+):")


def _shortcode(m: re.Match) -> str:
    name = m.group(1)
    if name in _SHORTCODES:
        return _SHORTCODES[name]
    return "🔹" if "_" in name else m.group()


def _emoji_word(token: str) -> str | None:
    """The word(s) for a one-character symbol token, "" to drop it, None for any other token."""
    import unicodedata

    if len(token) != 1 or token.isalnum():
        return None
    word = EMOJI_WORDS.get(token)
    if word is not None:
        return word
    if token in _EMOJI_GLUE or 0x1F3FB <= ord(token) <= 0x1F3FF or 0x1F1E6 <= ord(token) <= 0x1F1FF:
        return ""  # FE0F, ZWJ, keycaps, skin tones, flags' regional letters
    if unicodedata.category(token) == "So" and ord(token) >= 0x2190:  # not © ® °
        return EMOJI_BULLET  # arrows, dingbats, pictographs
    return None


#: The line-break token: "TP1 0.9064 ✅" (a hit target) and "0.9064 / ✅ TP 2" (the next line's
#: bullet) differ only by where the line breaks, which joining the tokens with spaces erased.
LINE_BREAK = "¶"


def normalize_for_model(text: str, *, version: int = 3) -> str:
    """The text a transformer sees: the word tokens joined by single spaces, a side glued to a
    pair split off it, each level followed by ``↑`` or ``↓`` (:func:`level_marks`), each emoji as
    its word (:data:`EMOJI_WORDS`) and each line break as :data:`LINE_BREAK`.

    Identical at training and serving time (a saved model records its version: ``version=2``
    is the earlier text, marks against the first level, emoji kept as symbols, no line breaks).
    """
    current = version >= 3
    if current and ":" in text:
        text = _SHORTCODE.sub(_shortcode, text)
    tokens = word_tokens(text)
    marks = level_marks(text, anchor_entry=current)
    out: list[str] = []
    run_token, run = None, 0
    previous_end = 0
    for tok, start, end in tokens:
        if current and "\n" in text[previous_end:start] and out and out[-1] != LINE_BREAK:
            out.append(LINE_BREAK)
        previous_end = end
        word = _emoji_word(tok) if current else None
        if word is not None:
            run, run_token = (run + 1, tok) if tok == run_token else (1, tok)
            if word and run <= _EMOJI_RUN:
                out.append(word)
            continue
        run_token = None
        out.append(_unglue(tok))
        mark = marks.get(end)
        if mark is not None:
            out.append(mark)
    return " ".join(out)


def bio_tags(
    tokens: Sequence[tuple[str, int, int]], spans: Sequence[tuple[int, int, str]]
) -> list[str]:
    """BIO tags for ``tokens`` given character ``spans`` ``(start, end, label)``.

    A token belongs to a span when it overlaps it; the first such token gets ``B-``. One linear
    sweep over tokens and spans (both sorted by position).
    """
    tags = ["O"] * len(tokens)
    if not spans:
        return tags
    i, n = 0, len(tokens)
    for start, end, label in sorted(spans):
        while i < n and tokens[i][2] <= start:
            i += 1
        j, first = i, True
        while j < n and tokens[j][1] < end:
            tags[j] = f"{'B' if first else 'I'}-{label}"
            first = False
            j += 1
    return tags


def spans_from_bio(
    tokens: Sequence[tuple[str, int, int]], tags: Sequence[str]
) -> list[tuple[int, int, str]]:
    """Character spans ``(start, end, label)`` from BIO ``tags`` over ``tokens``.

    An ``I-`` tag that does not continue a span of the same label opens a new one (the lenient
    reading that seqeval's default mode also takes).
    """
    spans: list[tuple[int, int, str]] = []
    current: list | None = None
    for (_, t_start, t_end), tag in zip(tokens, tags, strict=True):
        if tag == "O":
            current = None
            continue
        prefix, _, label = tag.partition("-")
        if prefix == "I" and current is not None and current[2] == label:
            current[1] = t_end
            spans[-1] = tuple(current)
            continue
        current = [t_start, t_end, label]
        spans.append(tuple(current))
    return spans
