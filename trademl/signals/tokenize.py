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


def normalize_for_model(text: str) -> str:
    """The text a transformer sees: the word tokens joined by single spaces.

    Identical at training and serving time; keeps emoji (they carry direction) but never glued
    to a word.
    """
    return " ".join(tok for tok, _, _ in word_tokens(text))


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
