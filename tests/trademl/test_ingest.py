import json
import sqlite3

import pyarrow.parquet as pq
import pytest

from trademl.errors import InputError
from trademl.ingest.messages import (
    Message,
    read_csv_messages,
    read_discord_export,
    read_sql_messages,
    read_telegram_export,
)
from trademl.ingest.records import Quarantined, Skipped
from trademl.ingest.sources import MessageSources, ingest_messages, iter_messages
from trademl.lake import Lake


def telegram_export(path, messages, name="Alpha Signals"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {"name": name, "type": "public_channel", "id": 42, "messages": messages}, indent=1
        ),
        encoding="utf-8",
    )
    return path


def tg(msg_id, text, date="2026-11-02T10:00:00", **extra):
    return {"id": msg_id, "type": "message", "date": date, "from": "Alpha", "text": text, **extra}


def test_telegram_text_as_string_and_as_entity_list(tmp_path):
    path = telegram_export(
        tmp_path / "result.json",
        [
            tg(1, "plain text"),
            tg(
                2,
                [
                    "Long ",
                    {"type": "hashtag", "text": "#BTCUSDT"},
                    " now ",
                    {"type": "bold", "text": "62000"},
                ],
            ),
            {"id": 3, "type": "service", "date": "2026-11-02T10:00:00", "action": "pin_message"},
        ],
    )
    rows = list(read_telegram_export(path))
    messages = [r for r in rows if isinstance(r, Message)]
    assert [r.text for r in messages] == ["plain text", "Long #BTCUSDT now 62000"]
    # The channel is the chat's stable id; its display name rides along.
    assert all((r.channel, r.channel_name) == ("42", "Alpha Signals") for r in messages)
    assert [(r.row_id, r.reason, r.date) for r in rows if isinstance(r, Skipped)] == [
        ("3", "service message", "2026-11-02")
    ]


def test_telegram_bad_rows_are_quarantined_with_reasons(tmp_path):
    path = telegram_export(
        tmp_path / "result.json",
        [
            tg(1, "ok"),
            tg(2, ""),
            tg(3, "x", date="not a date"),
            {"id": 4, "type": "poll"},
            tg(5, 12),
        ],
    )
    rows = list(read_telegram_export(path))
    reasons = {r.row_id: r.reason for r in rows if isinstance(r, Quarantined)}
    assert reasons == {
        "2": "no text",
        "3": "unparseable date",
        "4": "unknown message type 'poll'",
        "5": "text has the wrong type",
    }
    assert all(str(path) == r.origin for r in rows if isinstance(r, Quarantined))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"name": "x", "messages": [{"id": 1, "type": "message", "te', "invalid JSON"),
        ('[{"id": 1}]', "expected a JSON object at the top level"),
        ('{"name": "x", "chats": []}', "no top-level 'messages' array"),
        ('{"name": "x", "messages": {"id": 1}}', "'messages' must be an array"),
    ],
)
def test_malformed_export_names_the_file(tmp_path, content, problem):
    path = tmp_path / "result.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as err:
        list(read_telegram_export(path))
    assert str(path) in str(err.value) and problem in str(err.value)


def test_discord_export(tmp_path):
    path = tmp_path / "guild-signals.json"
    path.write_text(
        json.dumps(
            {
                "guild": {"id": "1", "name": "Desk"},
                "channel": {"id": "2", "type": "GuildTextChat", "name": "calls"},
                "messages": [
                    {
                        "id": "1312",
                        "type": "Default",
                        "timestamp": "2026-11-03T09:15:02.123+00:00",
                        "content": "ETH short 3120",
                        "author": {"id": "9", "name": "bob", "nickname": "Bob"},
                    },
                    {
                        "id": "1313",
                        "type": "Default",
                        "timestamp": "2026-11-03T09:16:00+00:00",
                        "content": "  ",
                        "author": {"id": "9", "name": "bob"},
                    },
                ],
                "messageCount": 2,
            }
        ),
        encoding="utf-8",
    )
    rows = list(read_discord_export(path))
    assert rows[0] == Message(
        "discord", "1/2", "1312", rows[0].ts, "ETH short 3120", "Bob", None, "Desk/calls", str(path)
    )
    assert (
        isinstance(rows[1], Quarantined)
        and rows[1].reason == "no text"
        and rows[1].date == "2026-11-03"
    )


def test_csv_needs_named_columns(tmp_path):
    good = tmp_path / "desk.csv"
    good.write_text("id,date,text\n1,2026-11-02T10:00:00Z,hello\n2,,no date\n", encoding="utf-8")
    rows = list(read_csv_messages(good))
    assert isinstance(rows[0], Message) and rows[0].channel == "desk"
    assert isinstance(rows[1], Quarantined) and rows[1].reason == "unparseable date"
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="no id column"):
        list(read_csv_messages(bad))


def test_sql_source_sqlite(tmp_path):
    db = tmp_path / "store.sqlite"
    con = sqlite3.connect(db)
    con.execute(
        "create table messages (id integer primary key, channel text, message_id text, date text, text text)"
    )
    con.executemany(
        "insert into messages (channel, message_id, date, text) values (?, ?, ?, ?)",
        [
            ("c", "a1", "2026-11-02 10:00:00", "hello"),
            ("c", "a2", "garbage", "x"),
            ("c", "a3", "2026-11-02", None),
        ],
    )
    con.commit()
    con.close()
    rows = list(read_sql_messages(f"sqlite:///{db}"))
    assert [type(r).__name__ for r in rows] == ["Message", "Quarantined", "Quarantined"]
    with pytest.raises(InputError, match="no table 'nope'"):
        list(read_sql_messages(f"sqlite:///{db}", "nope"))
    with pytest.raises(InputError, match="does not exist"):
        list(read_sql_messages(f"sqlite:///{tmp_path}/missing.sqlite"))


def test_unreachable_database_names_the_url_without_password():
    with pytest.raises(InputError) as err:
        list(read_sql_messages("postgresql+psycopg2://desk:s3cret@127.0.0.1:1/nowhere"))
    assert "127.0.0.1:1/nowhere" in str(err.value) and "s3cret" not in str(err.value)


def test_missing_inbox_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="inbox folder does not exist"):
        list(iter_messages(MessageSources(inbox=str(tmp_path / "nope"))))


def test_ingest_dedups_counts_and_partitions(tmp_path):
    inbox = tmp_path / "inbox"
    telegram_export(
        inbox / "telegram" / "alpha" / "result.json",
        [tg(1, "a", date="2026-11-01T23:59:59"), tg(2, "b"), tg(2, "b"), tg(3, "")],
    )
    lake = Lake(tmp_path / "lake")
    stats = ingest_messages(iter_messages(MessageSources(inbox=str(inbox))), lake)
    day = stats.partitions["2026-11-02"]
    assert (day.rows_in, day.accepted, day.quarantined, day.duplicates) == (3, 1, 1, 1)
    assert stats.partitions["2026-11-01"].accepted == 1
    table = pq.read_table(lake.raw("raw_messages", "2026-11-02"))
    assert table.column("text").to_pylist() == ["b"]
    quarantine = pq.read_table(lake.quarantine("raw_messages", "2026-11-02"))
    assert quarantine.column("reason").to_pylist() == ["no text"]
    assert lake.partitions("raw", "raw_messages") == ["2026-11-01", "2026-11-02"]


def test_rerun_replaces_partition_atomically_and_failure_keeps_old(tmp_path):
    lake = Lake(tmp_path / "lake")
    first = [Message("csv", "c", str(i), 1793613600.0, f"m{i}", None, None) for i in range(5)]
    ingest_messages(iter(first), lake, partitions=["2026-11-02"])
    path = lake.raw("raw_messages", "2026-11-02")
    assert pq.read_table(path).num_rows == 5

    def exploding():
        yield first[0]
        raise RuntimeError("source died mid-way")

    with pytest.raises(RuntimeError):
        ingest_messages(exploding(), lake, partitions=["2026-11-02"])
    assert pq.read_table(path).num_rows == 5  # the old partition is intact
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp left behind

    ingest_messages(iter(first[:2]), lake, partitions=["2026-11-02"])
    assert pq.read_table(path).num_rows == 2
    # A partition requested but with no rows becomes an empty partition, not a stale one.
    ingest_messages(iter([]), lake, partitions=["2026-11-02"])
    assert pq.read_table(path).num_rows == 0
