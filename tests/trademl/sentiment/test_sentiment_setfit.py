"""SetFit sentiment training on the packaged MiniLM: save/reload, class columns, LoRA, errors."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from trademl.errors import InputError
from trademl.sentiment.labels import BEARISH, BULLISH, NEUTRAL, SENTIMENT_LABELS
from trademl.sentiment.setfit_model import (
    METADATA_FILE,
    SetFitConfig,
    load_setfit,
    resolve_base_model,
    train_setfit,
)

_COINS = ("BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "LINK", "AVAX")
_TEMPLATES = {
    BULLISH: (
        "{c} breaking out, loading more",
        "long {c} here, target {n}k",
        "{c} to the moon, huge buy wall",
        "bought the dip on {c}, very bullish",
        "{c} looks strong, higher highs all week",
    ),
    BEARISH: (
        "{c} dumping hard, get out",
        "shorting {c}, chart looks weak",
        "{c} is going to crash to {n}k",
        "sold all my {c}, bearish",
        "{c} rejected again, lower lows",
    ),
    NEUTRAL: (
        "what exchange lists {c}?",
        "{c} sideways today",
        "anyone holding {c} over the weekend?",
        "{c} volume at {n}k",
        "news on {c} at 3pm",
    ),
}


def make_posts(n: int, seed: int, labels=SENTIMENT_LABELS) -> tuple[list[str], list[str]]:
    """``n`` short forum posts, labels cycling through ``labels``."""
    rng = random.Random(seed)
    texts, out = [], []
    for i in range(n):
        label = labels[i % len(labels)]
        template = rng.choice(_TEMPLATES[label])
        texts.append(template.format(c=rng.choice(_COINS), n=rng.randint(10, 99)))
        out.append(label)
    return texts, out


TINY = SetFitConfig(max_steps=12, num_iterations=3, seed=3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    texts, labels = make_posts(36, seed=1)
    out = tmp_path_factory.mktemp("setfit") / "model"
    cwd = tmp_path_factory.mktemp("cwd")
    events = []
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)  # SetFit's default output_dir is ./checkpoints
        result = train_setfit(texts, labels, out, TINY, progress=events.append)
    return out, result, events, sorted(p.name for p in cwd.iterdir())


@pytest.mark.slow
def test_train_reports_progress_and_writes_no_checkpoints(trained):
    out, result, events, left_in_cwd = trained
    assert left_in_cwd == []
    assert result.n_train == 36 and result.steps == 12 and result.seconds > 0
    assert result.base_model == str(resolve_base_model(None))
    assert any(e["phase"] == "embedding" and e["loss"] is not None for e in events)
    assert events[-1]["phase"] == "done" and events[-1]["step"] == 12
    assert (out / "model_head.pkl").is_file() and not (out / "checkpoints").exists()
    meta = json.loads((out / METADATA_FILE).read_text())
    assert meta["config"]["base_model"] == result.base_model
    assert meta["labels"] == list(SENTIMENT_LABELS)


@pytest.mark.slow
def test_reload_predicts_identically_and_in_class_order(trained):
    out, result = trained[:2]
    texts, labels = make_posts(12, seed=99)
    before = result.model.predict_proba(texts)
    model = load_setfit(out)
    after = model.predict_proba(texts)
    assert after.shape == (12, 3)
    np.testing.assert_allclose(after, before, atol=1e-6)
    np.testing.assert_allclose(after.sum(axis=1), 1.0, atol=1e-6)
    assert model.labels() == SENTIMENT_LABELS
    # Even a briefly trained model gets these templated posts mostly right, in column order.
    accuracy = np.mean(
        [SENTIMENT_LABELS[i] == y for i, y in zip(after.argmax(1), labels, strict=True)]
    )
    assert accuracy >= 0.75
    assert model.predict_proba([]).shape == (0, 3)


@pytest.mark.slow
def test_embed_returns_the_normalised_embeddings(trained):
    model = load_setfit(trained[0])
    emb = model.embed(["BTC breaking out", "", "\ud800 broken text"])
    assert emb.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_missing_class_still_gives_three_columns(tmp_path):
    texts, labels = make_posts(24, seed=2, labels=(BEARISH, BULLISH))
    result = train_setfit(texts, labels, tmp_path / "m", SetFitConfig(max_steps=6, seed=3))
    assert result.classes_seen == [BEARISH, BULLISH]
    probs = load_setfit(tmp_path / "m").predict_proba(
        ["ETH dumping hard, get out", "SOL to the moon, huge buy wall"]
    )
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(probs[:, 1] < 1e-6)  # neutral was never seen
    assert probs[0].argmax() == 0 and probs[1].argmax() == 2


@pytest.mark.slow
def test_lora_trains_on_the_minilm(tmp_path):
    texts, labels = make_posts(24, seed=4)
    cfg = SetFitConfig(use_lora=True, lora_r=4, max_steps=4, seed=3)
    result = train_setfit(texts, labels, tmp_path / "lora", cfg)
    assert result.steps == 4
    saved = sorted(p.name for p in (tmp_path / "lora").iterdir())
    assert "adapter_config.json" not in saved  # merged: plain weights
    probs = load_setfit(tmp_path / "lora").predict_proba(texts[:3])
    assert probs.shape == (3, 3)


def test_missing_base_model_names_the_path(tmp_path):
    missing = tmp_path / "no-such-encoder"
    with pytest.raises(InputError, match="no-such-encoder.*no such base model directory"):
        train_setfit(["a", "b"], [BULLISH, BEARISH], tmp_path / "out", SetFitConfig(str(missing)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: not a model directory"):
        resolve_base_model(tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        resolve_base_model(tmp_path / "file")


def test_training_data_is_checked_before_any_model_loads(tmp_path):
    with pytest.raises(InputError, match="2 texts for 1 labels"):
        train_setfit(["a", "b"], [BULLISH], tmp_path / "out")
    with pytest.raises(InputError, match="at least two"):
        train_setfit(["a", "b"], [BULLISH, BULLISH], tmp_path / "out")
    with pytest.raises(InputError, match="unknown sentiment label 'moon'"):
        train_setfit(["a", "b"], [BULLISH, "moon"], tmp_path / "out")
    with pytest.raises(InputError, match="not a saved SetFit model"):
        load_setfit(tmp_path)
