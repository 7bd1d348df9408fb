"""The sentiment vocabulary shared by the dataset, the models, the ensemble, serving and reports.

Every probability array in trademl.sentiment has its columns in :data:`SENTIMENT_LABELS` order
(bearish, neutral, bullish), and every score is P(bullish) - P(bearish), in [-1, 1].
"""

from __future__ import annotations

from typing import Any

BEARISH = "bearish"
NEUTRAL = "neutral"
BULLISH = "bullish"

#: Class order of every probability column, label id and report row.
SENTIMENT_LABELS: tuple[str, ...] = (BEARISH, NEUTRAL, BULLISH)

#: A forum reader's 1-3 rating (social_posts.rating) as a class.
RATING_TO_LABEL: dict[int, str] = {1: BEARISH, 2: NEUTRAL, 3: BULLISH}

#: Label sources, strongest first: a person's label in the labelling store beats a reader's
#: rating, which beats a pseudo-label (a confident model prediction on an unlabelled post).
HUMAN, RATING, PSEUDO = "human", "rating", "pseudo"
LABEL_SOURCES: tuple[str, ...] = (HUMAN, RATING, PSEUDO)


def post_text(title: Any, body: Any) -> str:
    """What the models read of a post: the title and the body on two lines (either may be empty)."""
    parts = [p.strip() for p in (title, body) if isinstance(p, str) and p.strip()]
    return "\n".join(parts)


def check_label(label: Any) -> str:
    """``label`` normalised (case, spaces), or ValueError naming it and the allowed values."""
    key = label.strip().lower() if isinstance(label, str) else None
    if key not in SENTIMENT_LABELS:
        raise ValueError(f"unknown sentiment label {label!r} (expected one of {SENTIMENT_LABELS})")
    return key


def score_of(probabilities) -> float:
    """P(bullish) - P(bearish) of one probability row in :data:`SENTIMENT_LABELS` order."""
    return float(probabilities[2]) - float(probabilities[0])
