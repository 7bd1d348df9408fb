"""Counterfactual augmentation: label flips with mirrored levels, unsided rows labelled by the
levels, label-keeping noise, and nothing leaking into validation or test."""

import random
import re

import pandas as pd
import pytest

from trademl.labels import NON_SIGNAL, SIGNAL_LONG, SIGNAL_SHORT
from trademl.signals.augment import (
    _BULLETS,
    AugmentConfig,
    augment_rows,
    augment_training_table,
    mirror_levels,
    relayout,
    strip_sides,
    swap_sides,
)
from trademl.signals.datasets import text_key
from trademl.signals.levels import side_from_levels
from trademl.signals.parser import parse_signal

LONG = "#SOL/USDT LONG 🟢\nEntry: 142.50\nTP1: 146.00\nTP2: 150.25\nSL: 139.10"
SHORT = "XAUUSD SELL 2365\nTP 2355\nTP 2345\nSL 2375"
CHAT = "gm fam, coffee first"


def test_swap_sides_mirrors_words_and_emoji_but_not_durations():
    out = swap_sides("LONG 🟢 Buy now. Expected duration: short term, long-term hold")
    assert out.startswith("SHORT 🔴 Sell now.")
    assert "short term" in out and "long-term hold" in out


def test_mirror_levels_reflects_targets_and_stop_about_the_entry():
    parsed = parse_signal(LONG)
    mirrored = mirror_levels(LONG, parsed)
    assert mirrored is not None
    assert "139.00" in mirrored and "134.75" in mirrored and "145.90" in mirrored
    assert "Entry: 142.50" in mirrored  # the entry stays


@pytest.mark.parametrize("text,label,flipped", [(LONG, SIGNAL_LONG, SIGNAL_SHORT),
                                                (SHORT, SIGNAL_SHORT, SIGNAL_LONG)])  # fmt: skip
def test_flip_counterfactual_flips_the_label_and_the_levels(text, label, flipped):
    config = AugmentConfig(weights={"flip": 1.0}, second_transform_p=0.0)
    made, stats = augment_rows([(text, label)], config, n=1)
    assert len(made) == 1, stats.as_dict()
    new_text, new_label, name = made[0]
    assert (new_label, name) == (flipped, "flip")
    parsed = parse_signal(new_text)
    assert parsed.label == flipped
    side = {SIGNAL_LONG: "LONG", SIGNAL_SHORT: "SHORT"}[flipped]
    assert side_from_levels(parsed.entry, parsed.targets, parsed.stop_loss) == side


def test_strip_sides_removes_the_direction_but_keeps_the_levels():
    out = strip_sides(LONG)
    assert "LONG" not in out and "🟢" not in out
    assert "146.00" in out and "139.10" in out


def test_unsided_rows_are_labelled_by_their_levels():
    config = AugmentConfig(weights={"unsided": 1.0}, second_transform_p=0.0)
    made, stats = augment_rows([(LONG, SIGNAL_LONG), (SHORT, SIGNAL_SHORT)], config, n=2)
    assert len(made) == 2, stats.as_dict()
    assert {(lab, name) for _, lab, name in made} <= {
        (SIGNAL_LONG, "unsided"),
        (SIGNAL_SHORT, "unsided"),
    }
    for text, label, _ in made:
        assert parse_signal(text).label == label
        assert not any(s.label == "SIDE" for s in parse_signal(text).spans)


def test_rows_the_parser_reads_otherwise_are_never_flipped():
    # labelled LONG by someone, but the parser reads no stated side: no counterfactual from it
    config = AugmentConfig(weights={"flip": 1.0}, second_transform_p=0.0)
    made, stats = augment_rows([("BTC to the moon 🚀", SIGNAL_LONG)], config, n=3)
    assert made == [] and stats.rejected["flip"] > 0


def test_label_keeping_transforms_keep_the_label_of_every_class():
    config = AugmentConfig(weights={"boilerplate": 0.5, "confounder": 0.5}, second_transform_p=0.0)
    rows = [(LONG, SIGNAL_LONG), (SHORT, SIGNAL_SHORT), (CHAT, NON_SIGNAL)]
    made, _ = augment_rows(rows, config, n=30)
    assert len(made) >= 20
    original = {text_key(t) for t, _ in rows}
    for text, label, _ in made:
        assert text_key(text) not in original
        source = next(lab for t, lab in rows if t.split("\n")[0] in text)
        assert label == source


def test_relayout_variants_change_only_layout():
    rng = random.Random(1)
    outs = {relayout(LONG, rng) for _ in range(20)}
    assert any("\n" not in o for o in outs)  # one line
    assert any("🟢" not in o for o in outs)  # emoji stripped
    assert all("142.50" in o for o in outs)


def test_relayout_bullets_open_lines_and_never_tick_a_non_signal():
    """Channels open set-up lines with ✅ / 🔹 / 👉 bullets; a results post's tick (after a
    target) must stay the only tick a NON_SIGNAL row has."""
    rng = random.Random(2)
    bullets = [o for o in (relayout(LONG, rng, SIGNAL_LONG) for _ in range(300)) if "\n" in o]
    bulleted = [o for o in bullets if o.split("\n")[1][:1] not in "ET"]
    assert bulleted and all("142.50" in o for o in bulleted)
    assert any(t in o for o in bulleted for t in ("✅", "✔", "☑"))  # ticks are bullets too
    chatter = "gm fam\nBTC looks strong today\nwho is in?"
    outs = {relayout(chatter, rng, NON_SIGNAL) for _ in range(80)}
    assert not any(t in o for o in outs for t in ("✅", "✔", "☑"))
    assert any(o.startswith(_BULLETS) for o in outs)


def test_training_table_only_grows_train_and_never_copies_a_held_out_text():
    table = pd.DataFrame(
        {
            "text": [LONG, SHORT, CHAT, swap_sides(mirror_levels(LONG, parse_signal(LONG)))],
            "label": [SIGNAL_LONG, SIGNAL_SHORT, NON_SIGNAL, SIGNAL_SHORT],
            "split": ["train", "train", "train", "test"],
        }
    )
    config = AugmentConfig(weights={"flip": 1.0}, second_transform_p=0.0)
    out, stats = augment_training_table(table, config, n=2)
    added = out.iloc[len(table) :]
    assert (added["split"] == "train").all()
    assert added["label_source"].str.startswith("augmented:").all()
    test_keys = {text_key(t) for t in table.loc[table["split"] == "test", "text"]}
    assert not any(text_key(t) in test_keys for t in added["text"])
    # the flip of LONG is the test row's text: made, then refused
    assert stats["rejected"]["held_out_text"] >= 1
    assert out.iloc[: len(table)]["text"].tolist() == table["text"].tolist()


def test_deterministic_for_a_seed():
    rows = [(LONG, SIGNAL_LONG), (SHORT, SIGNAL_SHORT), (CHAT, NON_SIGNAL)]
    assert augment_rows(rows, n=10)[0] == augment_rows(rows, n=10)[0]


def test_asset_budget_counts_the_rewrites_inside_max_train_examples():
    from trademl_assets.signals.models import SignalClassifierConfig, augmented_table

    texts = [LONG.replace("142.50", f"{142.5 + i / 10:.2f}") for i in range(60)]
    texts += [f"{CHAT} {i}" for i in range(60)]
    labels = [SIGNAL_LONG] * 60 + [NON_SIGNAL] * 60
    table = pd.DataFrame({"text": texts, "label": labels, "split": "train"})
    table.loc[len(table)] = ["gn all", NON_SIGNAL, "test"]
    out, stats = augmented_table(
        table, SignalClassifierConfig(max_train_examples=80, augment_share=0.35)
    )
    train = out[out["split"] == "train"]
    assert len(train) <= 80
    assert stats["n_added"] == (train["label_source"].astype(str).str.startswith("augmented")).sum()
    assert stats["n_added"] > 0
    assert (out["split"] == "test").sum() == 1
    none, _ = augmented_table(table, SignalClassifierConfig(max_train_examples=80, augment_share=0))
    assert len(none[none["split"] == "train"]) == 80 and "augmented" not in set(
        none.get("label_source", [])
    )


def test_terse_rewrite_keeps_the_call_without_its_levels():
    config = AugmentConfig(weights={"terse": 1.0}, second_transform_p=0.0)
    made, stats = augment_rows([(LONG, SIGNAL_LONG), (SHORT, SIGNAL_SHORT)], config, n=2)
    assert len(made) == 2, stats.as_dict()
    for text, label, name in made:
        assert name == "terse" and len(text) < 30 and not any(c.isdigit() for c in text)
        assert parse_signal(text).label == label


def test_result_rewrite_turns_a_set_up_into_its_results_post():
    from trademl.signals.augment import _result

    rng = random.Random(3)
    made = [_result(text, label, rng) for text, label in [(LONG, SIGNAL_LONG)] * 12]
    made += [_result(SHORT, SIGNAL_SHORT, rng) for _ in range(12)]
    made = [m for m in made if m is not None]
    assert len(made) >= 12
    for text, label in made:
        assert label == NON_SIGNAL and parse_signal(text).label == NON_SIGNAL
        # the layout and every level stay: only ticks or a results line were added
        assert "142.50" in text or "2365" in text
    assert _result(CHAT, NON_SIGNAL, rng) is None  # only set-ups have targets to tick


def test_reorder_moves_level_lines_but_not_the_pair_line_and_keeps_the_label():
    from trademl.signals.augment import _reorder

    rng = random.Random(5)
    made = {_reorder(LONG, SIGNAL_LONG, rng) for _ in range(12)} - {None}
    assert made, "a five-line set-up can always be reordered"
    for text, label in made:
        lines = text.split("\n")
        assert label == SIGNAL_LONG and parse_signal(text).label == SIGNAL_LONG
        assert lines[0] == "#SOL/USDT LONG 🟢"  # the line naming the pair and side stays first
        assert sorted(lines) == sorted(LONG.split("\n")) and text != LONG
    assert any(t.split("\n")[1] == "SL: 139.10" for t, _ in made)  # the stop first
    assert any(t.split("\n")[-1] == "Entry: 142.50" for t, _ in made)  # the entry last
    assert _reorder("BTC LONG 62000 TP 63000 SL 61000", SIGNAL_LONG, rng) is None  # one line
    assert _reorder(CHAT, NON_SIGNAL, rng) is None


def test_pips_writes_an_fx_set_ups_stop_and_targets_as_distances():
    from trademl.signals.augment import _pips

    rng = random.Random(2)
    fx = "EURUSD BUY 1.0850\nTP1 1.0880\nTP2 1.0910\nSL 1.0820"
    text, label = _pips(fx, SIGNAL_LONG, rng)
    assert label == SIGNAL_LONG and parse_signal(text).label == SIGNAL_LONG
    assert text.startswith("EURUSD BUY 1.0850\nTP1 30") and "TP2 60" in text and "SL 30" in text
    assert "1.0880" not in text and re.search(r"TP1 30 ?(?:pips|points|pts)\n", text), text
    jpy = "USDJPY SELL 149.50\nTP 149.00\nSL 150.00"
    assert "TP 50" in _pips(jpy, SIGNAL_SHORT, rng)[0]
    assert _pips(SHORT, SIGNAL_SHORT, rng) is None  # gold at 2365 is not counted in pips
    # no stated side: distances would leave no direction at all, so no rewrite
    assert _pips("EURUSD 1.0850\nTP 1.0880\nSL 1.0820", SIGNAL_LONG, rng) is None


def test_result_rewrite_may_tick_a_target_in_place_of_its_number():
    from trademl.signals.augment import _result

    rng = random.Random(0)
    made = [_result(LONG, SIGNAL_LONG, rng) for _ in range(60)]
    ticked_in_place = [t for t, _ in filter(None, made) if "146.00" not in t and "142.50" in t]
    assert ticked_in_place, "some results posts tick TP1 without repeating its number"
    for text in ticked_in_place:
        assert parse_signal(text).label == NON_SIGNAL


def test_keywords_respells_the_stop_and_the_targets_and_keeps_the_label():
    from trademl.signals.augment import _keywords

    rng = random.Random(4)
    made = {_keywords(LONG, SIGNAL_LONG, rng) for _ in range(20)} - {None}
    assert len(made) >= 3
    for text, label in made:
        assert label == SIGNAL_LONG and parse_signal(text).label == SIGNAL_LONG
        assert "146.00" in text and "150.25" in text and "139.10" in text  # the levels stay
        assert (
            parse_signal(text).targets == [146.0, 150.25] and parse_signal(text).stop_loss == 139.1
        )
    assert any("Take profit 1: 146.00" in t or "Target 1: 146.00" in t for t, _ in made)
    assert _keywords(CHAT, NON_SIGNAL, rng) is None


def test_chatter_is_capped_to_its_share_of_the_budget_and_every_set_up_stays():
    from trademl_assets.signals.models import SignalClassifierConfig, augmented_table

    texts = [LONG.replace("142.50", f"{142.5 + i / 10:.2f}") for i in range(30)]
    texts += [f"{CHAT} {i}" for i in range(170)]
    table = pd.DataFrame(
        {"text": texts, "label": [SIGNAL_LONG] * 30 + [NON_SIGNAL] * 170, "split": "train"}
    )
    config = SignalClassifierConfig(max_train_examples=100, augment_share=0)
    train = augmented_table(table, config)[0]
    assert len(train) == 100
    assert (train["label"] == SIGNAL_LONG).sum() == 30  # no set-up is sampled away
    uncapped = SignalClassifierConfig(
        max_train_examples=100, augment_share=0, max_non_signal_share=1.0
    )
    assert (augmented_table(table, uncapped)[0]["label"] == SIGNAL_LONG).sum() == 15  # 15 %
    # more set-ups than the budget: chatter keeps its share, set-ups keep theirs
    many = pd.concat([table[table["label"] == SIGNAL_LONG]] * 10, ignore_index=True)
    many["text"] = [f"{t} #{i}" for i, t in enumerate(many["text"])]
    mixed = pd.concat([many, table[table["label"] == NON_SIGNAL]], ignore_index=True)
    capped = augmented_table(
        mixed, SignalClassifierConfig(max_train_examples=100, augment_share=0)
    )[0]
    assert len(capped) == 100 and (capped["label"] == NON_SIGNAL).sum() == 40


def test_truncate_keeps_pair_side_and_entry_and_the_stated_class():
    from trademl.signals.augment import _truncate

    rng = random.Random(1)
    made = [_truncate(t, lab, rng) for t, lab in [(LONG, SIGNAL_LONG), (SHORT, SIGNAL_SHORT)] * 4]
    made = [m for m in made if m is not None]
    assert len(made) >= 4
    for text, label in made:
        parsed = parse_signal(text)
        assert parsed.label == label and parsed.entry and not parsed.targets
        assert parsed.stop_loss is None
        assert "146.00" not in text and "2355" not in text and "139.10" not in text
    one_line = _truncate("#ADA/BTC Buy 0.00000541 tp 0.00000563 sl 0.00000505", SIGNAL_LONG, rng)
    assert one_line[0].startswith("#ADA/BTC Buy 0.00000541") and "tp" not in one_line[0]
    # no stated side: cutting the levels would leave no direction, so no rewrite
    assert _truncate("XAUUSD 2365\nTP 2355\nSL 2375", SIGNAL_SHORT, rng) is None


def test_prose_writes_a_stated_set_up_as_one_sentence_with_the_same_levels():
    from trademl.signals.augment import _prose

    rng = random.Random(4)
    made = [_prose(LONG, SIGNAL_LONG, rng) for _ in range(20)]
    made = [m for m in made if m]
    assert made
    for text, label in made:
        assert "\n" not in text and label == SIGNAL_LONG
        reread = parse_signal(text)
        assert reread.label == SIGNAL_LONG and reread.stop_loss == 139.10
        assert reread.entry == [142.50] and reread.targets == [146.00, 150.25]
    assert _prose(CHAT, NON_SIGNAL, rng) is None
