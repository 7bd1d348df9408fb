"""Channel styles the parser must read: messages written for these tests in the layouts real
signal channels use (Cornix, spot Buy/Sell, FX one-liners, Russian and Spanish channels, pips),
set-ups whose side only their levels tell, set-ups with no readable side (SIGNAL_NONE), and
results shaped like signals (targets ticked, profit per target, "closed at": NON_SIGNAL).

The rows are gold-format JSONL (tests/data/channel_styles.jsonl), so the same file also scores the
deployed models: ``trademl eval-signals tests/data/channel_styles.jsonl --extractor auto``. Rows with
a ``rules_gap`` are layouts the parser is known not to read (the classifier's job); the test holds
them as strict expected failures, so a parser that learns them has to say so here.
"""

from pathlib import Path

import pytest

from trademl.labels import NON_SIGNAL, SIGNAL_NONE
from trademl.signals.evaluation import load_gold
from trademl.signals.levels import SIDE_LABEL, side_from_levels
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
    for marker in ("Direction: LONG", "✅", "% profit", "Closed at", "достигнута", "alcanzado"):
        assert marker in text, marker  # results shaped like signals, in several languages
    assert sum("rules_gap" in r for r in ROWS) <= 3  # a known gap list, not a dumping ground


def test_gold_classes_follow_the_level_definition():
    """A SIGNAL_NONE row's levels imply no side; a signal whose levels imply one agrees with it."""
    for row in ROWS:
        implied = side_from_levels(row["entry"], row["targets"], row["stop_loss"])
        if row["label"] == SIGNAL_NONE:
            assert implied is None, row["text"]
        elif row["label"] != NON_SIGNAL and implied is not None:
            assert SIDE_LABEL[implied] == row["label"], row["text"]


def test_level_only_rows_are_read_from_their_levels():
    levels = [
        r for r in ROWS if "rules_gap" not in r and parse_signal(r["text"]).side_source == "levels"
    ]
    assert len(levels) >= 8  # the file keeps a real share of set-ups with no side word
    for row in levels:
        got = parse_signal(row["text"])
        assert got.side == row["side"] == side_from_levels(got.entry, got.targets, got.stop_loss)
        assert all(s.label != "SIDE" for s in got.spans)
