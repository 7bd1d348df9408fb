"""The sentiment ensemble: VADER's lexicon and the SetFit model, blended only where they agree.

A post is *ambiguous* when the model is unsure (its confidence is below ``min_confidence``) or
when VADER's sign and the model's sign differ. Ambiguous posts are answered by the model alone:
slang, sarcasm and crypto jargon ("this coin is sick", "great, another -30 % day") are exactly
what fools a general-purpose lexicon, and the model was trained on this forum's language. The
other posts get the weighted blend of :func:`~trademl.sentiment.vader.vader_probabilities` and
the model's probabilities, which softens the model's over-confidence on clear posts.

Signs use one band for both: +1 at or above ``neutral_band``, -1 at or below ``-neutral_band``,
else 0; for VADER of the compound score, for the model of its score P(bullish) - P(bearish).

Pure numpy; every array is in :data:`~trademl.sentiment.labels.SENTIMENT_LABELS` column order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from trademl.sentiment.labels import SENTIMENT_LABELS
from trademl.sentiment.vader import vader_probabilities

BLEND, MODEL = "blend", "model"


@dataclass
class EnsembleConfig:
    """Weights of the blend (normalised to sum 1) and the routing thresholds."""

    vader_weight: float = 0.3
    model_weight: float = 0.7
    min_confidence: float = 0.6
    neutral_band: float = 0.05

    def __post_init__(self) -> None:
        for name in ("vader_weight", "model_weight", "min_confidence", "neutral_band"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"EnsembleConfig: {name} must be a number, not {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"EnsembleConfig: {name} must be finite, not {value!r}")
            setattr(self, name, float(value))
        if self.vader_weight < 0 or self.model_weight < 0:
            raise ValueError(
                f"EnsembleConfig: weights must be >= 0 (vader_weight={self.vader_weight}, "
                f"model_weight={self.model_weight})"
            )
        if self.vader_weight + self.model_weight <= 0:
            raise ValueError(
                "EnsembleConfig: vader_weight + model_weight must be > 0 (set model_weight=1, "
                "vader_weight=0 for the model alone)"
            )
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(
                f"EnsembleConfig: min_confidence must be in [0, 1], not {self.min_confidence}"
            )
        if not 0.0 <= self.neutral_band < 1.0:
            raise ValueError(
                f"EnsembleConfig: neutral_band must be in [0, 1), not {self.neutral_band}"
            )

    @property
    def weights(self) -> tuple[float, float]:
        """(vader, model) weights normalised to sum to 1."""
        total = self.vader_weight + self.model_weight
        return self.vader_weight / total, self.model_weight / total

    def to_dict(self) -> dict[str, float]:
        """The fields, as written to a model version's ``ensemble.json``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> EnsembleConfig:
        """A config from ``ensemble.json``; ValueError naming any key that is not a field."""
        if not isinstance(values, Mapping):
            raise ValueError(f"EnsembleConfig: expected a JSON object, not {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"EnsembleConfig: unknown keys {unknown} (known: {sorted(known)})")
        return cls(**dict(values))


@dataclass
class EnsembleResult:
    """The ensemble's answer per post, in input order."""

    probabilities: np.ndarray  # (n, 3), SENTIMENT_LABELS order
    labels: list[str]
    scores: np.ndarray  # P(bullish) - P(bearish)
    confidence: np.ndarray  # the largest probability
    routed: list[str]  # "blend" or "model"

    def routing_counts(self) -> dict[str, int]:
        """How many posts were blended and how many answered by the model alone."""
        return {BLEND: self.routed.count(BLEND), MODEL: self.routed.count(MODEL)}


def signs(scores: np.ndarray, neutral_band: float) -> np.ndarray:
    """+1 / 0 / -1 per score, 0 strictly inside (-neutral_band, neutral_band)."""
    s = np.asarray(scores, dtype=np.float64)
    return np.where(s >= neutral_band, 1, np.where(s <= -neutral_band, -1, 0)).astype(np.int8)


def ensemble(
    compound: np.ndarray, model_probs: np.ndarray, cfg: EnsembleConfig | None = None
) -> EnsembleResult:
    """Route each post to the blend or to the model alone (see the module docstring)."""
    cfg = cfg or EnsembleConfig()
    compound = np.asarray(compound, dtype=np.float64).reshape(-1)
    model_probs = np.asarray(model_probs, dtype=np.float64)
    if model_probs.ndim != 2 or model_probs.shape[1] != len(SENTIMENT_LABELS):
        raise ValueError(
            f"ensemble: model_probs must have shape (n, {len(SENTIMENT_LABELS)}) in "
            f"{SENTIMENT_LABELS} order, not {model_probs.shape}"
        )
    if len(compound) != len(model_probs):
        raise ValueError(
            f"ensemble: {len(compound)} compound scores for {len(model_probs)} model rows"
        )

    model_score = model_probs[:, 2] - model_probs[:, 0]
    model_conf = model_probs.max(axis=1) if len(model_probs) else np.zeros(0)
    ambiguous = (model_conf < cfg.min_confidence) | (
        signs(compound, cfg.neutral_band) != signs(model_score, cfg.neutral_band)
    )
    w_vader, w_model = cfg.weights
    blended = w_vader * vader_probabilities(compound, cfg.neutral_band) + w_model * model_probs
    probs = np.where(ambiguous[:, None], model_probs, blended)
    total = probs.sum(axis=1, keepdims=True)
    probs = np.divide(probs, total, out=np.full_like(probs, 1 / 3), where=total > 0)

    best = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=int)
    return EnsembleResult(
        probabilities=probs,
        labels=[SENTIMENT_LABELS[i] for i in best],
        scores=probs[:, 2] - probs[:, 0],
        confidence=probs.max(axis=1) if len(probs) else np.zeros(0),
        routed=[MODEL if a else BLEND for a in ambiguous],
    )
