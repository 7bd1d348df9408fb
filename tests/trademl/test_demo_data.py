"""The demo-data generator: formats as desks have them, truth that matches the text, determinism."""

from __future__ import annotations

import csv
import json
import math
import random
import re
import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from trademl.demo import DemoSummary, generate_demo_data, write_telegram_export_at_scale
from trademl.demo.instruments import (
    SignalNumbers,
    make_signal_numbers,
    pick_instrument,
    to_number,
)
from trademl.demo.labeling_store import LABELED_COLUMNS
from trademl.demo.markup import MessageText, plain_from_telegram
from trademl.demo.signal_styles import STYLES
from trademl.labels import ENTITY_LABELS, SIGNAL_CLASSES

SMALL = {"days": 2, "messages_per_channel_per_day": 30}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    return generate_demo_data(tmp_path_factory.mktemp("demo"), **SMALL)


@pytest.fixture(scope="module")
def answers(demo: DemoSummary) -> list[dict]:
    return [
        json.loads(line)
        for line in (demo.out_dir / "answers.jsonl").read_text("utf-8").splitlines()
    ]


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    kwargs = {"days": 1, "messages_per_channel_per_day": 12}
    generate_demo_data(tmp_path / "a", **kwargs)
    generate_demo_data(tmp_path / "b", **kwargs)
    generate_demo_data(tmp_path / "c", seed=8, **kwargs)
    a, b, c = (_tree_bytes(tmp_path / d) for d in "abc")
    assert a.keys() == b.keys() and len(a) > 30
    assert [k for k in a if a[k] != b[k]] == []
    assert a["answers.jsonl"] != c["answers.jsonl"]


def test_layout_and_summary(demo: DemoSummary, answers: list[dict]) -> None:
    root = demo.out_dir
    assert len(list((root / "telegram").glob("*/result.json"))) >= 8
    assert len(list((root / "discord").glob("*.json"))) >= 2
    assert demo.chat_messages == len(answers)
    assert sum(demo.labels.values()) == len(answers)
    assert all(p.exists() for paths in demo.paths.values() for p in paths)
    assert {"BTCUSDT", "ETHUSDT"} == set(demo.market_rows)


def test_telegram_export_is_telegram_desktop_json(demo: DemoSummary) -> None:
    forms, features = Counter(), Counter()
    for path in (demo.out_dir / "telegram").glob("*/result.json"):
        export = json.loads(path.read_text("utf-8"))
        assert (
            export["type"] == "public_channel" and isinstance(export["id"], int) and export["name"]
        )
        for msg in export["messages"]:
            assert isinstance(msg["id"], int) and msg["type"] in ("message", "service")
            features[msg["type"]] += 1
            if msg["type"] == "service":
                assert msg["action"] == "pin_message" and isinstance(msg["message_id"], int)
                continue
            assert msg["from_id"] == f"channel{export['id']}"
            forms[type(msg["text"]).__name__] += 1
            for entity in msg["text_entities"]:
                assert set(entity) <= {"type", "text", "href"}
            assert "".join(e["text"] for e in msg["text_entities"]) == plain_from_telegram(
                msg["text"]
            )
            if isinstance(msg["text"], list):
                objects = [p for p in msg["text"] if isinstance(p, dict)]
                assert objects and all(o["type"] != "plain" for o in objects)
            elif msg["text"]:
                assert msg["text_entities"] == [{"type": "plain", "text": msg["text"]}]
            features.update(
                k for k in ("edited", "edited_unixtime", "reply_to_message_id", "photo") if k in msg
            )
            if msg["date_unixtime"]:  # demo exports are written in UTC
                stamp = datetime.fromisoformat(msg["date"]).replace(tzinfo=UTC)
                assert int(msg["date_unixtime"]) == int(stamp.timestamp())
    assert forms["str"] > 0 and forms["list"] > 0
    for key in ("service", "edited", "edited_unixtime", "reply_to_message_id", "photo"):
        assert features[key] > 0, key


def test_discord_export_is_discord_chat_exporter_json(demo: DemoSummary) -> None:
    for path in (demo.out_dir / "discord").glob("*.json"):
        export = json.loads(path.read_text("utf-8"))
        assert set(export["guild"]) == {"id", "name", "iconUrl"}
        assert export["channel"]["type"] == "GuildTextChat"
        assert export["dateRange"] == {"after": None, "before": None}
        assert export["messageCount"] == len(export["messages"]) > 0
        for msg in export["messages"]:
            assert msg["id"].isdigit() and msg["type"] in ("Default", "Reply")
            datetime.fromisoformat(msg["timestamp"])
            assert msg["author"]["discriminator"] == "0000" and msg["author"]["isBot"] is False
            for key in ("attachments", "embeds", "stickers", "reactions", "mentions"):
                assert isinstance(msg[key], list)


def test_answers_spans_are_the_entity_surfaces(answers: list[dict]) -> None:
    assert {a["source"] for a in answers} == {"telegram", "discord"}
    for a in answers:
        assert a["label"] in SIGNAL_CLASSES or (a["label"] is None and a["defect"])
        text = a["text"]
        values: dict[str, list[float]] = {}
        for span in a["entities"]:
            assert span["label"] in ENTITY_LABELS
            assert 0 <= span["start"] < span["end"] <= len(text)
            surface = text[span["start"] : span["end"]]
            assert surface == surface.strip() and surface
            if span["label"] not in ("PAIR", "SIDE"):
                values.setdefault(span["label"], []).append(to_number(surface))
        if a["label"] in ("SIGNAL_LONG", "SIGNAL_SHORT", "SIGNAL_NONE"):
            assert a["pair"]
            sides = [s for s in a["entities"] if s["label"] == "SIDE"]
            # a SIDE entity exactly when the side is stated in words; the gold side either way
            assert bool(sides) == (a["side_source"] == "stated")
            assert (
                (a["side"] is None) == (a["label"] == "SIGNAL_NONE") == (a["side_source"] is None)
            )
            assert a["side"] is None or a["label"] == f"SIGNAL_{a['side']}"
            if not values and a["side_source"] == "stated":  # an instant call: "GOLD BUY NOW"
                assert a["entry"] == a["targets"] == [] and a["stop_loss"] is None
                assert len(a["text"]) <= 60
                continue
            assert a["entry"] and values["ENTRY"] == a["entry"]
            assert values.get("TARGET", []) == a["targets"]
            assert values.get("STOP_LOSS", []) == (
                [] if a["stop_loss"] is None else [a["stop_loss"]]
            )
            assert values.get("LEVERAGE", [None]) == [a["leverage"]]
            if a["side_source"] == "stated":  # channel styles always write the whole set-up
                assert a["targets"] and a["stop_loss"] is not None
            elif a["side_source"] == "levels":  # targets say it, with or without a stop
                assert a["targets"]
        else:
            assert a["entities"] == [] and a["pair"] is None and a["side_source"] is None


def test_answers_text_is_what_an_ingester_reconstructs(
    demo: DemoSummary, answers: list[dict]
) -> None:
    by_key = {(a["export_path"], a["message_id"]): a for a in answers}
    seen = 0
    for path in demo.paths["telegram"]:
        export = json.loads(path.read_text("utf-8"))
        rel = path.relative_to(demo.out_dir).as_posix()
        for msg in export["messages"]:
            if msg["type"] == "message":
                assert by_key[(rel, str(msg["id"]))]["text"] == plain_from_telegram(msg["text"])
                seen += 1
    for path in demo.paths["discord"]:
        rel = path.relative_to(demo.out_dir).as_posix()
        for k, msg in enumerate(json.loads(path.read_text("utf-8"))["messages"], 1):
            assert by_key[(rel, str(k))]["text"] == msg["content"]
            seen += 1
    assert seen == len(answers)


def test_label_proportions_are_realistic(answers: list[dict]) -> None:
    counts = Counter(a["label"] for a in answers if a["label"])
    total = sum(counts.values())
    assert 0.55 <= counts["NON_SIGNAL"] / total <= 0.75
    assert 0.10 <= counts["SIGNAL_LONG"] / total <= 0.22
    assert 0.10 <= counts["SIGNAL_SHORT"] / total <= 0.22
    assert 0.02 <= counts["SIGNAL_NONE"] / total <= 0.10
    pairs = {a["pair"] for a in answers if a["pair"]}
    assert {"BTCUSDT", "ETHUSDT", "XAUUSD"} <= pairs


def test_injected_chat_defects_are_counted(demo: DemoSummary, answers: list[dict]) -> None:
    empty = [a for a in answers if a["defect"] == "empty_text"]
    bad_date = [a for a in answers if a["defect"] == "unparseable_date"]
    assert len(empty) == demo.empty_text_messages >= 2 and all(a["text"] == "" for a in empty)
    assert len(bad_date) == demo.unparseable_date_messages == 1 and bad_date[0]["date"] is None


def test_labeling_store_tables_and_offsets(demo: DemoSummary) -> None:
    con = sqlite3.connect(demo.out_dir / "labeling.sqlite")
    cols = {row[1] for row in con.execute("PRAGMA table_info(messages)")}
    assert cols == {"id", "channel", "message_id", "date", "text"}
    cols = [row[1] for row in con.execute("PRAGMA table_info(labeled)")]
    assert cols == ["id", *LABELED_COLUMNS]
    n_messages = con.execute("SELECT count(*) FROM messages").fetchone()[0]
    rows = con.execute(
        "SELECT m.text, l.* FROM labeled l JOIN messages m ON m.id = l.message_id"
    ).fetchall()
    assert n_messages == demo.labeling_messages == 400
    assert 0.2 <= len(rows) / n_messages <= 0.4
    names = ["text", *cols]
    for row in rows:
        rec = dict(zip(names, row, strict=True))
        assert rec["direction"] in ("LONG", "SHORT", "NONE", None)
        assert (rec["direction"] is None) == (rec["is_signal"] == 0)
        for col in LABELED_COLUMNS:
            if col.endswith("_start") and rec[col] is not None:
                end = rec[col.replace("_start", "_end")]
                assert 0 <= rec[col] < end <= len(rec["text"])
        if rec["is_signal"]:
            assert rec["pair_start"] is not None
        if rec["direction"] == "NONE":  # a set-up: at least a pair and an entry
            assert rec["entry_start"] is not None
        elif rec["entry_start"] is not None:  # stated or implied by the levels ("GOLD BUY NOW"
            assert rec["target1_start"] is not None  # has neither entry nor target)
        if rec["stop_loss_start"] is not None:
            to_number(rec["text"][rec["stop_loss_start"] : rec["stop_loss_end"]])


def test_market_features_and_candles_agree(demo: DemoSummary) -> None:
    root = demo.out_dir
    rows = [
        json.loads(line)
        for line in (root / "market/orderbook_BTCUSDT.jsonl").open(encoding="utf-8")
    ]
    assert len(rows) == demo.market_rows["BTCUSDT"] == 2 * 17_280
    bad = [
        r
        for r in rows
        if "timestamp" not in r
        or not isinstance(r["price"], float)
        or not math.isfinite(r["price"])
    ]
    assert len(bad) == demo.market_bad_rows["BTCUSDT"] > 0
    assert len(bad) / len(rows) < 0.005
    with (root / "market/orderbook_ETHUSDT.csv").open(encoding="utf-8") as fh:
        eth = list(csv.DictReader(fh))
    assert len(eth) == demo.market_rows["ETHUSDT"]
    assert (
        sum(r["timestamp"] == "" or r["price"] in ("nan", "inf") for r in eth)
        == demo.market_bad_rows["ETHUSDT"]
    )
    bad_ids = {id(r) for r in bad}
    day_files = sorted((root / "candles").glob("BTCUSDT-1m-*.csv"))
    assert len(day_files) == 2
    matched, minute_index = 0, 0
    for path in day_files:
        with path.open(encoding="utf-8") as fh:
            candles = list(csv.reader(fh))
        assert len(candles) == 1440
        for c in candles:
            assert len(c) == 12
            o, h, lo, cl = map(float, c[1:5])
            assert h >= max(o, cl) and lo <= min(o, cl)
            assert int(c[6]) == int(c[0]) + 59_999 and int(c[0]) % 60_000 == 0
            first_row = rows[minute_index * 12]  # 12 feature rows of 5 s make a candle
            minute_index += 1
            if id(first_row) not in bad_ids:
                assert first_row["timestamp"][:16] == datetime.fromtimestamp(
                    int(c[0]) // 1000, UTC
                ).strftime("%Y-%m-%dT%H:%M")
                assert abs(first_row["price"] - o) <= 0.006
                matched += 1
    assert matched > 2_500


def test_social_posts_and_memes(demo: DemoSummary) -> None:
    root = demo.out_dir
    posts = [json.loads(line) for line in (root / "social/posts.jsonl").open(encoding="utf-8")]
    assert len(posts) == demo.social_posts >= 200
    ratings = Counter(p["rating"] for p in posts)
    assert set(ratings) == {None, 1, 2, 3} and 0.35 <= ratings[None] / len(posts) <= 0.65
    assert all((root / p["image"]).exists() for p in posts if p["image"])
    labels = [json.loads(line) for line in (root / "memes/labels.jsonl").open(encoding="utf-8")]
    assert len(labels) == demo.memes >= 20
    assert {m["sentiment"] for m in labels} == {"bullish", "bearish", "neutral"}
    for meme in labels:
        with Image.open(root / meme["file"]) as img:
            assert img.format == "PNG" and img.size == (96, 96)


def test_scale_writer_streams_valid_telegram_json(tmp_path: Path) -> None:
    n = 9_000
    path = write_telegram_export_at_scale(tmp_path / "big" / "result.json", n, seed=3, days=2)
    export = json.loads(path.read_text("utf-8"))
    assert export["type"] == "public_channel" and len(export["messages"]) == n
    assert [m["id"] for m in export["messages"]] == list(range(1, n + 1))
    dates = [m["date"] for m in export["messages"]]
    assert (
        dates == sorted(dates)
        and dates[0].startswith("2026-11-01")
        and dates[-1].startswith("2026-11-02")
    )
    kinds = Counter(m["type"] for m in export["messages"])
    assert kinds["service"] == n // 997
    assert any(isinstance(m.get("text"), list) for m in export["messages"])
    again = write_telegram_export_at_scale(tmp_path / "again.json", n, seed=3, days=2)
    assert again.read_bytes() == path.read_bytes()
    assert (
        len(
            json.loads(write_telegram_export_at_scale(tmp_path / "e.json", 0).read_text())[
                "messages"
            ]
        )
        == 0
    )


# --- signal styles: every style writes exact spans, SIGNAL_NONE states no direction -------------

#: Words and emoji that state a direction; a SIGNAL_NONE message must carry none of them.
_DIRECTION = re.compile(
    r"(?i)(?<![^\W\d_])(?:buy|sell|long|short|bull\w*|bear\w*|лонг|шорт)(?![^\W\d_])"
    r"|[↗↘⬆⬇📈📉🟢🔴🚀🔼🔽]"
)
#: A SIDE entity is one direction word (typos as channels type them: "lnog", "shrot"; Spanish and
#: Portuguese "COMPRA"/"VENTA"/"VENDA"; "Direction: Bullish" cards).
_SIDE_WORD = re.compile(
    r"(?i)buy|sell|long|short|lnog|shrot|лонг|шорт|bullish|bearish|compra\w*|venta|vend\w*"
)
_NEW_CHANNELS = (
    "pip-hunters-fx",
    "xau-sniper-desk",
    "flag-fx-signals",
    "sats-gems",
    "perp-hunters",
)


def _composed(style: str, n: int = 120) -> list[tuple[MessageText, SignalNumbers, bool]]:
    rng = random.Random(f"test/{style}")
    spec = STYLES[style]
    universe = {"btc_alts": "btc_alts", "forex": "forex", "fx_oneliner": "gold"}
    out = []
    for k in range(n):
        numbers = make_signal_numbers(
            rng,
            pick_instrument(rng, universe.get(style, "fx" if style.startswith("fx") else "crypto")),
            k % 4,
            n_entries=rng.choice(spec.entries),
            n_targets=rng.choice(spec.targets),
            leverage=rng.random() < spec.leverage_p,
            sides=spec.sides,
        )
        show = k % 3 != 0
        out.append((spec.compose(numbers, rng, show), numbers, show))
    return out


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_labels_exact_spans(style: str) -> None:
    for body, numbers, show in _composed(style):
        text = body.plain()
        spans = body.spans()
        for span in spans:
            surface = text[span["start"] : span["end"]]
            assert surface and surface == surface.strip(), (style, text, span)
        got = [(lab, to_number(s)) for lab, s in body.labelled() if lab not in ("PAIR", "SIDE")]
        if style == "instant_call" and not got:  # "GOLD BUY NOW": the call alone, no level
            assert show and len(text) <= 60, text
            continue
        want = [("ENTRY", to_number(v)) for v in numbers.entries]
        want += [("TARGET", to_number(v)) for v in numbers.targets]
        want += [("STOP_LOSS", to_number(numbers.stop_loss))]
        want += [("LEVERAGE", float(numbers.leverage))] if numbers.leverage else []
        assert sorted(got) == sorted(want), (style, text)
        labels = [lab for lab, _ in body.labelled()]
        assert "PAIR" in labels, (style, text)
        sides = [s for lab, s in body.labelled() if lab == "SIDE"]
        if show:
            assert len(sides) == 1 and _SIDE_WORD.fullmatch(sides[0]), (style, text)
        else:
            assert not sides and _DIRECTION.search(text) is None, (style, text)


def test_new_styles_write_the_generic_patterns() -> None:
    texts = {s: [b.plain() for b, _, _ in _composed(s)] for s in STYLES}
    patterns = {
        "fx_terse": r"^(?:Buy|BUY|Sell|SELL)[^\n]* [A-Za-z/]{4,7}\n\d[\d.]*\n(?:Sl|SL|sl)",
        "fx_oneliner": r"^\S+ (?:BUY|SELL) (?:NOW @|FROM) [\d.]+ SL =? ?[\d.]+ TP",
        "fx_flags": r"🇺🇸.*[↗↘⬆⬇📈📉].*\n(?:.|\n)*❌(?:Sl|SL|S/L)(?:.|\n)*✅(?:Tp|TP)",
        "fx_multi_tp": r"(?:Take profit|TP|Tp) 1: [\d.]+ \(\+\d+ (?:pips|pts|points)\)",
        "btc_alts": r"#[A-Z]+/BTC (?:buy|Buy|BUY) 0\.0000\d+",
        "perp_direction": r"^(?:Long|Short|LONG|SHORT|long|short) [#$][A-Z]+",
    }
    for style, pattern in patterns.items():
        assert any(re.search(pattern, t) for t in texts[style]), style
    fx = "\n".join(texts["fx_terse"] + texts["fx_flags"] + texts["fx_multi_tp"])
    for marker in ("🇪🇺🇺🇸", "➖➖➖", "☑️", "S/L", "Stop loss", "Take profit 1", "GBPJPY", "US30"):
        assert marker in fx or marker in "\n".join(texts["fx_oneliner"]), marker
    # JPY crosses with 2-3 decimals, other majors 4-5
    assert re.search(r"GBPJPY[^\n]*\n\d{3}\.\d{2,3}\n", fx) or re.search(r"\b19\d\.\d{2,3}\b", fx)
    assert re.search(r"\b[01]\.\d{5}\b", fx) and re.search(r"\b[01]\.\d{4}\b", fx)


def test_new_channels_post_signals_and_lookalikes(answers: list[dict]) -> None:
    by_slug: dict[str, Counter] = {}
    for a in answers:
        by_slug.setdefault(a["export_path"].split("/")[1], Counter())[a["label"]] += 1
    for slug in _NEW_CHANNELS:
        counts = by_slug[slug]
        assert counts["SIGNAL_LONG"] + counts["SIGNAL_SHORT"] > 0 and counts["NON_SIGNAL"] > 0, slug
    pairs = {a["pair"] for a in answers if a["pair"]}
    assert {"GBPJPY", "USDCAD"} & pairs and any(p.endswith("BTC") for p in pairs)
    # NON_SIGNAL look-alikes that name an instrument and give a number: results, stop moves, levels
    pair_re = re.compile(r"(?:EUR|GBP|USD|AUD|NZD|XAU)[A-Z]{3}|GOLD|Gold|US30|NAS100|#?[A-Z]{2,5}/")
    lookalikes = [
        a["text"]
        for a in answers
        if a["label"] == "NON_SIGNAL" and pair_re.search(a["text"]) and re.search(r"\d", a["text"])
    ]
    assert len(lookalikes) >= 80
    joined = "\n".join(a["text"] for a in answers if a["label"] == "NON_SIGNAL")
    for marker in (
        r"\+\d+ pips",
        r"(?i)(?:SL|stop\w*) (?:to|still)",
        r"(?i)support",
        r"\d+ wins \d+ losses",
    ):
        assert re.search(marker, joined), marker


def _without_boilerplate(a: dict) -> str:
    """The text less the channel lines stamped on it ("Expected duration: Short term" is no
    side, but it is a direction word)."""
    text = a["text"]
    for line in a["boilerplate"]:
        text = text.replace(line, "")
    return text


def test_set_ups_without_a_side_word_state_no_direction(answers: list[dict]) -> None:
    """SIGNAL_NONE and level-only longs/shorts: no side word, no directional emoji, beyond the
    channel's boilerplate."""
    quiet = [a for a in answers if a["label"] == "SIGNAL_NONE" or a["side_source"] == "levels"]
    assert {a["label"] for a in quiet} == {"SIGNAL_NONE", "SIGNAL_LONG", "SIGNAL_SHORT"}
    for a in quiet:
        assert _DIRECTION.search(_without_boilerplate(a)) is None, a["text"]
        assert (a["side"] is None) == (a["label"] == "SIGNAL_NONE"), a["text"]


def test_last_market_day_is_another_regime() -> None:
    """The drift report's test case: the last day's volatility and book differ; the others not."""
    import numpy as np

    from trademl.demo.market import simulate

    path, features = simulate("BTCUSDT", seed=7, start_date=datetime(2026, 11, 1).date(), days=3)
    day = 86_400 // 5
    log_ret = np.diff(np.log(path.price))
    vol = [float(np.std(log_ret[k * day : (k + 1) * day - 1])) for k in range(3)]
    depth = [float(np.median(features["depth_ratio"][k * day : (k + 1) * day])) for k in range(3)]
    assert 0.8 < vol[1] / vol[0] < 1.25 and vol[2] / vol[1] > 1.5
    assert all(0.9 < d < 1.1 for d in depth[:2]) and depth[2] > 1.2
    single, _ = simulate("BTCUSDT", seed=7, start_date=datetime(2026, 11, 1).date(), days=1)
    assert 0.8 < np.std(np.diff(np.log(single.price))) / vol[0] < 1.25  # one day: no shift


def test_the_book_leads_reversions_on_every_day() -> None:
    """The gate's signal: a book leaning toward VWAP (parent orders due within the minute) comes
    before a σ-reversion, on the earlier days and on the shifted last day alike; a stretched
    price_dist alone says little."""
    import numpy as np
    import pandas as pd

    from trademl.demo.market import simulate
    from trademl.gate.dataset import LabelSettings, build_gate_dataset
    from trademl.ingest.market import FEATURE_COLUMNS

    path, features = simulate("BTCUSDT", seed=7, start_date=datetime(2026, 11, 1).date(), days=3)
    frame = pd.DataFrame(
        {
            "symbol": "BTCUSDT",
            "timestamp": pd.to_datetime(path.epoch_ms, unit="ms", utc=True),
            **{c: features[c] for c in FEATURE_COLUMNS},
        }
    )
    table, _, _ = build_gate_dataset(frame, LabelSettings())
    last = (table["ts"] >= pd.Timestamp("2026-11-03", tz="UTC")).to_numpy()
    lean = (-np.sign(table["price_dist"]) * np.log(table["depth_ratio"])).to_numpy()
    stretched = (table["price_dist"].abs() > 1.0).to_numpy()
    label = table["label"].to_numpy()
    for part, floor in ((~last, 0.6), (last, 0.45)):
        assert label[part & (lean > 0.6)].mean() > floor
        assert label[part & (lean <= 0.6)].mean() < 0.06
        assert label[part & stretched].mean() < 1.5 * label[part & ~stretched].mean()
