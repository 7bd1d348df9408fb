"""Text x image fusion on constructed cases: the weights to the last digit, renormalisation, the
sarcasm inversion, a post without an image, the configuration's checks, context and caption."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from trademl.vision.fusion import (
    FusionConfig,
    caption_scores,
    context_scores,
    fuse,
    fuse_table,
    instruments_of,
)


def test_default_weights_blend_all_four_parts() -> None:
    out = fuse(0.6, image_score=0.2, context_score=-0.4, caption_score=1.0)
    assert out["score"] == pytest.approx(0.5 * 0.6 + 0.3 * 0.2 + 0.1 * -0.4 + 0.1 * 1.0)
    assert out["label"] == "bullish" and out["used"] == ("text", "image", "context", "caption")
    assert not out["sarcastic"] and not out["inverted_text"] and out["note"] == ""
    # no adapter probability, and no reading on the other side of the picture: no evidence
    assert out["sarcasm_probability"] == pytest.approx(0.0) and out["disagreement"] == 0.0
    # agreement over the parts: 1 - (1.0 - -0.4) / 2 = 0.3
    assert out["confidence"] == pytest.approx(0.5 * 0.42 + 0.5 * 0.3)


def test_weights_renormalise_over_the_parts_present() -> None:
    out = fuse(0.6, image_score=0.2)
    assert out["score"] == pytest.approx((0.5 * 0.6 + 0.3 * 0.2) / 0.8)
    assert out["used"] == ("text", "image")
    assert out["confidence"] == pytest.approx(0.5 * 0.45 + 0.5 * (1 - 0.4 / 2))
    custom = FusionConfig(text_weight=1, image_weight=1, context_weight=0, caption_weight=0)
    out = fuse(0.6, image_score=0.2, context_score=-1.0, cfg=custom)
    assert out["score"] == pytest.approx(0.4) and out["used"] == ("text", "image")


def test_sarcasm_inverts_the_text_when_the_adapter_is_sure() -> None:
    out = fuse(0.9, image_score=-0.8, sarcasm_probability=0.9)
    assert out["sarcastic"] and out["inverted_text"]
    assert out["score"] == pytest.approx((0.5 * -0.9 + 0.3 * -0.8) / 0.8)
    assert out["score"] < 0 and out["label"] == "bearish"
    assert out["sarcasm_probability"] == 0.9 and "text inverted" in out["note"]
    # the caption is the same words read literally: it flips with the text
    out = fuse(0.9, image_score=-0.8, caption_score=0.5, sarcasm_probability=0.9)
    assert out["score"] == pytest.approx((0.5 * -0.9 + 0.3 * -0.8 + 0.1 * -0.5) / 0.9)
    # after the inversion text and image agree: confidence is high
    assert out["confidence"] > 0.8


def test_disagreement_without_a_sure_adapter_keeps_the_text() -> None:
    # 0.8 apart on opposite sides: flagged, but gap / 2 = 0.4 and the adapter (0.2) is unsure
    out = fuse(0.5, image_score=-0.3, sarcasm_probability=0.2)
    assert out["sarcastic"] and not out["inverted_text"]
    assert out["score"] == pytest.approx((0.5 * 0.5 + 0.3 * -0.3) / 0.8) and out["score"] > 0
    assert out["sarcasm_probability"] == pytest.approx(0.4) and "text kept" in out["note"]
    assert out["confidence"] < 0.6  # a split decision
    # the adapter can raise the probability, never lower it: the same post with a sure adapter
    assert fuse(0.5, image_score=-0.3, sarcasm_probability=0.7)["inverted_text"]
    # a gap within the threshold is no sarcasm, however sure the adapter is
    out = fuse(0.5, image_score=0.0, sarcasm_probability=0.99)
    assert not out["sarcastic"] and not out["inverted_text"]
    assert out["score"] == pytest.approx(0.25 / 0.8)
    # far apart but on the same side (a strong and a weak bullish reading) is no sarcasm
    out = fuse(0.95, image_score=0.1, sarcasm_probability=0.99)
    assert not out["sarcastic"] and out["score"] > 0 and out["disagreement"] == 0.0
    # a flat chart, or a reading within the neutral band, contradicts nothing
    assert not fuse(0.9, image_score=-0.1, caption_score=0.9)["sarcastic"]
    assert not fuse(0.1, image_score=-0.85, caption_score=-0.05)["sarcastic"]
    assert fuse(0.2, image_score=-0.85)["sarcastic"]


def test_a_flat_contradiction_is_evidence_enough() -> None:
    """No adapter probability (or an adapter that never learned sarcasm): words on the other side
    of the picture by 1 or more are read as sarcasm on their own (gap / 2 >= 0.5)."""
    out = fuse(0.9, image_score=-0.8)
    assert out["sarcastic"] and out["inverted_text"]
    assert out["sarcasm_probability"] == pytest.approx(0.85)
    assert out["label"] == "bearish" and "text inverted" in out["note"]
    assert fuse(0.9, image_score=-0.8, sarcasm_probability=0.05)["label"] == "bearish"


@pytest.mark.parametrize(
    ("text", "image", "caption"),
    [
        (0.8, -0.9, 0.6),  # "to the moon" over a crash: both readings bullish, chart bearish
        (-0.7, 0.85, -0.5),  # "rekt" over a rally
        (0.3, -0.95, 0.7),  # a lukewarm text score, a strongly literal caption
    ],
)
def test_a_sarcastic_post_follows_its_picture(text, image, caption) -> None:
    """The issue's case: a bullish caption over a bearish chart (and the reverse) is caught as
    sarcastic and the fused label is the picture's, with the default weights."""
    out = fuse(text, image_score=image, caption_score=caption, sarcasm_probability=0.1)
    picture = "bullish" if image > 0 else "bearish"
    assert out["sarcastic"] and out["inverted_text"] and out["inverted_caption"]
    assert out["label"] == picture and out["score"] * image > 0
    assert "text and caption inverted" in out["note"]
    # after the inversion the words agree with the picture: no split decision
    assert out["confidence"] > 0.6


def test_a_text_model_that_read_the_irony_is_kept_and_the_literal_caption_inverted() -> None:
    """The text model already says what the chart says; only VADER's literal reading of the same
    words contradicts the picture: flagged sarcastic, the caption inverted, the text kept."""
    out = fuse(0.7, image_score=0.9, caption_score=-0.6)
    assert out["sarcastic"] and out["inverted_caption"] and not out["inverted_text"]
    assert out["disagreement"] == pytest.approx(1.5)
    assert out["score"] == pytest.approx((0.5 * 0.7 + 0.3 * 0.9 + 0.1 * 0.6) / 0.9)
    assert out["label"] == "bullish" and "caption inverted" in out["note"]
    # a sincere post: both readings on the picture's side, nothing flagged or inverted
    out = fuse(0.7, image_score=0.9, caption_score=0.4)
    assert not (out["sarcastic"] or out["inverted_text"] or out["inverted_caption"])


def test_a_post_without_an_image_passes_its_text_through() -> None:
    out = fuse(0.4, sarcasm_probability=None)
    assert out["score"] == pytest.approx(0.4) and out["label"] == "bullish"
    assert out["used"] == ("text",) and out["note"] == "no image: text score passed through"
    assert out["sarcasm_probability"] is None and not out["sarcastic"]
    assert out["confidence"] == pytest.approx(0.5 * 0.4 + 0.5)
    out = fuse(0.4, context_score=-0.2)
    assert out["score"] == pytest.approx((0.2 - 0.02) / 0.6)
    assert out["note"].startswith("no image") and out["used"] == ("text", "context")
    # even a sure adapter cannot call a post sarcastic without its picture
    assert not fuse(0.9, sarcasm_probability=0.99)["inverted_text"]


def test_neutral_band() -> None:
    assert fuse(0.1)["label"] == "neutral" and fuse(-0.1)["label"] == "neutral"
    assert fuse(-0.2)["label"] == "bearish"
    assert fuse(0.1, cfg=FusionConfig(neutral_band=0.05))["label"] == "bullish"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"text_weight": 0},
        {"image_weight": -0.1},
        {"context_weight": math.nan},
        {"caption_weight": "0.1"},
        {"disagreement": 0},
        {"disagreement": 2},
        {"sarcasm_threshold": 1.5},
        {"neutral_band": 1},
        {"neutral_band": -0.1},
    ],
)
def test_config_is_validated(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="FusionConfig"):
        FusionConfig(**kwargs)


def test_scores_outside_minus_one_one_are_refused() -> None:
    with pytest.raises(ValueError, match="text"):
        fuse(1.5)
    with pytest.raises(ValueError, match="text"):
        fuse(math.nan)
    with pytest.raises(ValueError, match="image"):
        fuse(0.1, image_score=-3)
    with pytest.raises(ValueError, match="sarcasm_probability"):
        fuse(0.1, image_score=0.1, sarcasm_probability=-0.5)


def test_fuse_table_matches_fuse_row_by_row() -> None:
    table = pd.DataFrame(
        {
            "post_id": ["a", "b", "c"],
            "text_score": [0.9, 0.4, -0.3],
            "image_score": [-0.8, None, -0.5],
            "sarcasm_probability": [0.9, None, 0.1],
            "caption_score": [0.5, 0.2, None],
        },
        index=[10, 11, 12],
    )
    out = fuse_table(table)
    assert out["post_id"].tolist() == ["a", "b", "c"]
    for k, row in enumerate(table.itertuples(index=False)):
        one = fuse(
            row.text_score,
            None if pd.isna(row.image_score) else row.image_score,
            None,
            None if pd.isna(row.caption_score) else row.caption_score,
            None if pd.isna(row.sarcasm_probability) else row.sarcasm_probability,
        )
        assert out.at[k, "score"] == pytest.approx(one["score"])
        assert out.at[k, "label"] == one["label"] and out.at[k, "note"] == one["note"]
        assert out.at[k, "used"] == ",".join(one["used"])
        assert bool(out.at[k, "inverted_text"]) == one["inverted_text"]
    assert out["inverted_text"].tolist() == [True, False, False]
    with pytest.raises(ValueError, match="text scores are required"):
        fuse_table(table.drop(columns="text_score"))


def test_instruments_of_a_post() -> None:
    assert instruments_of("$btc and ETH to the moon, click the link") == {"BTC", "ETH"}
    assert instruments_of("LINK and bitcoin, $GLD") == {"LINK", "BTC", "XAUUSD"}
    assert instruments_of("EUR/USD at 1.08") == {"EURUSD"}
    assert instruments_of("ETH/BTC ratio") == {"ETH", "BTC"}
    assert instruments_of(None) == frozenset()


def test_context_is_the_thread_before_the_post_within_the_window() -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    posts = pd.DataFrame(
        {
            "ts": [t0 + timedelta(hours=h) for h in (2, 0, 1, 1, 30, 3)],
            "text": [
                "bitcoin and eth",
                "$BTC up",
                "ETH and BTC",
                "ETH same time",
                "btc later",
                "hi",
            ],
        }
    )
    scores = [0.1, 0.5, -0.3, 0.9, 0.7, 0.2]
    ctx = context_scores(posts, scores, window="24h")
    assert ctx[1] is None  # the first post has no thread
    assert ctx[2] == pytest.approx(0.5)  # "$BTC up" an hour before
    assert ctx[3] is None  # a post at the same moment is not earlier
    # the thread of both its instruments; "ETH and BTC" counts once
    assert ctx[0] == pytest.approx((0.5 - 0.3 + 0.9) / 3)
    assert ctx[4] is None  # the others are more than 24 h before
    assert ctx[5] is None  # names no instrument
    assert context_scores(posts, scores, window="48h")[4] == pytest.approx((0.1 + 0.5 - 0.3) / 3)
    with pytest.raises(ValueError, match="scores"):
        context_scores(posts, scores[:2])


def test_caption_scores_are_vader_compounds() -> None:
    scores = caption_scores(["great gains, love it", "terrible crash, lost everything", ""])
    assert scores[0] > 0.3 and scores[1] < -0.3 and scores[2] == 0
