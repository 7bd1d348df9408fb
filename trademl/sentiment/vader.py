"""VADER, the lexicon half of the sentiment ensemble: compound scores, a soft 3-class
distribution and the standard labels.

Numpy and vaderSentiment only (the serving runtime imports this). One analyzer per process.

VADER's own ``polarity_scores`` is quadratic in the number of words and of emoji (measured: 2,000
glued emoji 1.7 s, a 100,000-character post 19 s), so a hostile post could stall a bot. Texts are
therefore prepared in linear time first: lone surrogates become U+FFFD, emoji become VADER's own
descriptions (exactly as ``polarity_scores`` would do it), and only the first
:data:`MAX_VADER_WORDS` words are scored. Below that cap the compound is VADER's, unchanged.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

import numpy as np

from trademl.sentiment.labels import BEARISH, BULLISH, NEUTRAL

#: VADER reads a post's first this many words (a forum post is rarely longer; the compound
#: saturates long before). Keeps one text under ~10 ms whatever it holds.
MAX_VADER_WORDS = 256
#: Characters looked at before the word cap (bounds the linear pass on a megabyte string).
MAX_VADER_CHARS = 20_000
#: The standard VADER rule: compound >= 0.05 positive, <= -0.05 negative, else neutral.
DEFAULT_NEUTRAL_BAND = 0.05

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_ANALYZER = None
_ANALYZER_LOCK = threading.Lock()


def safe_text(text: object) -> str:
    """``text`` as something every encoder accepts: ``None`` -> ``""``, a non-str -> ``str()``,
    lone surrogates (a JSON ``\\ud800`` escape) -> U+FFFD. Shared by VADER, the SetFit model and
    the ONNX runtime, so training and serving read the same characters."""
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def _analyzer():
    global _ANALYZER
    if _ANALYZER is None:
        with _ANALYZER_LOCK:
            if _ANALYZER is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                _ANALYZER = SentimentIntensityAnalyzer()
    return _ANALYZER


def _prepare(text: object, emojis: dict[str, str]) -> str:
    """``polarity_scores``' emoji pass done in linear time, then the word cap."""
    text = safe_text(text)[:MAX_VADER_CHARS]
    if text.isascii():
        words = text.split()
    else:
        parts: list[str] = []
        prev_space = True
        for ch in text:
            description = emojis.get(ch)
            if description is not None:
                if not prev_space:
                    parts.append(" ")
                parts.append(description)
                prev_space = False
            else:
                parts.append(ch)
                prev_space = ch == " "
        words = "".join(parts).split()
    # VADER splits on whitespace and counts ! and ? over the text: re-joining changes nothing.
    return " ".join(words[:MAX_VADER_WORDS])


def vader_compound(texts: Sequence[str]) -> np.ndarray:
    """VADER's compound score of each text, in [-1, 1] (float64, input order); any str works."""
    if isinstance(texts, str):
        texts = [texts]
    analyzer = _analyzer()
    scores = np.zeros(len(texts), dtype=np.float64)
    for i, text in enumerate(texts):
        prepared = _prepare(text, analyzer.emojis)
        if prepared:
            scores[i] = analyzer.polarity_scores(prepared)["compound"]
    return np.clip(scores, -1.0, 1.0)


def vader_probabilities(
    compound: np.ndarray, neutral_band: float = DEFAULT_NEUTRAL_BAND
) -> np.ndarray:
    """A soft (bearish, neutral, bullish) distribution per compound score, shape (n, 3).

    With ``a = |compound|`` and ``b = neutral_band``: P(neutral) = b / (a + b), and the rest,
    a / (a + b), goes to the side of the compound's sign (nothing to the other side). So a
    compound of 0 is all neutral, one at the band edge is half neutral (the point where the
    standard rule changes label), 0.5 is 91 % on its side and 1.0 95 %: the lexicon is never
    as sure as a saturated compound suggests. ``neutral_band`` 0 makes it a hard sign.
    """
    c = np.clip(np.nan_to_num(np.asarray(compound, dtype=np.float64).reshape(-1)), -1.0, 1.0)
    band = float(neutral_band)
    if not 0.0 <= band < 1.0:
        raise ValueError(f"vader_probabilities: neutral_band must be in [0, 1), not {band}")
    a = np.abs(c)
    if band > 0:
        neutral = band / (a + band)
    else:
        neutral = (a == 0).astype(np.float64)
    side = 1.0 - neutral
    probs = np.zeros((len(c), 3), dtype=np.float64)
    probs[:, 1] = neutral
    probs[:, 0] = np.where(c < 0, side, 0.0)
    probs[:, 2] = np.where(c > 0, side, 0.0)
    return probs


def vader_labels(compound: np.ndarray, neutral_band: float = DEFAULT_NEUTRAL_BAND) -> list[str]:
    """The standard VADER rule: >= band bullish, <= -band bearish, else neutral."""
    c = np.asarray(compound, dtype=np.float64).reshape(-1)
    return [BULLISH if x >= neutral_band else BEARISH if x <= -neutral_band else NEUTRAL for x in c]
