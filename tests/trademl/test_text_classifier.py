"""Transformer fine-tune and TF-IDF baseline on synthetic signal-channel messages (tiny, CPU)."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest

from trademl.labels import NON_SIGNAL, SIGNAL_CLASSES, SIGNAL_LONG, SIGNAL_NONE, SIGNAL_SHORT
from trademl.models.baseline import classification_metrics, train_baseline
from trademl.models.classifier_runtime import load_classifier
from trademl.models.text_classifier import (
    TextClassifierConfig,
    inverse_frequency_weights,
    train_text_classifier,
)

_COINS = ["BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "AVAX", "LINK", "BNB", "ARB", "OP", "PEPE"]
_CHATTER = [
    "gm everyone, coffee first then charts",
    "what do you guys think about {c} this week?",
    "market is so choppy today, staying flat",
    "{c} looks weak on the daily tbh",
    "anyone else trading the CPI release?",
    "reminder: never risk more than 2% per trade",
    "new video on risk management is up on the channel",
    "{c} ETF news out, volatility incoming 🚀",
    "thanks admin, great calls this month 🙏",
    "funding rates are flipping negative on {c}",
    "I closed my {c} bag at breakeven",
    "VIP spots open again, DM for details",
]
_RESULTS = [
    "{c}/USDT TP1 hit ✅ +{p}%",
    "#{c} target 2 reached 🔥 {p}% profit",
    "{c} all targets done 🎯",
    "stop loss hit on {c}, next one",
    "{c}USDT TP{k} ✅",
    "Closed {c} manually with {p}% profit",
]
_LONG = [
    "LONG {pair}\nEntry: {e1}-{e2}\nTP1: {t1}\nTP2: {t2}\nSL: {sl}\nLeverage: {lev}x",
    "#{c}USDT BUY 🟢 entry {e1} targets {t1} {t2} stop {sl}",
    "Buy {c} now at {e1}, tp {t1}, sl {sl}",
    "📈 LONG🟢 {c} {e1}\ntargets {t1} / {t2}",
    "Going long on {pair} from {e1}. TP {t1} SL {sl}",
    "{c} BULLISH setup, long zone {e1} - {e2}, target {t1}, cross {lev}x",
]
_SHORT = [
    "SHORT {pair}\nEntry: {e1}-{e2}\nTP1: {t1}\nTP2: {t2}\nSL: {sl}\nLeverage: {lev}x",
    "#{c}USDT SELL 🔴 entry {e1} targets {t1} {t2} stop {sl}",
    "Sell {c} now at {e1}, tp {t1}, sl {sl}",
    "📉 SHORT📉 {c} {e1}\ntargets {t1} / {t2}",
    "Going short on {pair} from {e1}. TP {t1} SL {sl}",
    "{c} BEARISH setup, short zone {e1} - {e2}, target {t1}, cross {lev}x",
]
_NONE = [
    "{pair}\nEntry: {e1}-{e2}\nTargets: {t1}, {t2}\nStop: {sl}",
    "#{c} entry zone {e1} - {e2} tp {t1} sl {sl}",
    "{c}USDT Entry {e1} TP {t1} TP {t2} SL {sl} lev {lev}x",
]


def _fill(template: str, rng: random.Random) -> str:
    coin = rng.choice(_COINS)
    price = rng.choice([rng.uniform(0.01, 2), rng.uniform(2, 500), rng.uniform(500, 70000)])
    digits = 4 if price < 2 else 2
    up = [round(price * (1 + 0.02 * k), digits) for k in range(1, 3)]
    return template.format(
        c=coin,
        pair=rng.choice([f"{coin}/USDT", f"{coin}USDT", f"{coin}-USDT"]),
        e1=round(price, digits),
        e2=round(price * 1.01, digits),
        t1=up[0],
        t2=up[1],
        sl=round(price * 0.97, digits),
        lev=rng.choice([3, 5, 10, 20]),
        p=rng.randint(5, 80),
        k=rng.randint(1, 4),
    )


def make_synthetic_messages(n: int = 400, seed: int = 7) -> pd.DataFrame:
    """``n`` labelled messages (text,label,split) in several channel styles, 70/15/15 split."""
    rng = random.Random(seed)
    mix = [
        (NON_SIGNAL, _CHATTER + _RESULTS, 0.45),
        (SIGNAL_LONG, _LONG, 0.23),
        (SIGNAL_SHORT, _SHORT, 0.23),
        (SIGNAL_NONE, _NONE, 0.09),
    ]
    rows = []
    for label, templates, share in mix:
        for _ in range(round(n * share)):
            text = _fill(rng.choice(templates), rng)
            rows.append({"text": rng.choice([text, text.upper(), text.lower()]), "label": label})
    rng.shuffle(rows)
    for i, row in enumerate(rows):
        row["split"] = "train" if i % 20 < 14 else ("validation" if i % 20 < 17 else "test")
    return pd.DataFrame(rows)


TINY = TextClassifierConfig(
    max_length=64, epochs=2, batch_size=16, lr=1e-4, seed=3, patience=1, num_threads=2
)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return make_synthetic_messages(360, seed=11)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    epochs_seen: list[dict] = []
    out = tmp_path_factory.mktemp("clf") / "signal_classifier"
    result = train_text_classifier(data, out, TINY, progress=epochs_seen.append)
    return result, epochs_seen


@pytest.mark.slow
def test_model_beats_majority_class(trained):
    result, _ = trained
    m = result.metrics
    assert m["eval_split"] == "test"
    assert m["accuracy"] > m["majority_accuracy"] + 0.15, m
    assert m["macro_f1"] > 0.5, m
    assert set(m["per_class"]) == set(SIGNAL_CLASSES)


@pytest.mark.slow
def test_progress_reported_each_epoch(trained):
    result, epochs_seen = trained
    assert [e["epoch"] for e in epochs_seen] == [h["epoch"] for h in result.history]
    assert {"epoch", "train_loss", "val_macro_f1", "val_accuracy", "seconds"} <= set(epochs_seen[0])
    assert 1 <= result.best_epoch <= len(result.history)
    assert result.n_train == 252


@pytest.mark.slow
def test_saved_dir_is_a_standard_hf_directory(trained):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = trained[0].output_dir
    model = AutoModelForSequenceClassification.from_pretrained(out)
    AutoTokenizer.from_pretrained(out)
    assert [model.config.id2label[i] for i in range(4)] == list(SIGNAL_CLASSES)
    meta = json.loads((out / "trademl_classifier.json").read_text())
    assert meta["labels"] == list(SIGNAL_CLASSES)
    assert meta["normalization"] == "trademl.signals.tokenize.normalize_for_model@3"
    assert meta["max_length"] == 64 and meta["config"]["epochs"] == 2
    assert not list(out.parent.glob(".*tmp*")), "temp dir left behind"


@pytest.mark.slow
def test_save_load_predict_round_trip(trained, data):
    result = trained[0]
    clf = load_classifier(result.output_dir)
    assert clf.name == "torch"
    test = data[data["split"] == "test"]
    preds = clf.predict(list(test["text"]), batch_size=8)
    again = clf.predict(list(test["text"]), batch_size=64)  # batching must not change answers
    assert [p for p, _ in preds] == [p for p, _ in again]
    assert all(0.25 <= conf <= 1.0 for _, conf in preds)
    metrics = classification_metrics(list(test["label"]), [p for p, _ in preds])
    assert metrics["confusion_matrix"] == result.metrics["confusion_matrix"]


@pytest.mark.slow
def test_glued_emoji_keep_direction_visible(trained):
    from transformers import AutoTokenizer

    from trademl.signals.tokenize import normalize_for_model

    tok = AutoTokenizer.from_pretrained(trained[0].output_dir)
    assert "short" in tok.tokenize(normalize_for_model("SHORT📉 BTC"))


def test_inverse_frequency_weights_are_clipped():
    w = inverse_frequency_weights([0] * 90 + [1] * 9 + [2], n_classes=4, clip=10.0)
    assert w[0] < 1 < w[1] < w[2] == 10.0
    assert w[3] == 10.0  # absent class
    np.testing.assert_allclose(w[1], 100 / (3 * 9))


@pytest.mark.slow
def test_lora_is_merged_before_save(data, tmp_path):
    cfg = TextClassifierConfig(
        max_length=32,
        epochs=1,
        batch_size=16,
        lr=5e-4,
        max_train_examples=48,
        use_lora=True,
        lora_r=4,
        lora_alpha=8,
        num_threads=2,
    )
    result = train_text_classifier(data, tmp_path / "lora", cfg)
    from safetensors import safe_open

    with safe_open(str(result.output_dir / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert not [k for k in keys if "lora" in k], keys[:5]
    assert (
        load_classifier(result.output_dir).predict(["LONG ETH/USDT entry 3000"])[0][0]
        in SIGNAL_CLASSES
    )


def test_bad_labels_are_reported(tmp_path):
    df = pd.DataFrame({"text": ["a", "b"], "label": ["NON_SIGNAL", "BUY"], "split": ["train"] * 2})
    with pytest.raises(ValueError, match="unknown label"):
        train_baseline(df, tmp_path / "b.joblib")


def test_baseline_beats_majority_and_loads(data, tmp_path):
    result = train_baseline(data, tmp_path / "baseline.joblib")
    m = result.metrics
    assert m["accuracy"] > m["majority_accuracy"] + 0.15, m
    clf = load_classifier(result.output_path)
    assert clf.name == "tfidf-baseline"
    test = data[data["split"] == "test"]
    preds = [p for p, _ in clf.predict(list(test["text"]))]
    assert classification_metrics(list(test["label"]), preds)["accuracy"] == m["accuracy"]
    assert clf.predict(["SHORT📉 SOL/USDT entry 150 tp 140 sl 155"])[0][0] == SIGNAL_SHORT
