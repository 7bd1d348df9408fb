"""Issue 7, part 1: ingest loses nothing and corrupts nothing on odd but real input."""

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trademl import lake as lake_mod
from trademl.errors import InputError
from trademl.ingest.market import (
    FEATURE_COLUMNS,
    ingest_candles,
    ingest_market_features,
    ingest_social_posts,
    read_candles,
    read_market_features,
    read_social_posts,
)
from trademl.ingest.messages import (
    Message,
    read_csv_messages,
    read_discord_export,
    read_telegram_export,
)
from trademl.ingest.records import Quarantined
from trademl.ingest.sources import MessageSources, ingest_messages, iter_messages
from trademl.lake import Lake

DAY = "2026-11-02"


def tg(msg_id, text, date=f"{DAY}T10:00:00", **extra):
    return {"id": msg_id, "type": "message", "date": date, "from": "Alpha", "text": text, **extra}


def write_json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def telegram_export(path, messages, name="Signals", chat_id=42):
    export = {"name": name, "type": "public_channel"}
    if chat_id is not None:
        export["id"] = chat_id
    return write_json(path, {**export, "messages": messages})


def discord_export(path, messages, guild=("1", "Desk"), channel=("2", "calls"), **extra):
    return write_json(
        path,
        {
            "guild": {"id": guild[0], "name": guild[1]},
            "channel": {"id": channel[0], "type": "GuildTextChat", "name": channel[1]},
            **extra,
            "messages": messages,
        },
    )


def dc(msg_id, text, ts=f"{DAY}T09:15:02+00:00"):
    return {"id": msg_id, "timestamp": ts, "content": text, "author": {"name": "bob"}}


def ingest_inbox(inbox, lake, **kwargs):
    return ingest_messages(iter_messages(MessageSources(inbox=str(inbox), **kwargs)), lake)


def no_leftovers(root):
    return [
        p for p in root.rglob("*") if p.is_file() and (p.name.startswith(".") or ".tmp" in p.name)
    ]


def accounted(stats):
    for day in stats.partitions.values():
        assert day.rows_in == day.accepted + day.quarantined + day.duplicates


# --- 1. channel identity is the source's stable id ------------------------------------------------


def test_two_telegram_chats_with_one_name_are_two_channels(tmp_path):
    inbox = tmp_path / "inbox"
    msgs = [tg(1, "BTC long 62000"), tg(2, "ETH short 3100")]
    telegram_export(inbox / "telegram" / "a" / "result.json", msgs, name="Signals", chat_id=1001)
    telegram_export(inbox / "telegram" / "b" / "result.json", msgs, name="Signals", chat_id=2002)
    lake = Lake(tmp_path / "lake")
    stats = ingest_inbox(inbox, lake)
    day = stats.partitions[DAY]
    assert (day.accepted, day.duplicates) == (4, 0)
    table = pq.read_table(lake.raw("raw_messages", DAY)).to_pylist()
    assert sorted({(r["channel"], r["channel_name"]) for r in table}) == [
        ("1001", "Signals"),
        ("2002", "Signals"),
    ]


def test_a_renamed_chat_keeps_its_identity_and_the_newest_name(tmp_path):
    inbox = tmp_path / "inbox"
    old = telegram_export(
        inbox / "telegram" / "old" / "result.json", [tg(1, "a"), tg(2, "b")], name="Alpha"
    )
    new = telegram_export(
        inbox / "telegram" / "new" / "result.json", [tg(2, "b"), tg(3, "c")], name="Alpha VIP"
    )
    os.utime(old, (1_700_000_000, 1_700_000_000))
    os.utime(new, (1_800_000_000, 1_800_000_000))
    lake = Lake(tmp_path / "lake")
    day = ingest_inbox(inbox, lake).partitions[DAY]
    assert (day.accepted, day.duplicates) == (3, 1)
    rows = pq.read_table(lake.raw("raw_messages", DAY)).to_pylist()
    assert {(r["channel"], r["channel_name"]) for r in rows} == {("42", "Alpha VIP")}


def test_discord_channels_are_guild_and_channel_ids(tmp_path):
    inbox = tmp_path / "inbox"
    discord_export(inbox / "discord" / "a.json", [dc("10", "hi")], channel=("2", "calls"))
    discord_export(inbox / "discord" / "b.json", [dc("10", "hi")], channel=("3", "calls"))
    lake = Lake(tmp_path / "lake")
    assert ingest_inbox(inbox, lake).partitions[DAY].accepted == 2
    rows = list(read_discord_export(inbox / "discord" / "a.json"))
    assert (rows[0].channel, rows[0].channel_name) == ("1/2", "Desk/calls")


def test_an_export_without_an_id_falls_back_to_the_name(tmp_path):
    path = telegram_export(tmp_path / "result.json", [tg(1, "x")], name="Beta", chat_id=None)
    (row,) = read_telegram_export(path)
    assert (row.channel, row.channel_name) == ("Beta", "Beta")


# --- 2. CSV rows with the wrong number of fields, long fields ------------------------------------


def test_csv_row_with_an_unquoted_comma_is_quarantined_with_its_line(tmp_path):
    path = tmp_path / "desk.csv"
    path.write_text(
        "id,date,text,author\n"
        f'1,{DAY}T10:00:00Z,"BTC long\nentry 62,000\nsl 61,000",bob\n'
        f"2,{DAY}T10:01:00Z,BTC long 62,000,bob\n"
        f"3,{DAY}T10:02:00Z,short\n"
        f"4,{DAY}T10:03:00Z,fine,ann\n",
        encoding="utf-8",
    )
    rows = list(read_csv_messages(path))
    assert isinstance(rows[0], Message) and rows[0].text == "BTC long\nentry 62,000\nsl 61,000"
    bad = [r for r in rows if isinstance(r, Quarantined)]
    assert [(r.origin, r.row_id, r.date) for r in bad] == [
        (f"{path}:5", "2", DAY),
        (f"{path}:6", "3", DAY),
    ]
    assert "5 fields" in bad[0].reason and "header has 4" in bad[0].reason
    assert "3 fields" in bad[1].reason
    assert isinstance(rows[-1], Message) and rows[-1].message_id == "4"


def test_csv_field_over_the_csv_default_limit_is_read(tmp_path):
    path = tmp_path / "desk.csv"
    long_text = "x" * 200_000
    path.write_text(f"id,date,text\n1,{DAY}T10:00:00Z,{long_text}\n", encoding="utf-8")
    (row,) = read_csv_messages(path)
    assert isinstance(row, Message) and row.text == long_text


@pytest.mark.parametrize("quoted", [False, True])
def test_csv_text_over_the_maximum_is_quarantined_and_reading_goes_on(tmp_path, quoted):
    path = tmp_path / "desk.csv"
    long_text = "y" * 1_000 + ("\nmore, lines\n" + "z" * 500 if quoted else "")
    field = f'"{long_text}"' if quoted else long_text
    path.write_text(
        f"id,date,text\n1,{DAY}T10:00:00Z,{field}\n2,{DAY}T10:01:00Z,after\n", encoding="utf-8"
    )
    rows = list(read_csv_messages(path, max_message_chars=500))
    assert isinstance(rows[0], Quarantined) and rows[0].origin == f"{path}:2"
    assert "longer than" in rows[0].reason and "500" in rows[0].reason
    assert rows[1:] == [rows[1]] and isinstance(rows[1], Message) and rows[1].text == "after"
    last_line = 5 if quoted else 3
    assert rows[1].origin == f"{path}:{last_line}"


def test_max_message_chars_is_threaded_from_message_sources(tmp_path):
    inbox = tmp_path / "inbox"
    telegram_export(inbox / "telegram" / "a" / "result.json", [tg(1, "x" * 50), tg(2, "ok")])
    lake = Lake(tmp_path / "lake")
    stats = ingest_inbox(inbox, lake, max_message_chars=20)
    day = stats.partitions[DAY]
    assert (day.accepted, day.quarantined) == (1, 1)
    assert any("longer than" in r for r in stats.reasons)


# --- 3. invalid Unicode --------------------------------------------------------------------------


def test_invalid_utf8_lone_surrogates_and_nul_are_repaired_and_counted(tmp_path):
    inbox = tmp_path / "inbox"
    path = inbox / "telegram" / "a" / "result.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(
        b'{"name": "S", "id": 7, "messages": ['
        b'{"id": 1, "type": "message", "date": "2026-11-02T10:00:00", "text": "BTC \xff long"},'
        b'{"id": 2, "type": "message", "date": "2026-11-02T10:00:00", "text": "lone \\ud800 here"},'
        b'{"id": 3, "type": "message", "date": "2026-11-02T10:00:00", "text": "nul\\u0000byte"},'
        b'{"id": 4, "type": "message", "date": "2026-11-02T10:00:00", "text": 5, "x": "\\udc00"}'
        b"]}"
    )
    lake = Lake(tmp_path / "lake")
    stats = ingest_inbox(inbox, lake)
    day = stats.partitions[DAY]
    assert (day.accepted, day.quarantined) == (3, 1)
    assert day.repaired_unicode == 4
    texts = pq.read_table(lake.raw("raw_messages", DAY)).column("text").to_pylist()
    assert texts == ["BTC \ufffd long", "lone \ufffd here", "nulbyte"]
    raw = pq.read_table(lake.quarantine("raw_messages", DAY)).column("raw").to_pylist()
    assert "\ufffd" in raw[0]
    assert not no_leftovers(tmp_path / "lake")


def _two_day_rows():
    return [
        Message("csv", "c", "1", 1793613600.0, "day one", None, None),
        Message("csv", "c", "2", 1793613600.0 + 86400, "day two", None, None),
        Message("csv", "c", "3", 1793613600.0 + 2 * 86400, "day three", None, None),
    ]


def test_a_failing_rename_leaves_no_temp_file(tmp_path, monkeypatch):
    lake = Lake(tmp_path / "lake")
    real_replace = os.replace
    calls = []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(lake_mod.os, "replace", flaky_replace)  # how a partition lands
    with pytest.raises(OSError):
        ingest_messages(iter(_two_day_rows()), lake)
    assert not no_leftovers(tmp_path / "lake")


def test_a_failing_finish_of_one_partition_removes_every_temp_file(tmp_path, monkeypatch):
    lake = Lake(tmp_path / "lake")
    real_close = pq.ParquetWriter.close
    closed = []

    def flaky_close(self):
        real_close(self)
        closed.append(self)
        if len(closed) == 1:
            raise OSError(5, "I/O error")

    monkeypatch.setattr(pq.ParquetWriter, "close", flaky_close)
    with pytest.raises(OSError):
        ingest_messages(iter(_two_day_rows()), lake)
    assert not no_leftovers(tmp_path / "lake")
    assert lake.partitions("raw", "raw_messages") == []  # all or nothing


def test_market_readers_repair_invalid_utf8(tmp_path):
    feats = tmp_path / "features_btcusdt.jsonl"
    good = {
        "symbol": "BTC\xe9",
        "timestamp": f"{DAY}T10:00:00Z",
        **dict.fromkeys(FEATURE_COLUMNS, 1.0),
    }
    line = json.dumps(good, ensure_ascii=False).encode().replace("é".encode(), b"\xe9")
    feats.write_bytes(line + b"\n")
    rows = list(read_market_features([feats]))
    assert rows[0].symbol == "BTC\ufffd" and rows[0].repaired == 1
    stats = ingest_market_features(iter(rows), Lake(tmp_path / "lake"))
    assert stats.partitions[DAY].repaired_unicode == 1

    csv_feats = tmp_path / "features_ethusdt.csv"
    cols = ",".join(good)
    csv_feats.write_bytes(f"{cols}\nETH\xff,{DAY}T10:00:00Z,1,1,1,1,1,1,1,1\n".encode("latin-1"))
    (row,) = read_market_features([csv_feats])
    assert row.symbol == "ETH\ufffd"

    kl = tmp_path / "BTCUSDT-1m-2026-11-02.csv"
    kl.write_bytes(b"1793613600000,1,2,0.5,1.5,10,1793613659999,1,3,1,1,0\xff\n")
    (candle,) = read_candles([kl])
    assert candle.repaired == 1
    ingest_candles(iter([candle]), Lake(tmp_path / "lake"))

    posts = tmp_path / "posts.jsonl"
    posts.write_bytes(
        b'{"post_id": "p1", "date": "2026-11-02T10:00:00Z", "title": "moon \xf0\x9f", "body": "x\\u0000y"}\n'
    )
    (post,) = read_social_posts([posts])
    assert post.title == "moon \ufffd" and post.body == "xy" and post.repaired == 2
    stats = ingest_social_posts(iter([post]), Lake(tmp_path / "lake"))
    assert stats.partitions[DAY].repaired_unicode == 2


# --- 4. every row in its own day, conflicts kept, trailing data refused ---------------------------


def test_quarantines_with_a_readable_date_count_on_their_day(tmp_path):
    path = telegram_export(
        tmp_path / "result.json",
        [
            {"id": 1, "type": "poll", "date": f"{DAY}T10:00:00"},
            {"id": [1], "type": "message", "date": f"{DAY}T10:00:00", "text": "x"},
            tg(3, {"bad": 1}),
            "not an object",
            tg(5, "x", date="garbage"),
        ],
    )
    days = [(r.row_id, r.date) for r in read_telegram_export(path)]
    assert days == [("1", DAY), ("[1]", DAY), ("3", DAY), (None, None), ("5", None)]

    disc = discord_export(
        tmp_path / "d.json",
        [{"timestamp": f"{DAY}T09:00:00+00:00", "content": "x"}, {**dc("2", 5)}],
    )
    assert [r.date for r in read_discord_export(disc)] == [DAY, DAY]

    csv_path = tmp_path / "desk.csv"
    csv_path.write_text(f"id,date,text\n,{DAY}T10:00:00Z,hello\n", encoding="utf-8")
    assert [r.date for r in read_csv_messages(csv_path)] == [DAY]

    kl = tmp_path / "BTCUSDT-1m-2026-11-02.csv"
    kl.write_text("1793613600000,1,2,0.5\n", encoding="utf-8")
    assert [r.date for r in read_candles([kl])] == [DAY]

    posts = tmp_path / "posts.jsonl"
    posts.write_text(json.dumps({"date": f"{DAY}T10:00:00Z", "title": "t"}) + "\n")
    assert [r.date for r in read_social_posts([posts])] == [DAY]


def test_a_conflicting_duplicate_is_quarantined_with_both_texts(tmp_path):
    inbox = tmp_path / "inbox"
    telegram_export(
        inbox / "telegram" / "a" / "result.json",
        [tg(1, "BTC long 62000"), tg(1, "BTC long 62000"), tg(1, "BTC long 63000 (edited)")],
    )
    lake = Lake(tmp_path / "lake")
    stats = ingest_inbox(inbox, lake)
    day = stats.partitions[DAY]
    assert (day.rows_in, day.accepted, day.duplicates, day.quarantined) == (3, 1, 1, 1)
    (q,) = pq.read_table(lake.quarantine("raw_messages", DAY)).to_pylist()
    assert q["reason"] == "conflicting duplicate of telegram/42/1"
    assert "BTC long 62000" in q["raw"] and "BTC long 63000 (edited)" in q["raw"]
    assert pq.read_table(lake.raw("raw_messages", DAY)).column("text").to_pylist() == [
        "BTC long 62000"
    ]


def test_a_repeated_conflicting_duplicate_is_a_duplicate_of_the_quarantined_one(tmp_path):
    rows = [
        Message("csv", "c", "1", 1793613600.0, "first", None, None),
        Message("csv", "c", "1", 1793613600.0, "second", None, None),
        Message("csv", "c", "1", 1793613600.0, "second", None, None),
    ]
    stats = ingest_messages(iter(rows), Lake(tmp_path / "lake"))
    day = stats.partitions[DAY]
    assert (day.accepted, day.quarantined, day.duplicates) == (1, 1, 1)


@pytest.mark.parametrize(
    ("tail", "offset_of"),
    [
        ('{"name": "again", "messages": []}', "{"),
        ("garbage", "g"),
    ],
)
def test_data_after_the_top_level_object_is_an_error(tmp_path, tail, offset_of):
    path = tmp_path / "result.json"
    body = json.dumps({"name": "S", "id": 1, "messages": [tg(1, "x")]})
    path.write_text(body + "\n" + tail, encoding="utf-8")
    with pytest.raises(InputError) as err:
        list(read_telegram_export(path))
    message = str(err.value)
    assert str(path) in message and f"character {len(body) + 1}" in message
    assert "after the top-level object" in message


def test_a_second_messages_array_is_an_error(tmp_path):
    path = tmp_path / "result.json"
    path.write_text('{"id": 1, "messages": [], "messages": []}', encoding="utf-8")
    with pytest.raises(InputError, match="second 'messages' array"):
        list(read_telegram_export(path))


def test_service_messages_are_counted_as_skipped(tmp_path):
    inbox = tmp_path / "inbox"
    telegram_export(
        inbox / "telegram" / "a" / "result.json",
        [
            tg(1, "hello"),
            {"id": 2, "type": "service", "date": f"{DAY}T10:00:00", "action": "pin_message"},
            {"id": 3, "type": "service", "date": "bad", "action": "pin_message"},
        ],
    )
    stats = ingest_inbox(inbox, Lake(tmp_path / "lake"))
    day = stats.partitions[DAY]
    assert (day.rows_in, day.accepted, day.skipped) == (1, 1, 1)
    assert stats.skipped == 2
    accounted(stats)


def test_every_row_is_accounted_for_on_its_day(tmp_path):
    inbox = tmp_path / "inbox"
    telegram_export(
        inbox / "telegram" / "a" / "result.json",
        [
            tg(1, "a"),
            tg(1, "a"),
            tg(1, "b"),
            tg(2, ""),
            {"id": 3, "type": "x", "date": f"{DAY}T10:00:00"},
        ],
    )
    lake = Lake(tmp_path / "lake")
    stats = ingest_inbox(inbox, lake)
    accounted(stats)
    day = stats.partitions[DAY]
    assert day.rows_in == 5
    assert pq.read_table(lake.quarantine("raw_messages", DAY)).num_rows == day.quarantined == 3


# --- 5. decoding errors name the file and the line or offset -------------------------------------


def test_a_csv_that_is_not_utf8_names_the_file_and_line(tmp_path):
    path = tmp_path / "desk.csv"
    lines = ["id,date,text"] + [f"{i},{DAY}T10:00:00Z,café crème n°{i}" for i in range(40)]
    path.write_bytes("\n".join(lines).encode("cp1252"))
    with pytest.raises(InputError) as err:
        list(read_csv_messages(path))
    assert str(path) in str(err.value) and "line 2" in str(err.value)
    assert "UTF-8" in str(err.value)


def test_a_csv_header_that_is_not_utf8_is_an_error(tmp_path):
    path = tmp_path / "desk.csv"
    path.write_bytes("id,date,texte_é\n".encode("latin-1"))
    with pytest.raises(InputError, match="line 1"):
        list(read_csv_messages(path))


def test_a_utf16_csv_is_an_error(tmp_path):
    path = tmp_path / "desk.csv"
    path.write_text(f"id,date,text\n1,{DAY}T10:00:00Z,hi\n", encoding="utf-16")
    with pytest.raises(InputError, match="UTF-16"):
        list(read_csv_messages(path))


def test_a_few_bad_bytes_in_a_csv_are_repaired(tmp_path):
    path = tmp_path / "desk.csv"
    path.write_bytes(f"id,date,text\n1,{DAY}T10:00:00Z,BTC \xff long\n".encode("latin-1"))
    (row,) = read_csv_messages(path)
    assert row.text == "BTC \ufffd long" and row.repaired == 1


def test_invalid_utf8_in_json_structure_names_the_offset(tmp_path):
    path = tmp_path / "result.json"
    path.write_bytes(b'{"name": "S", "messages": [\xff]}')
    with pytest.raises(InputError) as err:
        list(read_telegram_export(path))
    assert str(path) in str(err.value) and "character 27" in str(err.value)
    assert "UTF-8" in str(err.value)


def test_a_jsonl_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "posts.jsonl"
    lines = [
        json.dumps({"post_id": i, "date": f"{DAY}T10:00:00Z", "title": "crème"}, ensure_ascii=False)
        for i in range(30)
    ]
    path.write_bytes("\n".join(lines).encode("cp1252"))
    with pytest.raises(InputError) as err:
        list(read_social_posts([path]))
    assert str(path) in str(err.value) and "line 1" in str(err.value)


def test_a_corrupt_parquet_names_the_file(tmp_path):
    path = tmp_path / "posts.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError) as err:
        list(read_social_posts([path]))
    assert str(path) in str(err.value)


def test_sqlite_text_that_is_not_utf8_is_repaired_not_fatal(tmp_path):
    import sqlite3

    from trademl.ingest.messages import read_sql_messages

    db = tmp_path / "store.sqlite"
    con = sqlite3.connect(db)
    con.execute("create table messages (channel text, message_id text, date text, text text)")
    con.executemany(
        "insert into messages values ('c', ?, ?, CAST(? AS TEXT))",
        [("1", f"{DAY} 10:00:00", b"BTC \xff long"), ("2", f"{DAY} 10:01:00", b"fine")],
    )
    con.commit()
    con.close()
    rows = list(read_sql_messages(f"sqlite:///{db}"))
    assert [(r.text, r.repaired) for r in rows] == [("BTC \ufffd long", 1), ("fine", 0)]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet='ab,"\n\r', max_size=60), st.integers(1, 6))
def test_csv_records_resume_after_a_long_field_exactly_where_csv_would(text, limit):
    """With a small field limit, every record the csv module reads whose fields fit comes back
    unchanged, and every other one comes back as too long, both at the csv module's line."""
    import csv
    import io

    from trademl.ingest.decoding import csv_records

    expected = []
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    for fields in reader:
        if fields and max(map(len, fields)) > limit:
            expected.append((None, start))  # reported even when blank: it is not empty
        elif len(fields) > 1 or (fields and fields[0].strip()):
            expected.append((fields, start))
        start = reader.line_num + 1
    got = [
        (rec.fields, rec.line)
        for rec in csv_records(Path("t.csv"), io.BytesIO(text.encode()), limit)
    ]
    assert got == expected
