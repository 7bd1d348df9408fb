"""Every ingest reader under the hostile-input contract: any bytes in, every row accounted for."""

import json

from tests.robustness.contracts import ReaderContract, reader_contract_tests
from trademl.ingest.market import (
    FEATURE_COLUMNS,
    ingest_candles,
    ingest_market_features,
    ingest_social_posts,
    read_candles,
    read_market_features,
    read_social_posts,
)
from trademl.ingest.messages import read_csv_messages, read_discord_export, read_telegram_export
from trademl.ingest.sources import ingest_messages

DAY = "2026-11-02"


def _json(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=1).encode()


TELEGRAM = _json(
    {
        "name": "Alpha Signals",
        "type": "public_channel",
        "id": 1_234_567,
        "messages": [
            {"id": 1, "type": "message", "date": f"{DAY}T10:00:00", "date_unixtime": "1793613600",
             "from": "Alpha", "text": "BTCUSDT LONG entry 62,000 TP 63000 SL 61000 🚀"},
            {"id": 2, "type": "message", "date": f"{DAY}T10:05:00", "from": "Alpha",
             "text": ["Short ", {"type": "hashtag", "text": "#ETH"}, " at 3120"],
             "reply_to_message_id": 1},
            {"id": 3, "type": "service", "date": f"{DAY}T10:06:00", "action": "pin_message"},
            {"id": 4, "type": "message", "date": f"{DAY}T23:59:59", "text": "TP1 hit ✅"},
        ],
    }
)  # fmt: skip

DISCORD = _json(
    {
        "guild": {"id": "800", "name": "Desk"},
        "channel": {"id": "810", "type": "GuildTextChat", "name": "calls"},
        "exportedAt": f"{DAY}T23:59:59.000+00:00",
        "messages": [
            {"id": "1312", "type": "Default", "timestamp": f"{DAY}T09:15:02.123+00:00",
             "content": "ETH short 3120, SL 3200", "author": {"id": "9", "name": "bob"}},
            {"id": "1313", "type": "Reply", "timestamp": f"{DAY}T09:16:00+00:00",
             "content": "in at 3118", "author": {"id": "9", "nickname": "Bob"},
             "reference": {"messageId": "1312"}},
        ],
        "messageCount": 2,
    }
)  # fmt: skip

CSV_MESSAGES = (
    "id,date,text,channel,author\n"
    f'1,{DAY}T10:00:00Z,"BTC long 62,000\nsl 61,000",desk,bob\n'
    f"2,{DAY}T10:01:00Z,ETH short 3120,desk,ann\n"
    f"3,{DAY}T11:00:00Z,TP1 hit,desk,bob\n"
).encode()

_FEATURES = [
    {"symbol": "BTCUSDT", "timestamp": f"{DAY}T10:00:0{i}Z", **dict.fromkeys(FEATURE_COLUMNS, 1.5 + i)}
    for i in range(3)
]  # fmt: skip
FEATURES_JSONL = b"".join(_json(r).replace(b"\n", b"") + b"\n" for r in _FEATURES)
FEATURES_CSV = (
    ",".join(["symbol", "timestamp", *FEATURE_COLUMNS])
    + "\n"
    + "".join(",".join(str(r[k]) for k in ["symbol", "timestamp", *FEATURE_COLUMNS]) + "\n" for r in _FEATURES)
).encode()  # fmt: skip

CANDLES = (
    b"open_time,open,high,low,close,volume,close_time,quote_asset_volume,number_of_trades,"
    b"taker_buy_base_volume,taker_buy_quote_volume,ignore\n"
    b"1793613600000,62000,62100,61900,62050,12.5,1793613659999,775000,420,6.1,378000,0\n"
    b"1793613660000,62050,62080,61990,62000,8.25,1793613719999,511000,300,4.0,248000,0\n"
)

POSTS = [
    {"post_id": "p1", "date": f"{DAY}T08:00:00Z", "author": "moon", "title": "BTC to 100k",
     "body": "bullish, 62,000 held", "image": "img/p1.png", "rating": 3},
    {"post_id": "p2", "date": f"{DAY}T09:00:00Z", "author": "bear", "title": "", "body": "dump",
     "rating": "1"},
]  # fmt: skip
POSTS_JSONL = b"".join(json.dumps(p, ensure_ascii=False).encode() + b"\n" for p in POSTS)
POSTS_CSV = (
    "post_id,date,author,title,body,image,rating\n"
    f'p1,{DAY}T08:00:00Z,moon,BTC to 100k,"bullish, 62,000 held",img/p1.png,3\n'
    f"p2,{DAY}T09:00:00Z,bear,,dump,,1\n"
).encode()


CONTRACTS = [
    ReaderContract("telegram", "result.json", read_telegram_export, TELEGRAM, ingest_messages, 4),
    ReaderContract("discord", "desk-calls.json", read_discord_export, DISCORD, ingest_messages, 2),
    ReaderContract("csv_messages", "desk.csv", read_csv_messages, CSV_MESSAGES, ingest_messages, 3),
    ReaderContract(
        "market_features_jsonl",
        "features_btcusdt.jsonl",
        lambda p: read_market_features([p]),
        FEATURES_JSONL,
        ingest_market_features,
        3,
    ),
    ReaderContract(
        "market_features_csv",
        "features_btcusdt.csv",
        lambda p: read_market_features([p]),
        FEATURES_CSV,
        ingest_market_features,
        3,
    ),
    ReaderContract(
        "candles_csv",
        "BTCUSDT-1m-2026-11-02.csv",
        lambda p: read_candles([p]),
        CANDLES,
        ingest_candles,
        2,
    ),
    ReaderContract(
        "social_posts_jsonl",
        "posts.jsonl",
        lambda p: read_social_posts([p]),
        POSTS_JSONL,
        ingest_social_posts,
        2,
    ),
    ReaderContract(
        "social_posts_csv",
        "posts.csv",
        lambda p: read_social_posts([p]),
        POSTS_CSV,
        ingest_social_posts,
        2,
    ),
]

test_reader_any_bytes, test_reader_example = reader_contract_tests(CONTRACTS, max_examples=30)
