"""The demo's message kinds under the class definition: level-only longs and shorts, SIGNAL_NONE
set-ups whose levels imply nothing, signal-shaped results, and boilerplate that carries no class."""

from __future__ import annotations

import copy
import random
import re
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest

from trademl.demo.boilerplate import channel_boilerplate, stamp
from trademl.demo.channels import CHANNELS, MIX, channel_messages, compose, day_quota
from trademl.demo.chat_exports import write_discord_export, write_telegram_export
from trademl.demo.chatter import chatter
from trademl.demo.instruments import to_number
from trademl.demo.setups import NONE_HOW
from trademl.signals.levels import side_from_levels

KIND_LABELS = {
    "chat": {"NON_SIGNAL"},
    "update": {"NON_SIGNAL"},
    "signal": {"SIGNAL_LONG", "SIGNAL_SHORT"},
    "signal_levels": {"SIGNAL_LONG", "SIGNAL_SHORT"},
    "signal_none": {"SIGNAL_NONE"},
}
PLAIN = {"lines_card", "one_liner", "table_card"}
_SIDE = re.compile(r"(?i)long|short|buy|sell|лонг|шорт|compra|venta|venda")
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Every channel's answers over two days of 60 messages (the chat part of the demo only)."""
    out: Path = tmp_path_factory.mktemp("kinds")
    rows: list[dict] = []
    for channel in CHANNELS:
        messages = channel_messages(
            channel, seed=5, start_date=date(2026, 11, 1), days=2, per_day=60, defects={}
        )
        writer = write_telegram_export if channel.platform == "telegram" else write_discord_export
        rows += writer(out, channel, messages)[1]
    return rows


def _levels_side(a: dict) -> str | None:
    return side_from_levels(a["entry"], a["targets"], a["stop_loss"])


def test_every_kind_has_its_label(answers: list[dict]) -> None:
    seen: dict[str, set] = defaultdict(set)
    for a in answers:
        seen[a["kind"]].add(a["label"])
    assert dict(seen) == KIND_LABELS


def test_level_only_signals_take_their_side_from_the_levels(answers: list[dict]) -> None:
    levels = [a for a in answers if a["kind"] == "signal_levels"]
    assert Counter(a["label"] for a in levels).keys() == {"SIGNAL_LONG", "SIGNAL_SHORT"}
    for a in levels:
        assert a["side_source"] == "levels" and a["side"] in ("LONG", "SHORT")
        assert _levels_side(a) == a["side"], a["text"]
        assert not any(s["label"] == "SIDE" for s in a["entities"]), a["text"]
    layouts = Counter(a["layout"] for a in levels)
    # the plain layouts and the channels' own styles with the side left out
    assert PLAIN <= layouts.keys()
    assert len(layouts.keys() - PLAIN) >= 10
    assert any(a["stop_loss"] is None for a in levels)  # targets alone say the side too


def test_stated_signals_levels_agree_with_their_side(answers: list[dict]) -> None:
    stated = [a for a in answers if a["kind"] == "signal"]
    assert stated and all(a["side_source"] == "stated" for a in stated)
    for a in stated:
        sides = [a["text"][s["start"] : s["end"]] for s in a["entities"] if s["label"] == "SIDE"]
        assert len(sides) == 1, a["text"]
        if a["layout"] in PLAIN:
            assert _SIDE.fullmatch(sides[0]), a["text"]
        if a["targets"]:
            assert _levels_side(a) == a["side"], a["text"]
    # the plain layouts write stated signals too: a layout says nothing about the class
    assert PLAIN <= {a["layout"] for a in stated}


def test_signal_none_levels_imply_no_side(answers: list[dict]) -> None:
    none = [a for a in answers if a["kind"] == "signal_none"]
    hows = Counter(a["layout"].split(":")[0] for a in none)
    assert hows.keys() == NONE_HOW.keys()
    for a in none:
        assert a["side"] is None and a["side_source"] is None and a["entry"], a["text"]
        assert _levels_side(a) is None, a["text"]
        how = a["layout"].split(":")[0]
        lo, hi = min(a["entry"]), max(a["entry"])
        if how == "entry_only":
            assert a["targets"] == [] and a["stop_loss"] is None
        elif how == "both_sides":
            assert any(t > hi for t in a["targets"]) and any(t < lo for t in a["targets"])
        else:
            above = all(t > hi for t in a["targets"])
            assert a["stop_loss"] > hi if above else a["stop_loss"] < lo, a["text"]
    entry_only = {a["layout"] for a in none if a["layout"].startswith("entry_only:")}
    assert len(entry_only) >= 3  # a pair and an entry alone, in several layouts


def test_results_are_non_signals_restating_a_real_call(answers: list[dict]) -> None:
    results = [a for a in answers if a["layout"].startswith("result_")]
    assert len({a["layout"] for a in results}) >= 6
    assert all(a["label"] == "NON_SIGNAL" and a["entities"] == [] for a in results)
    by_channel: dict[str, list[dict]] = defaultdict(list)
    for a in answers:
        by_channel[a["export_path"]].append(a)
    restated = 0
    for rows in by_channel.values():
        levels: set[float] = set()
        for a in sorted(rows, key=lambda r: int(r["message_id"])):
            if a["layout"].startswith("result_"):
                numbers = {to_number(m) for m in _NUMBER.findall(a["text"])}
                restated += bool(numbers & levels)
            elif a["kind"] in ("signal", "signal_levels"):
                levels.update(a["entry"] + a["targets"] + [a["stop_loss"]])
    assert restated >= 0.85 * len(results)  # they quote an earlier call's levels
    text = "\n".join(a["text"] for a in results)
    for marker in ("✅", "✔", "hit", "reached", "done", "Closed at", "achieved", "Direction: "):
        assert marker in text, marker
    assert re.search(r"(?:LONG|SHORT|Long|Short)\n", text)  # the side repeated, as in the call
    assert re.search(r"[+-]\d+\.\d%", text) and re.search(r"[+-]\d+ (?:pips|pts|points)", text)
    russian = "\n".join(a["text"] for a in results if "Крипто" in a["channel"])
    assert re.search(r"Вход|Тейк|Прибыль|Закрыли|Все цели", russian)
    latam = "\n".join(a["text"] for a in results if "Latam" in a["channel"])
    assert re.search(r"Objetivo|alcanzad|Cerrad|Ganancia", latam)  # Spanish
    assert re.search(r"Alvo|atingid|Fechad|Lucro", latam)  # and Portuguese


def test_boilerplate_is_in_every_class_and_adds_no_entity(answers: list[dict]) -> None:
    stamped: dict[str, int] = Counter()
    total: dict[str, int] = Counter()
    for a in answers:
        total[a["kind"]] += 1
        if not a["boilerplate"]:
            continue
        stamped[a["kind"]] += 1
        for line in a["boilerplate"]:
            start = a["text"].index(line)
            for span in a["entities"]:  # no entity inside a boilerplate line
                assert span["end"] <= start or span["start"] >= start + len(line), a["text"]
    for kind in KIND_LABELS:  # about the same share everywhere, so it says nothing
        assert 0.08 <= stamped[kind] / total[kind] <= 0.35, (kind, stamped[kind], total[kind])
    lines = "\n".join(line for a in answers for line in a["boilerplate"])
    for marker in ("Expected duration: Short", "DYOR", "Register on ", "t.me/", "https://"):
        assert marker in lines, marker
    signals = [a for a in answers if a["label"] == "SIGNAL_LONG" and a["boilerplate"]]
    assert any("Short" in line for a in signals for line in a["boilerplate"])


@pytest.mark.parametrize("kind", ["signal", "signal_levels", "signal_none", "update"])
def test_stamping_boilerplate_changes_no_gold_field(kind: str) -> None:
    rng = random.Random(f"boiler/{kind}")
    for k in range(150):
        channel = CHANNELS[k % len(CHANNELS)]
        body, numbers, _ = compose(rng, channel, kind, k % 3, None)
        before = body.labelled()
        boiler = channel_boilerplate(rng, channel.lang, "desk", fx=False)
        stamped = copy.deepcopy(body)
        lines = [line for _ in range(3) for line in stamp(stamped, boiler, rng)]
        assert stamped.labelled() == before, stamped.plain()
        assert all(line in stamped.plain() for line in lines)


def test_chatter_has_direction_words_that_are_no_side(answers: list[dict]) -> None:
    chat = "\n".join(a["text"] for a in answers if a["kind"] == "chat")
    for marker in (
        "short squeeze",
        "long-term",
        "longs liquidated",
        "buy the rumour, sell the news",
        "shorts got rekt",
    ):
        assert marker.lower() in chat.lower(), marker
    rng = random.Random("confounders")
    ru = "\n".join(chatter(rng, "ru", "crypto").plain() for _ in range(300))
    es = "\n".join(chatter(rng, "es", "gold").plain() for _ in range(300))
    assert re.search(r"Лонги|Шортист|Шорт-сквиз", ru) and re.search(r"largo plazo|boato", es)


def test_level_only_share_keeps_the_message_count() -> None:
    for n in (12, 30, 60, 100):
        kinds = Counter(day_quota(n))
        assert sum(kinds.values()) == n
        assert abs(kinds["signal_levels"] - n * MIX["signal_levels"]) <= 0.5
    kinds = Counter(day_quota(60))
    assert 0.08 <= kinds["signal_levels"] / 60 <= 0.10
    assert kinds["signal"] + kinds["signal_levels"] == 18  # as many longs and shorts as before


def test_rule_parser_agrees_with_the_gold(answers: list[dict]) -> None:
    """The models train on the parser's labels of these messages: where it reads the class
    definition as the gold does, they learn it. Measured 0.996 overall (every kind >= 0.96)."""
    from trademl.signals.parser import parse_signal

    agree: dict[str, list[bool]] = defaultdict(list)
    wrong = []
    for a in answers:
        label = parse_signal(a["text"]).label
        agree[a["kind"]].append(label == a["label"])
        if label != a["label"]:
            wrong.append((a["kind"], a["layout"], a["label"], label, a["text"]))
    overall = sum(sum(v) for v in agree.values()) / sum(len(v) for v in agree.values())
    assert overall >= 0.97, wrong[:20]
    for kind, hits in agree.items():
        assert sum(hits) / len(hits) >= 0.9, (kind, [w for w in wrong if w[0] == kind][:10])
