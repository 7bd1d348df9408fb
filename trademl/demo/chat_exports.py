"""Chat exports as desks have them: Telegram Desktop ``result.json`` and DiscordChatExporter JSON.

Each writer also returns the answers (gold) lines for the messages it wrote, computed from the
same composed text, so spans are exact for the rendering the ingester will read.
"""

from __future__ import annotations

import calendar
import json
import zlib
from datetime import datetime
from pathlib import Path

from trademl.demo.channels import SETUP_KINDS, Channel, ChatMessage, gold_fields
from trademl.demo.files import atomic_open
from trademl.demo.markup import plain_from_telegram

#: Discord's epoch, for snowflake ids.
_DISCORD_EPOCH_MS = 1_420_070_400_000
#: What the corrupted date of a defective message looks like (November has 30 days).
BAD_DATE = "2026-11-31T25:61:00"


def telegram_channel_id(channel: Channel) -> int:
    return 1_000_000_000 + zlib.crc32(channel.slug.encode()) % 900_000_000


def telegram_date(when: datetime) -> tuple[str, str]:
    """Telegram's ``date`` (local time, no zone; UTC here) and ``date_unixtime`` (a string)."""
    return when.strftime("%Y-%m-%dT%H:%M:%S"), str(calendar.timegm(when.utctimetuple()))


def telegram_message(msg: ChatMessage, channel: Channel, photo_no: int) -> dict:
    """One message object, keys in the order Telegram Desktop writes them."""
    chan_id = telegram_channel_id(channel)
    date_s, unix_s = telegram_date(msg.when)
    if msg.defect == "unparseable_date":
        date_s, unix_s = BAD_DATE, ""
    out: dict = {
        "id": msg.msg_id,
        "type": "service" if msg.kind == "service" else "message",
        "date": date_s,
        "date_unixtime": unix_s,
    }
    if msg.kind == "service":
        out |= {
            "actor": channel.name,
            "actor_id": f"channel{chan_id}",
            "action": "pin_message",
            "message_id": msg.pinned_id,
            "text": "",
            "text_entities": [],
        }
        return out
    if msg.edited:
        out["edited"], out["edited_unixtime"] = telegram_date(msg.edited)
    out |= {"from": channel.name, "from_id": f"channel{chan_id}"}
    if msg.reply_to:
        out["reply_to_message_id"] = msg.reply_to
    if msg.photo:
        stamp = msg.when.strftime("%d-%m-%Y_%H-%M-%S")
        out |= {
            "photo": f"photos/photo_{photo_no}@{stamp}.jpg",
            "photo_file_size": 48_000 + 97 * photo_no,
            "width": 1280,
            "height": 720,
        }
    text, entities = msg.body.telegram()
    out |= {"text": text, "text_entities": entities}
    return out


def _answer(
    source: str,
    channel_name: str,
    channel_id: str,
    path: str,
    msg: ChatMessage,
    date_s: str | None,
    text: str,
    spans: list[dict],
) -> dict:
    fields = gold_fields(msg)
    has_fields = msg.kind in SETUP_KINDS
    return {
        "source": source,
        "channel": channel_name,
        "channel_id": channel_id,
        "export_path": path,
        "message_id": str(msg.msg_id),
        "date": date_s,
        "text": text,
        "label": msg.label,
        **fields,
        "side_source": msg.side_source,
        "entities": spans if has_fields else [],
        "defect": msg.defect,
        # not gold fields: what wrote the message, and the channel lines stamped on it
        "kind": msg.kind,
        "layout": msg.layout,
        "boilerplate": list(msg.boilerplate),
    }


def write_telegram_export(
    out_dir: Path, channel: Channel, messages: list[ChatMessage]
) -> tuple[Path, list[dict]]:
    """``telegram/<slug>/result.json`` and the answers for its (non-service) messages."""
    path = out_dir / "telegram" / channel.slug / "result.json"
    rel = path.relative_to(out_dir).as_posix()
    chan_id = telegram_channel_id(channel)
    rendered, answers, photo_no = [], [], 0
    for msg in messages:
        photo_no += msg.photo
        obj = telegram_message(msg, channel, photo_no)
        rendered.append(obj)
        if msg.kind == "service":
            continue
        text = plain_from_telegram(obj["text"])
        date_s = (
            None if msg.defect == "unparseable_date" else msg.when.isoformat(timespec="seconds")
        )
        answers.append(
            _answer(
                "telegram", channel.name, str(chan_id), rel, msg, date_s, text, msg.body.spans()
            )
        )
    export = {"name": channel.name, "type": "public_channel", "id": chan_id, "messages": rendered}
    with atomic_open(path) as fh:
        fh.write(json.dumps(export, ensure_ascii=False, indent=1))
        fh.write("\n")
    return path, answers


def snowflake(when: datetime, seq: int) -> str:
    ms = calendar.timegm(when.utctimetuple()) * 1000 + when.microsecond // 1000
    return str(((ms - _DISCORD_EPOCH_MS) << 22) | (1 << 17) | (seq & 0xFFF))


def discord_stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+00:00"


def _author(name: str, guild_seed: int) -> dict:
    uid = 900_000_000_000_000_000 + zlib.crc32(name.encode()) * 1_000 + guild_seed % 1000
    analyst = name.endswith("_Analyst")
    return {
        "id": str(uid),
        "name": name.lower(),
        "discriminator": "0000",
        "nickname": name,
        "color": "#F1C40F" if analyst else None,
        "isBot": False,
        "roles": [{"id": str(uid + 1), "name": "Analyst", "color": "#F1C40F", "position": 5}]
        if analyst
        else [],
        "avatarUrl": f"https://cdn.discordapp.com/embed/avatars/{uid % 5}.png",
    }


def write_discord_export(
    out_dir: Path, channel: Channel, messages: list[ChatMessage]
) -> tuple[Path, list[dict]]:
    """``discord/<guild>-<channel>.json`` and the answers for its messages."""
    guild = channel.guild or "guild"
    guild_slug = guild.lower().replace(" ", "-")
    path = out_dir / "discord" / f"{guild_slug}-{channel.slug}.json"
    rel = path.relative_to(out_dir).as_posix()
    guild_id = str(800_000_000_000_000_000 + zlib.crc32(guild.encode()))
    chan_id = str(810_000_000_000_000_000 + zlib.crc32(channel.slug.encode()))
    ids = {m.msg_id: snowflake(m.when, m.msg_id) for m in messages}
    rendered, answers = [], []
    for msg in messages:
        content, spans = msg.body.discord()
        attachments = []
        if msg.photo:
            att_id = str(int(ids[msg.msg_id]) + 1)
            attachments.append(
                {
                    "id": att_id,
                    "url": f"https://cdn.discordapp.com/attachments/{chan_id}/{att_id}/chart.png",
                    "fileName": "chart.png",
                    "fileSizeBytes": 51_234,
                }
            )
        obj = {
            "id": ids[msg.msg_id],
            "type": "Reply" if msg.reply_to else "Default",
            "timestamp": discord_stamp(msg.when),
            "timestampEdited": discord_stamp(msg.edited) if msg.edited else None,
            "callEndedTimestamp": None,
            "isPinned": False,
            "content": content,
            "author": _author(msg.author, int(guild_id)),
            "attachments": attachments,
            "embeds": [],
            "stickers": [],
            "reactions": [],
            "mentions": [],
        }
        if msg.reply_to:
            obj["reference"] = {
                "messageId": ids[msg.reply_to],
                "channelId": chan_id,
                "guildId": guild_id,
            }
        if msg.kind == "signal" and msg.msg_id % 3 == 0:
            obj["reactions"] = [
                {
                    "emoji": {
                        "id": "",
                        "name": "🚀",
                        "code": "rocket",
                        "isAnimated": False,
                        "imageUrl": "https://cdn.jsdelivr.net/gh/twitter/twemoji@latest/"
                        "assets/svg/1f680.svg",
                    },
                    "count": 3 + msg.msg_id % 17,
                    "users": [],
                }
            ]
        rendered.append(obj)
        answers.append(
            _answer(
                "discord",
                channel.name,
                chan_id,
                rel,
                msg,
                msg.when.isoformat(timespec="milliseconds"),
                content,
                spans,
            )
        )
    last = messages[-1].when if messages else datetime(2026, 11, 1)
    export = {
        "guild": {
            "id": guild_id,
            "name": guild,
            "iconUrl": f"https://cdn.discordapp.com/icons/{guild_id}/a1b2c3d4e5f6.png?size=512",
        },
        "channel": {
            "id": chan_id,
            "type": "GuildTextChat",
            "categoryId": str(int(guild_id) + 7),
            "category": "Trading",
            "name": channel.name,
            "topic": channel.topic,
        },
        "dateRange": {"after": None, "before": None},
        "exportedAt": discord_stamp(last.replace(hour=23, minute=59, second=59, microsecond=0)),
        "messages": rendered,
        "messageCount": len(rendered),
    }
    with atomic_open(path) as fh:
        fh.write(json.dumps(export, ensure_ascii=False, indent=2))
        fh.write("\n")
    return path, answers
