"""The parser's reading of the class definition (ARCHITECTURE.md, classification_dataset):
a direction implied by the levels makes a signal, a set-up with no readable direction is
SIGNAL_NONE, and results shaped like signals (targets ticked, profit per target, "closed at")
are NON_SIGNAL. Every message here was written for these tests."""

import pytest

from trademl.labels import NON_SIGNAL, SIGNAL_LONG, SIGNAL_NONE, SIGNAL_SHORT
from trademl.signals.levels import side_from_levels
from trademl.signals.parser import ParsedSignal, non_trade_cue, parse_signal

# --- level-implied direction ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label", "entry", "targets", "stop"),
    [
        ("XAUUSD\nEntry: 2340 - 2335\nSL: 2328\nTP: 2350", SIGNAL_LONG, [2340, 2335], [2350], 2328),
        (
            "#ETH/USDT\nEntry: 3500\nTargets: 3420 / 3380\nStop: 3560",
            SIGNAL_SHORT,
            [3500],
            [3420, 3380],
            3560,
        ),
        ("BTCUSDT 62000 sl 61000 tp 64000", SIGNAL_LONG, [62000], [64000], 61000),
        (
            "GBPUSD\nEntry zone: 1.2700-1.2720\nTP1 1.2650\nTP2 1.2600\nSL 1.2760",
            SIGNAL_SHORT,
            [1.27, 1.272],
            [1.265, 1.26],
            1.276,
        ),
        ("#SOL entry 142.5 targets 146 / 150", SIGNAL_LONG, [142.5], [146, 150], None),
    ],
)
def test_levels_imply_the_direction_where_no_word_states_it(text, label, entry, targets, stop):
    r = parse_signal(text)
    assert r.label == label
    assert r.side == ("LONG" if label == SIGNAL_LONG else "SHORT")
    assert r.side_source == "levels"
    assert r.entry == pytest.approx(entry)
    assert r.targets == pytest.approx(targets)
    assert r.stop_loss == (pytest.approx(stop) if stop is not None else None)
    assert r.side == side_from_levels(r.entry, r.targets, r.stop_loss)  # the one definition
    assert all(s.label != "SIDE" for s in r.spans)  # a derived side has no surface


def test_a_stated_side_is_marked_stated_and_has_a_span():
    text = "BTC long 62000 sl 61000 tp 64000"
    r = parse_signal(text)
    assert (r.label, r.side, r.side_source) == (SIGNAL_LONG, "LONG", "stated")
    assert [text[s.start : s.end] for s in r.spans if s.label == "SIDE"] == ["long"]
    emoji = parse_signal("BTCUSDT 📈\nEntry 62000\nTP 64000\nSL 61000")
    assert (emoji.side, emoji.side_source) == ("LONG", "stated")


def test_no_side_means_no_side_source_and_fields_stay_the_six_gold_fields():
    r = parse_signal("Good morning traders")
    assert r.side_source is None
    none = parse_signal("EURUSD\nEntry: 1.0850\nTP1: 1.0900\nTP2: 1.0800")
    assert (none.side, none.side_source) == (None, None)
    assert set(none.fields()) == {"pair", "side", "entry", "targets", "stop_loss", "leverage"}
    # existing constructors that do not name the new field keep working
    assert ParsedSignal(NON_SIGNAL, None, None, [], [], None, None, ()).side_source is None


def test_a_decorative_emoji_that_contradicts_the_levels_does_not_flip_them():
    # the red circle marks the stop line; every level says long
    r = parse_signal("BTCUSDT\nEntry 62000\nTP 64000\n🔴 SL 61000")
    assert (r.label, r.side, r.side_source) == (SIGNAL_LONG, "LONG", "levels")
    assert (r.targets, r.stop_loss) == ([64000.0], 61000.0)


def test_term_boilerplate_is_not_a_side_word():
    text = (
        "#BTC/USDT\nEntry 62000\nTP 63000 / 64000\nSL 61000\n"
        "Expected duration: Short and medium term\nNot financial advice"
    )
    r = parse_signal(text)
    assert (r.label, r.side, r.side_source) == (SIGNAL_LONG, "LONG", "levels")
    assert r.targets == [63000.0, 64000.0]


# --- no readable direction -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pair", "entry"),
    [
        ("XAUUSD\nEntry: 2340", "XAUUSD", [2340]),
        ("#SOL entry 142.5", "SOLUSDT", [142.5]),
        ("📍 #AVAX/USDT\n👉 Entry zone: 35.20 - 34.10", "AVAXUSDT", [35.2, 34.1]),
        ("GOLD\nZona de entrada: 2596.30 - 2600.50\nSL a confirmar", "XAUUSD", [2596.3, 2600.5]),
        ("EURUSD Entry: 1.0635 - 1.0651\n\nQuestions? DM the desk", "EURUSD", [1.0635, 1.0651]),
    ],
)
def test_a_pair_and_an_entry_alone_are_signal_none(text, pair, entry):
    r = parse_signal(text)
    assert (r.label, r.pair, r.side, r.side_source) == (SIGNAL_NONE, pair, None, None)
    assert r.entry == pytest.approx(entry)


@pytest.mark.parametrize(
    "text",
    [
        "my entry on BTC was 62000 lol",
        "BTC entry 60000 would be nice",
        "What entry for BTC? 62000?",
        "Entry for BTC triggered at 62,000",
        "Entry: 62000",  # no instrument
    ],
)
def test_chatter_about_an_entry_stays_non_signal(text):
    assert parse_signal(text).label == NON_SIGNAL


@pytest.mark.parametrize(
    "text",
    [
        "EURUSD\nEntry: 1.0850\nTP1: 1.0900\nTP2: 1.0800",  # targets on both sides
        "GBPUSD\nEntry 1.2700\nTP 1.2750\nSL 1.2780",  # the stop on the target side
        "#ADA entry 0.52 - 0.53 stop 0.525 target 0.56",  # a stop inside the entry zone
    ],
)
def test_contradictory_levels_stay_signal_none(text):
    r = parse_signal(text)
    assert (r.label, r.side, r.side_source) == (SIGNAL_NONE, None, None)


# --- results shaped like signals ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "#XYZ/USDT\nDirection: LONG\nEntry: 5.50\nTarget 1: 5.82✅ Target 2: 5.93✅",
        "#SOL/USDT\nLONG\nEntry: 142\nTP1 ✅ 12.5% profit\nTP2 ✅ 20% profit",
        "#ARB/USDT Long\nEntry: 3.88\nTarget 1: 5.82 (+50%)\nTarget 2: 5.93 (+52.9%)",
        "#SOL/USDT Short Entry 142.5\nTake-Profit Targets:\n1) 140.10 ✅\n2) 138.40 ✅\n3) 135.00",
        "ETH/USDT LONG\nEntry 3150\nTP1 3200 ☑️\nTP2 3250",
        "ETHUSDT long 3150 sl 3080\nTarget 1 3200 hit\nTarget 2 3250",
        "EURUSD BUY 1.0850\nTP 1.0900 reached 🎉\nSL 1.0820",
        "BTC/USDT Long 62000 sl 61000 tp 64000\nClosed at 63800 in profit",
        "#AVAX Long\nEntry 35.2\nTargets 36 / 36.9 / 38.2\nAll targets achieved 🎯",
        "#BTC ЛОНГ\nВход: 62000\nЦель 1 ✅\nЦель 2 достигнута 🔥",
        "#TON шорт\nВход 5,42\nЦели 5,30 / 5,10\nСделка закрыта по 5,25",
        "EURUSD COMPRA 1.0850\nObjetivo 1: 1.0900 alcanzado\nSL 1.0820",
        "XAUUSD VENDA 2350\nAlvo 1 2344 atingido ✅\nStop 2358",
        "GBPUSD VENTA 1.2700\nTP 1.2650\nCerrado en 1.2655 con ganancia",
        "XAUUSD BUY 2340\nTP1 2345 ✔️\nTP2 2350 ✔️\nSL 2330",
        "#SOL/USDT Шорт\nТочка входа: 181.95\nВыбило по стопу 186.40 ❌",
        "NAS100 SELL\nEntrada 21055\nEncerrado em 21013 ✔️ +42 points",
    ],
)
def test_results_shaped_like_signals_are_non_signal(text):
    r = parse_signal(text)
    assert r.label == NON_SIGNAL
    assert r.spans == ()
    cue = non_trade_cue(text)
    assert cue is not None and cue[0] in ("RESULT", "UPDATE")


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("#BTC/USDT LONG\nEntry 62000\nTP 63000 / 64000\nSL 61000\n\n✅✅✅", SIGNAL_LONG),
        ("#ETH/USDT SHORT\nEntry 3500\nTP 3420\nSL 3560\n✅ Risk management: 2%", SIGNAL_SHORT),
        ("GOLD BUY 2340\nTP 2350\nSL 2330\n✅ Entry now", SIGNAL_LONG),
        ("UsdChf SELL 0.9120\n❌Sl 0.9150\n✅Tp 0.9050", SIGNAL_SHORT),  # ticks as bullets
        (
            "#SOL/USDT LONG 142\nTP1 150\nTP2 160\nSL 136\nMove SL to entry after TP1 hit",
            SIGNAL_LONG,
        ),
        ("#LINK\nEntry 14.2\nTargets 15 / 16\nStop 13.4\n✅ Not financial advice", SIGNAL_LONG),
        ("#SOL/USDT LONG\nEntry 142\nTP1: 150 (take 50% profit)\nTP2: 160\nSL 136", SIGNAL_LONG),
        (
            "#SOL/USDT LONG\nEntry 142\nTP1: 150\nSL 136\nWhen TP1 is reached move SL to entry",
            SIGNAL_LONG,
        ),
    ],
)
def test_decorative_ticks_do_not_make_a_new_signal_a_result(text, label):
    assert parse_signal(text).label == label


def test_non_trade_cue_reports_the_ticked_result():
    text = "Target 1: 5.82✅ Target 2: 5.93✅"
    kind, start, end = non_trade_cue(text)
    assert kind == "RESULT"
    assert "✅" in text[start:end] or text[start:end].strip()
    assert non_trade_cue("#BTC/USDT LONG\nEntry 62000\nTP 64000\nSL 61000\n✅✅✅") is None
    assert non_trade_cue("Should I buy?")[0] == "QUESTION"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        # percentages on every level, the stop's negative: distances of a new set-up, no result
        (
            "⚡ ETHUSDT | x10\nEntry: 3100\nTargets:\n1) 3130 (+9.7%)\n2) 3160 (+19.4%)\nSL: 3060 (-12.9%)",
            SIGNAL_LONG,
        ),
        # a tick after the target and a cross after the stop: a legend, not a result
        ("GOLD sell now at 2350\nSL at 2362 ❌\nTP at 2330 ✅", SIGNAL_SHORT),
        # the whole set-up on one line, a tick at its end: a flourish
        ("EURUSD BUY 1.0760 SL 1.0735 TP 1.0800 ✅", SIGNAL_LONG),
        ("#BTC/USDT Long\nEntry 62000\nStopped out at 61000 -1.6%", NON_SIGNAL),
        ("US30 Sell\nEntered at 39250\nExit: 39100 ✔️ +150 points", NON_SIGNAL),
    ],
)
def test_legends_and_flourishes_against_results(text, label):
    assert parse_signal(text).label == label


@pytest.mark.parametrize(
    ("text", "label"),
    [
        (
            "#BNB/USDT @ 600.2-592.4, Tp 610.4 620.6 630.8",
            SIGNAL_LONG,
        ),  # entry right after the pair
        ("BTCUSDT: 62300 tps 61800 61200 sl 62900", SIGNAL_SHORT),  # "tps" names the targets
        ("$ADA at 0.4504-0.4549 TP 0.4408/0.4311", SIGNAL_SHORT),  # "at", then two targets
        ("BTC at 62000, next target 64000", NON_SIGNAL),  # talk: no entry keyword, no stop
        ("BTC is at 62000 today, targets 64000 66000", NON_SIGNAL),
        ("BTCUSDT 610.5", NON_SIGNAL),  # a pair and a number, no entry keyword: a price
    ],
)
def test_one_liner_set_ups_without_a_side_word(text, label):
    r = parse_signal(text)
    assert r.label == label
    if label != NON_SIGNAL:
        assert r.side_source == "levels"


def test_links_hold_no_question_and_no_first_person():
    text = (
        "📌 $BTC\nEntry zone: 80394\n\nBonus 👉 https://example.com/register?code=X1 t.me/example"
    )
    assert parse_signal(text).label == SIGNAL_NONE
    assert non_trade_cue(text) is None


def test_the_result_check_is_linear_on_hostile_text():
    import time

    hostile = [
        "tp " * 20000 + "✅",
        ("TP1 1.2 " + "✅" * 5) * 4000,
        "sl ❌ " * 10000 + "\n" + "1) 5.5 ✅\n" * 5000,
        "(" * 30000 + "1 ✅",
    ]
    for text in hostile:
        t0 = time.perf_counter()
        parse_signal(text)
        non_trade_cue(text)
        assert time.perf_counter() - t0 < 2.0, text[:20]


@pytest.mark.parametrize(
    "text",
    [
        "#BTC/USDT LONG\nEntry: 62000\nTP1: 63000 (+1.6%)\nTP2: 64000 (+3.2%)\nSL: 61000",
        "BTCUSDT\nEntry 62000\nTarget 1 - 63000 (+1.6%)\nTarget 2 - 64000 (+3.2%)\nStop 61000",
        "ETH LONG entry 3000 tp 3100 +3% tp2 3200 +6% sl 2900",
    ],
)
def test_target_distances_in_a_new_call_with_a_stop_are_not_results(text):
    # "+N%" per target is a gain in a recap, but a new call with a stop states its distances so
    assert parse_signal(text).label == SIGNAL_LONG
