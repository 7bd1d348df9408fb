"""The meme report's pieces on constructed cases: the caption-only and majority baselines, the
sarcasm scores over known flags only, the fused table per post, and the report's markdown."""

from __future__ import annotations

import pandas as pd
import pytest

from trademl.sentiment.evaluation import score_labels
from trademl.vision.evaluation import (
    caption_only_baseline,
    majority_baseline,
    meme_report,
    sarcasm_scores,
    score_predictors,
)
from trademl.vision.fusion import FusionConfig
from trademl.vision.runtime import fuse_posts


def test_caption_only_baseline_learns_words_and_handles_one_class():
    train = ["moon pump", "moon lfg", "rekt dump", "rekt over", "crab flat", "crab zzz"]
    labels = ["bullish", "bullish", "bearish", "bearish", "neutral", "neutral"]
    got = caption_only_baseline(train, labels, ["moon soon", "so rekt", "crab again"])
    assert got == ["bullish", "bearish", "neutral"]
    assert caption_only_baseline(["a", "b"], ["neutral", "neutral"], ["x"]) == ["neutral"]
    assert caption_only_baseline(train, labels, []) == []
    with pytest.raises(ValueError, match="no training captions"):
        caption_only_baseline([], [], ["x"])


def test_majority_baseline_and_ties():
    assert majority_baseline(["bullish", "bullish", "neutral"], 2) == ["bullish", "bullish"]
    assert majority_baseline(["bullish", "bearish"], 1) == ["bearish"]  # label order breaks ties


def test_sarcasm_scores_count_only_known_flags():
    truth = [True, True, False, None, False, None]
    predicted = [True, False, True, True, False, False]
    s = sarcasm_scores(truth, predicted, "adapter")
    assert (s["n_known"], s["sarcastic"], s["flagged"]) == (4, 2, 2)
    assert s["precision"] == 0.5 and s["recall"] == 0.5 and s["f1"] == 0.5
    none = sarcasm_scores([None, None], [True, False])
    assert none["n_known"] == 0 and none["precision"] is None and none["f1"] is None


def _answers(scores):
    return [{"score": s, "label": "bullish" if s > 0 else "bearish"} for s in scores]


def test_fuse_posts_inverts_sarcastic_text_and_passes_plain_posts_through():
    ts = pd.to_datetime(["2026-11-01 10:00", "2026-11-01 11:00", "2026-11-01 12:00"], utc=True)
    posts = pd.DataFrame(
        {"post_id": ["a", "b", "c"], "ts": ts, "text": ["BTC moon", "BTC moon", "ETH ok"]}
    )
    text = _answers([0.9, 0.9, 0.5])
    image = [
        None,  # no image
        {"score": -0.9, "label": "bearish", "sarcasm_probability": 0.95},  # moon over a crash
        {"score": 0.4, "label": "bullish", "sarcasm_probability": 0.1},
    ]
    fused = fuse_posts(posts, text, image, FusionConfig(caption_weight=0.0))
    by = fused.set_index("post_id")
    assert by.loc["a", "note"].startswith("no image") and pd.isna(by.loc["a", "image_score"])
    assert by.loc["b", "sarcastic"] and by.loc["b", "inverted_text"]
    assert by.loc["b", "label"] == "bearish" and by.loc["b", "score"] < 0
    assert by.loc["b", "context_score"] == pytest.approx(0.9)  # the earlier BTC post
    assert pd.isna(by.loc["c", "context_score"]) and not by.loc["c", "sarcastic"]
    no_context = fuse_posts(posts, text, image, context_window=None)
    assert no_context["context_score"].isna().all()
    with pytest.raises(ValueError, match="3 posts, 2 text"):
        fuse_posts(posts, text[:2], image)


def test_fusion_catches_constructed_sarcasm_and_its_recall_is_counted_on_known_flags():
    """Posts as the report scores them: a bullish caption over a bearish chart and the reverse
    (sarcastic), two sincere posts (one where the text model is mildly off), one unflagged
    sarcastic post; recall and precision from meme_sentiment's flag, on known flags only."""
    ts = pd.to_datetime(["2026-11-01 10:00"] * 5, utc=True)
    posts = pd.DataFrame({"post_id": list("abcde"), "ts": ts, "text": ["chart of the day"] * 5})
    text = _answers([0.8, -0.7, 0.7, 0.3, 0.9])
    image = [
        {"score": s, "label": "bullish" if s > 0 else "bearish", "sarcasm_probability": 0.1}
        for s in (-0.9, 0.85, 0.8, -0.2, -0.6)
    ]
    fused = fuse_posts(posts, text, image, context_window=None).set_index("post_id")
    assert fused["sarcastic"].tolist() == [True, True, False, False, True]
    assert fused.loc[["a", "b"], "label"].tolist() == ["bearish", "bullish"]  # the pictures
    assert fused.loc["c", "label"] == "bullish" and not fused.loc["d", "inverted_text"]
    flags = [True, True, False, False, None]
    s = sarcasm_scores(flags, fused["sarcastic"].tolist(), "fusion")
    assert (s["n_known"], s["sarcastic"], s["flagged"]) == (4, 2, 2)
    assert s["precision"] == 1.0 and s["recall"] == 1.0
    # the adapter's own answer (never sure here) finds none: recall 0, precision undefined
    adapter = sarcasm_scores(flags, [a["sarcasm_probability"] >= 0.5 for a in image], "adapter")
    assert adapter["recall"] == 0.0 and adapter["precision"] is None


def test_report_lists_every_predictor_and_the_champion(tmp_path):
    truth = ["bullish", "bearish", "neutral", "bullish"]
    preds = {
        "fusion": ["bullish", "bearish", "neutral", "bearish"],
        "majority": ["bullish"] * 4,
        "adapter": ["bullish", "bearish", "bullish", "bullish"],
    }
    scores = score_predictors(truth, preds)
    assert list(scores) == ["majority", "adapter", "fusion"]  # the report's fixed order
    assert scores["adapter"] == score_labels(truth, preds["adapter"])
    sarcasm = {"adapter": sarcasm_scores([True, None, False, None], [True, False, False, True])}
    champion = {"version": "v1", "scores": scores}
    md, pngs = meme_report(
        tmp_path, "v2", scores, sarcasm, champion, {"adapter.macro_f1": -0.02}, {"base": "tiny:x"}
    )
    assert "| adapter |" in md and "| majority |" in md and "Champion v1" in md
    assert "| adapter.macro_f1 | -0.0200 |" in md and "tiny:x" in md
    assert set(pngs) == {"adapter_confusion", "fusion_confusion"}
    assert all(p.is_file() for p in pngs.values()) and (tmp_path / "v2.md").is_file()
