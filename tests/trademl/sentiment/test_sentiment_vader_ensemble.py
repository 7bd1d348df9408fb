"""VADER's soft distribution and the ensemble's routing rule (pure numpy, no model), and the
VADER fallback of the deployed runtime."""

from __future__ import annotations

import time

import numpy as np
import pytest

from trademl.registry import ModelRegistry
from trademl.sentiment.ensemble import EnsembleConfig, ensemble, signs
from trademl.sentiment.labels import BEARISH, BULLISH, NEUTRAL, SENTIMENT_LABELS
from trademl.sentiment.runtime import MODEL_NAME, DeployedSentiment
from trademl.sentiment.vader import (
    safe_text,
    vader_compound,
    vader_labels,
    vader_probabilities,
)

HOSTILE = ["", "   \n\t", "\ud800 lone surrogate", "x" * 100_000, "🚀" * 20_000, "good " * 5_000]


def test_vader_compound_reads_sentiment_and_any_string_fast():
    scores = vader_compound(["BTC looks great, buying more!", "terrible dump, I lost everything"])
    assert scores[0] > 0.5 and scores[1] < -0.5
    start = time.perf_counter()
    hostile = vader_compound(HOSTILE)
    assert time.perf_counter() - start < 2.0  # VADER alone is quadratic: 19 s on 100k chars
    assert hostile.shape == (len(HOSTILE),)
    assert np.all(np.abs(hostile) <= 1.0) and hostile[0] == 0.0
    assert vader_compound([]).shape == (0,)


def test_safe_text_replaces_lone_surrogates_only():
    assert safe_text("ok \ud800") == "ok \ufffd"
    assert safe_text("emoji 🚀 stays") == "emoji 🚀 stays"
    assert safe_text(None) == "" and safe_text(3) == "3"


def test_vader_probabilities_shape_order_and_sum():
    compound = np.array([-0.9, -0.05, 0.0, 0.02, 0.05, 0.6])
    probs = vader_probabilities(compound)
    assert probs.shape == (6, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert SENTIMENT_LABELS == (BEARISH, NEUTRAL, BULLISH)
    assert probs[0].argmax() == 0 and probs[5].argmax() == 2  # bearish column first
    np.testing.assert_allclose(probs[2], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(probs[4], [0.0, 0.5, 0.5])  # the band edge: half neutral
    assert probs[0, 2] == 0.0 and probs[5, 0] == 0.0  # nothing to the other side
    np.testing.assert_allclose(probs[5], [0.0, 0.05 / 0.65, 0.6 / 0.65])
    hard = vader_probabilities(compound, neutral_band=0.0)
    assert set(np.unique(hard)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="neutral_band"):
        vader_probabilities(compound, neutral_band=1.5)


def test_vader_labels_standard_rule():
    labels = vader_labels(np.array([-0.05, -0.049, 0.0, 0.049, 0.05]))
    assert labels == [BEARISH, NEUTRAL, NEUTRAL, NEUTRAL, BULLISH]


def test_signs_use_the_band():
    np.testing.assert_array_equal(signs(np.array([-0.2, -0.05, 0.01, 0.05]), 0.05), [-1, -1, 0, 1])


def test_ensemble_routes_disagreeing_signs_to_the_model():
    compound = np.array([0.8])  # VADER: bullish
    model = np.array([[0.85, 0.10, 0.05]])  # model: confidently bearish (sarcasm)
    result = ensemble(compound, model, EnsembleConfig())
    assert result.routed == ["model"]
    np.testing.assert_allclose(result.probabilities, model)
    assert result.labels == [BEARISH]


def test_ensemble_routes_vader_neutral_against_a_model_side_to_the_model():
    result = ensemble(np.array([0.0]), np.array([[0.05, 0.15, 0.80]]), EnsembleConfig())
    assert result.routed == ["model"] and result.labels == [BULLISH]


def test_ensemble_routes_low_confidence_to_the_model():
    compound = np.array([0.7])
    model = np.array([[0.10, 0.35, 0.55]])  # bullish, but below min_confidence 0.6
    result = ensemble(compound, model, EnsembleConfig(min_confidence=0.6))
    assert result.routed == ["model"]
    np.testing.assert_allclose(result.probabilities, model)


def test_ensemble_blends_agreeing_confident_posts():
    compound = np.array([0.6, -0.45])
    model = np.array([[0.05, 0.15, 0.80], [0.70, 0.20, 0.10]])
    cfg = EnsembleConfig(vader_weight=3, model_weight=7)  # normalised to 0.3 / 0.7
    result = ensemble(compound, model, cfg)
    assert result.routed == ["blend", "blend"]
    vader = np.array([[0.0, 0.05 / 0.65, 0.6 / 0.65], [0.45 / 0.5, 0.05 / 0.5, 0.0]])
    expected = 0.3 * vader + 0.7 * model
    np.testing.assert_allclose(result.probabilities, expected)
    np.testing.assert_allclose(result.scores, expected[:, 2] - expected[:, 0])
    np.testing.assert_allclose(result.confidence, expected.max(axis=1))
    assert result.labels == [BULLISH, BEARISH]
    assert result.routing_counts() == {"blend": 2, "model": 0}


def test_ensemble_mixed_batch_keeps_order_and_counts():
    compound = np.array([0.6, 0.6, -0.6, 0.0])
    model = np.array(
        [[0.05, 0.15, 0.80], [0.80, 0.15, 0.05], [0.80, 0.15, 0.05], [0.10, 0.80, 0.10]]
    )
    result = ensemble(compound, model)
    assert result.routed == ["blend", "model", "blend", "blend"]
    assert result.routing_counts() == {"blend": 3, "model": 1}
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0)
    assert result.labels == [BULLISH, BEARISH, BEARISH, NEUTRAL]


def test_ensemble_checks_shapes_and_takes_empty_input():
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        ensemble(np.zeros(2), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="2 compound scores for 3"):
        ensemble(np.zeros(2), np.full((3, 3), 1 / 3))
    empty = ensemble(np.zeros(0), np.zeros((0, 3)))
    assert empty.probabilities.shape == (0, 3) and empty.labels == [] and empty.routed == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"vader_weight": -0.1}, ">= 0"),
        ({"vader_weight": 0.0, "model_weight": 0.0}, "> 0"),
        ({"model_weight": float("nan")}, "finite"),
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"neutral_band": -0.01}, "neutral_band"),
        ({"vader_weight": "0.3"}, "number"),
    ],
)
def test_ensemble_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EnsembleConfig(**kwargs)


def test_ensemble_config_round_trip_and_unknown_keys():
    cfg = EnsembleConfig(vader_weight=0.0, model_weight=1.0)
    assert EnsembleConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.weights == (0.0, 1.0)
    with pytest.raises(ValueError, match="vader_wieght"):
        EnsembleConfig.from_dict({"vader_wieght": 0.5})


def test_deployed_sentiment_without_champion_is_vader_and_says_so(tmp_path):
    sentiment = DeployedSentiment(root=tmp_path / "models")
    answers = sentiment.predict(["BTC to the moon, great buy!", *HOSTILE, None])
    assert len(answers) == len(HOSTILE) + 2
    assert sentiment.name == "vader"
    assert MODEL_NAME in sentiment.fallback_reason
    first = answers[0]
    assert first["label"] == BULLISH and first["model"] == "vader" and first["routed"] == "vader"
    assert list(first["probabilities"]) == list(SENTIMENT_LABELS)
    assert first["score"] == round(
        first["probabilities"][BULLISH] - first["probabilities"][BEARISH], 4
    )
    assert all(a["label"] in SENTIMENT_LABELS for a in answers)
    assert sentiment.predict([]) == []
    assert len(sentiment.predict("one string is one text")) == 1


def test_deployed_sentiment_version_without_onnx_falls_back(tmp_path):
    version_dir = tmp_path / "v"
    version_dir.mkdir()
    (version_dir / "ensemble.json").write_text("{}")
    registry = ModelRegistry(tmp_path / "models")
    version = registry.register(MODEL_NAME, version_dir)
    registry.promote(MODEL_NAME, version)
    sentiment = DeployedSentiment(root=tmp_path / "models")
    assert sentiment.predict(["meh"])[0]["model"] == "vader"
    assert version in sentiment.fallback_reason and "onnx" in sentiment.fallback_reason
