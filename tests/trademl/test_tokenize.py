from trademl.signals.tokenize import bio_tags, normalize_for_model, spans_from_bio, word_tokens


def test_tokens_keep_offsets_numbers_and_split_emoji():
    text = "SHORT📉 #ETH/USDT 1,234.5-1,240 x20"
    tokens = word_tokens(text)
    assert all(text[s:e] == t for t, s, e in tokens)
    assert [t for t, _, _ in tokens] == [
        "SHORT",
        "📉",
        "#",
        "ETH",
        "/",
        "USDT",
        "1,234.5",
        "-",
        "1,240",
        "x20",
    ]
    assert normalize_for_model("LONG🟢BTC") == "LONG green BTC"
    assert normalize_for_model("LONG🟢BTC", version=2) == "LONG 🟢 BTC"


def test_emoji_reach_the_model_as_words_not_unknown_tokens():
    """The default encoder's WordPiece vocabulary has no emoji: each was one [UNK], so a ticked
    target and a rocket read the same. The marks become words; other pictographs a bullet."""
    assert (
        normalize_for_model("TP1 1.0900 ✅ TP2 1.0950 ✔️") == "TP1 1.0900 check TP2 1.0950 ↑ check"
    )
    assert normalize_for_model("SL hit ❌ 📉") == "SL hit cross chart down"
    assert normalize_for_model("EUR/USD CALL 5 min ⬆️") == "EUR / USD CALL 5 min up"
    assert normalize_for_model("🔴 SELL 🔹 🌹") == "red SELL • •"
    # a bullet triangle is not a direction ("🔻 1.10500" is one room's stop)
    assert normalize_for_model("#AUDNZD Sell 1.09700\n🔻 1.10500") == (
        "# AUDNZD Sell 1.09700 ¶ triangle 1.10500 ↑"
    )
    # runs are cut to three; skin tones, joiners, flag letters and © are what they were
    assert normalize_for_model("🚀🚀🚀🚀🚀 👍🏽 🇺🇸 ©") == "rocket rocket rocket thumbs up ©"


def test_emoji_words_are_known_to_the_default_tokenizer():
    """Every word the table writes is in the default encoder's vocabulary (no [UNK] left)."""
    from transformers import AutoTokenizer

    from trademl.models.text_classifier import default_base_model
    from trademl.signals.tokenize import EMOJI_BULLET, EMOJI_WORDS

    tokenizer = AutoTokenizer.from_pretrained(default_base_model())
    words = {w for phrase in EMOJI_WORDS.values() for w in phrase.split()} | {EMOJI_BULLET}
    unknown = [w for w in sorted(words) if tokenizer.unk_token in tokenizer.tokenize(w)]
    assert not unknown


def test_bio_round_trip_and_multi_token_spans():
    text = "Long BTC/USDT entry 62000-62500 tp 64000 65000 sl 61000"
    spans = [
        (0, 4, "SIDE"),
        (5, 13, "PAIR"),
        (20, 25, "ENTRY"),
        (26, 31, "ENTRY"),
        (35, 40, "TARGET"),
        (41, 46, "TARGET"),
        (50, 55, "STOP_LOSS"),
    ]
    tokens = word_tokens(text)
    tags = bio_tags(tokens, spans)
    assert tags[:4] == ["B-SIDE", "B-PAIR", "I-PAIR", "I-PAIR"]
    assert tags[9:11] == ["B-TARGET", "B-TARGET"]  # two adjacent targets stay two entities
    assert spans_from_bio(tokens, tags) == spans
    assert bio_tags(tokens, []) == ["O"] * len(tokens)


def _both(text: str) -> str:
    """The marks of the first-level heuristic (normalize_for_model@2), which the parser's entry
    (the current version, line breaks aside) agrees with on these texts."""
    from trademl.signals.tokenize import LINE_BREAK

    old = normalize_for_model(text, version=2)
    assert normalize_for_model(text).replace(f" {LINE_BREAK}", "") == old
    return old


def test_levels_are_marked_by_their_side_of_the_first_level():
    from trademl.signals.tokenize import ABOVE, BELOW

    out = _both("#SOL/USDT\nEntry: 142.50\nTP1: 146.00\nTP2: 150.25\nSL: 139.10")
    assert out.endswith(f"TP1 : 146.00 {ABOVE} TP2 : 150.25 {ABOVE} SL : 139.10 {BELOW}")
    # an entry zone counts by its middle; its second bound carries no mark
    out = _both("ETH entry 3380 - 3405 tp 3330 sl 3460")
    assert out == f"ETH entry 3380 - 3405 tp 3330 {BELOW} sl 3460 {ABOVE}"


def test_numbers_that_are_not_levels_carry_no_mark():
    from trademl.signals.tokenize import ABOVE, BELOW, normalize_for_model

    for text in ("gm fam, BTC 62k", "Signal no 15 is out", "up 12% today, 3 trades", "no numbers"):
        out = _both(text)
        assert ABOVE not in out and BELOW not in out, text
    # far from the reference (x3): not one of its levels
    assert (
        normalize_for_model("BTC 62000 and ETH 3100 vs 3050") == "BTC 62000 and ETH 3100 vs 3050 ↓"
    )


def test_an_index_or_a_timeframe_is_never_the_reference_level():
    # "Timeframe: 1 Hour" and "T.P 1" lie within 1.5x of a 1.2x FX price: without the rule the
    # "1" became the reference and every level, the stop included, was marked above it.
    from trademl.signals.tokenize import ABOVE, BELOW

    out = _both(
        "Trade Direction: BUY\nTimeframe: 1 Hour\nEntry Price: 1.25623\n"
        "Take Profit: 1.26423\nStop Loss: 1.24823"
    )
    assert out.endswith(
        f"Entry Price : 1.25623 Take Profit : 1.26423 {ABOVE} Stop Loss : 1.24823 {BELOW}"
    )
    out = _both("GBPAUD BUY AT 1.68015\nT.P 1\n1.68321\nT.P 2\n1.68632\nS.L\n1.67432")
    assert out == (
        f"GBPAUD BUY AT 1.68015 T . P 1 1.68321 {ABOVE} T . P 2 1.68632 {ABOVE} S . L 1.67432 {BELOW}"
    )


def test_a_shorthand_zone_partner_does_not_move_the_reference():
    # "134.30/35" is 134.30 to 134.35: the 35 is no level, and the reference stays 134.30
    from trademl.signals.tokenize import ABOVE, BELOW

    out = _both("EURJPY SELL NOW @ 134.30/35\nSL 134.51\nTP 131.50")
    assert out == f"EURJPY SELL NOW @ 134.30 / 35 SL 134.51 {ABOVE} TP 131.50 {BELOW}"


def test_a_side_glued_to_a_pair_reaches_the_model_as_its_own_word():
    from trademl.signals.tokenize import ABOVE, BELOW, normalize_for_model

    assert _both("XAUUSDSELL 4626\nSL 4632\nTP 4620") == (
        f"XAUUSD SELL 4626 SL 4632 {ABOVE} TP 4620 {BELOW}"
    )
    assert normalize_for_model("BTCUSDTLONG now") == "BTCUSDT LONG now"
    assert normalize_for_model("LONGSHORT Buyers") == "LONGSHORT Buyers"  # no pair before it


def test_levels_are_marked_against_the_parsers_entry_wherever_it_stands():
    """Targets first, entry later: against the first number the levels would read as a short;
    against the entry the parser reads, every target is above it and the stop below."""
    from trademl.signals.tokenize import ABOVE, BELOW

    out = normalize_for_model("#SOL\nT1: 150\nT2: 155\nEntry: 145\nSL: 140\nLONG")
    assert out.replace(" ¶", "") == (
        f"# SOL T1 : 150 {ABOVE} T2 : 155 {ABOVE} Entry : 145 SL : 140 {BELOW} LONG"
    )
    # a zone's middle is the reference and its bounds are not marked
    out = normalize_for_model("ETH entry 3380 - 3405 tp 3330 sl 3460")
    assert out == f"ETH entry 3380 - 3405 tp 3330 {BELOW} sl 3460 {ABOVE}"
    # prose: "at" gives the entry
    out = normalize_for_model(
        "We are buying EURUSD at 1.0830 with stop at 1.0800 and target 1.0890"
    )
    assert out.endswith(f"stop at 1.0800 {BELOW} and target 1.0890 {ABOVE}")


def test_line_breaks_reach_the_model_so_a_bullet_tick_is_not_a_hit_target():
    from trademl.signals.tokenize import LINE_BREAK

    hit = normalize_for_model("TP1 0.9064 ✅\nTP2 0.9118")
    bullet = normalize_for_model("✅TP1 0.9064\n✅TP2 0.9118")
    assert hit == f"TP1 0.9064 check {LINE_BREAK} TP2 0.9118 ↑"
    assert bullet == f"check TP1 0.9064 {LINE_BREAK} check TP2 0.9118 ↑"
    # blank lines and trailing breaks give one token at most, never one at the ends
    assert normalize_for_model("\nBUY GOLD\n\n\nnow\n") == f"BUY GOLD {LINE_BREAK} now"


def test_emoji_shortcodes_read_as_the_emoji_they_name():
    out = normalize_for_model(
        ":small_blue_diamond:Gold buy now at 1224\n:heavy_check_mark: TP 1243"
    )
    assert out == "• Gold buy now at 1224 ¶ check TP 1243 ↑"
    assert normalize_for_model("SL hit :x: at 12:30") == "SL hit cross at 12 : 30"
    assert normalize_for_model("ratio 1:2:3 and :foo: stay") == "ratio 1 : 2 : 3 and : foo : stay"


def test_emoji_glue_is_dropped_but_not_the_vowel_signs_of_a_word():
    assert normalize_for_model("1️⃣ BUY GOLD") == "1 BUY GOLD"
    hindi = normalize_for_model("सोना खरीदें")  # "buy gold": its vowel signs are combining marks
    assert hindi.replace(" ", "") == "सोनाखरीदें"
    assert normalize_for_model("x^2 `code`") == "x ^ 2 ` code `"
