"""One big Telegram Desktop ``result.json`` for ingest benchmarks, written message by message.

Composing every message from scratch costs ~50 µs; a million would take close to a minute. So a
pool of a few thousand composed message bodies is serialised once, and each written message is an
id, a date and one pool body: memory stays flat and a million messages take seconds.
"""

from __future__ import annotations

import calendar
import json
import random
import time
from datetime import date
from pathlib import Path

from trademl.demo.channels import CHANNELS, compose, day_quota
from trademl.demo.files import atomic_open

BENCH_CHANNEL_NAME = "Signal Firehose (benchmark)"
BENCH_CHANNEL_ID = 1_777_000_001
_POOL_SIZE = 4_096
_CHUNK = 4_096  # messages joined per write


_ID_MARK = "@@MSGID@@"


def _body_pool(rng: random.Random, size: int, days: int, unique: bool) -> list[str]:
    """Serialised ``"from" ... "text_entities"`` tails, indented as inside the messages list.

    With ``unique`` every text ends in a per-message tag (`` #m<id>``, filled in at write time) so
    that no two messages share a text, as de-duplicating exporters would otherwise see 4,096 texts.
    """
    channels = [c for c in CHANNELS if c.platform == "telegram"]
    kinds = day_quota(100)
    pool = []
    for k in range(size):
        channel = channels[k % len(channels)]
        body, _, _ = compose(rng, channel, rng.choice(kinds), k % max(days, 1), None)
        text, entities = body.telegram()
        if unique:
            tag = f" #m{_ID_MARK}"
            text = text + tag if isinstance(text, str) else [*text, tag]
            entities = [*entities, {"type": "plain", "text": tag}]
        tail = {
            "from": BENCH_CHANNEL_NAME,
            "from_id": f"channel{BENCH_CHANNEL_ID}",
            "text": text,
            "text_entities": entities,
        }
        lines = json.dumps(tail, ensure_ascii=False, indent=1).split("\n")[1:-1]
        pool.append("\n".join("  " + line for line in lines))
    return pool


def write_telegram_export_at_scale(
    path: str | Path,
    n_messages: int,
    *,
    seed: int = 7,
    start_date: date = date(2026, 11, 1),
    days: int = 4,
    unique_texts: bool = True,
) -> Path:
    """Write a Telegram export of ``n_messages`` messages spread evenly over ``days`` days.

    About one message in a thousand is a ``pin_message`` service message, as in real channels.
    """
    path = Path(path)
    rng = random.Random(f"{seed}/scale")
    pool = _body_pool(rng, min(_POOL_SIZE, max(n_messages, 1)), days, unique_texts)
    picks = [rng.randrange(len(pool)) for _ in range(min(n_messages, 65_536))]
    start = calendar.timegm(start_date.timetuple())
    span = days * 86_400
    name = json.dumps(BENCH_CHANNEL_NAME)
    head = f'{{\n "name": {name},\n "type": "public_channel",\n "id": {BENCH_CHANNEL_ID},\n'
    actor = f',\n   "actor": {name},\n   "actor_id": "channel{BENCH_CHANNEL_ID}",\n'
    service_tail = ',\n   "text": "",\n   "text_entities": []\n  }'
    with atomic_open(path) as fh:
        fh.write(head + ' "messages": [')
        chunk: list[str] = []
        for i in range(n_messages):
            msg_id = i + 1
            ts = start + i * span // max(n_messages, 1)
            t = time.gmtime(ts)
            stamp = f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}T{t[3]:02d}:{t[4]:02d}:{t[5]:02d}"
            kind = "service" if msg_id % 997 == 0 else "message"
            prefix = (
                f'\n  {{\n   "id": {msg_id},\n   "type": "{kind}",\n   "date": "{stamp}",\n'
                f'   "date_unixtime": "{ts}"'
            )
            if kind == "service":
                pinned = f'   "action": "pin_message",\n   "message_id": {msg_id - 1}'
                chunk.append(prefix + actor + pinned + service_tail)
            else:
                body = pool[picks[i % len(picks)]]
                if unique_texts:
                    body = body.replace(_ID_MARK, str(msg_id))
                chunk.append(prefix + ",\n" + body + "\n  }")
            if len(chunk) == _CHUNK:
                fh.write(("," if i >= _CHUNK else "") + ",".join(chunk))
                chunk = []
        if chunk:
            fh.write(("," if n_messages > len(chunk) else "") + ",".join(chunk))
        fh.write("\n ]\n}\n")
    return path
