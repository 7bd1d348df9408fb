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
    assert normalize_for_model("LONG🟢BTC") == "LONG 🟢 BTC"


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
