"""Channel styles the parser must read: messages written for these tests in the layouts real
signal channels use (Cornix, spot Buy/Sell, FX one-liners, Russian and Spanish channels, pips).

The rows are gold-format JSONL (tests/data/channel_styles.jsonl), so the same file also scores the
deployed models: ``trademl eval-signals tests/data/channel_styles.jsonl --extractor auto``. Rows with
a ``rules_gap`` are layouts the parser is known not to read (the classifier's job); the test holds
them as strict expected failures, so a parser that learns them has to say so here.
"""

from pathlib import Path

import pytest

from trademl.labels import NON_SIGNAL
from trademl.signals.evaluation import load_gold
from trademl.signals.parser import parse_signal

STYLES_FILE = Path(__file__).parents[1] / "data" / "channel_styles.jsonl"
ROWS = load_gold(STYLES_FILE)


def _param(row: dict):
    marks = [pytest.mark.xfail(strict=True, reason=row["rules_gap"])] if "rules_gap" in row else []
    return pytest.param(row, id=row["text"][:28], marks=marks)


@pytest.mark.parametrize("row", [_param(r) for r in ROWS])
def test_channel_style(row):
    r = parse_signal(row["text"])
    assert r.label == row["label"]
    if row["label"] == NON_SIGNAL:
        return
    got = r.fields()
    assert got["pair"] == row["pair"]
    assert got["side"] == row["side"]
    assert got["entry"] == pytest.approx(row["entry"])
    assert got["targets"] == pytest.approx(row["targets"])
    for field in ("stop_loss", "leverage"):
        want = row[field]
        assert got[field] == (pytest.approx(want) if want is not None else None), field


def test_styles_file_covers_the_classes_and_languages():
    labels = {r["label"] for r in ROWS}
    assert labels == {"SIGNAL_LONG", "SIGNAL_SHORT", "SIGNAL_NONE", "NON_SIGNAL"}
    text = "\n".join(r["text"] for r in ROWS)
    for marker in ("Вход", "COMPRA", "pips", "Take-Profit Targets", "Buy:"):
        assert marker in text, marker
    assert sum("rules_gap" in r for r in ROWS) <= 3  # a known gap list, not a dumping ground
