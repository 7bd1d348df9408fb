"""The fictional channels of the demo desk and the day-by-day message stream each one posts."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from trademl.demo.boilerplate import channel_boilerplate, stamp
from trademl.demo.chatter import chatter, update
from trademl.demo.instruments import SignalNumbers, make_signal_numbers, pick_instrument, to_number
from trademl.demo.markup import MessageText
from trademl.demo.results import result_post
from trademl.demo.setups import NONE_HOW, level_layout, level_numbers, none_numbers
from trademl.demo.signal_styles import STYLES
from trademl.labels import NON_SIGNAL, SIGNAL_NONE, empty_fields
from trademl.signals.levels import SIDE_LABEL


@dataclass(frozen=True)
class Channel:
    """A chat a desk follows; ``styles`` are keys of :data:`STYLES`."""

    slug: str
    name: str
    platform: str  # telegram or discord
    styles: tuple[str, ...]
    lang: str = "en"
    universe: str = "crypto"
    guild: str | None = None  # Discord server name
    topic: str = ""


CHANNELS: tuple[Channel, ...] = (
    Channel("moon-rocket-signals", "Moon Rocket Signals 🚀", "telegram", ("rocket_emoji",)),
    Channel("cornix-pro-futures", "Cornix Pro Futures", "telegram", ("cornix",)),
    Channel("whale-zone-vip", "Whale Zone VIP 🐋", "telegram", ("whale_zone",)),
    Channel("quick-scalps", "quick scalps", "telegram", ("terse",)),
    Channel(
        "alpha-leverage-club", "Alpha Leverage Club", "telegram", ("leverage_percent", "cornix")
    ),
    Channel("gold-fx-room", "Gold & FX Room", "telegram", ("forex",), universe="forex"),
    Channel("kripto-signaly-pro", "Крипто Сигналы PRO", "telegram", ("russian",), lang="ru"),
    Channel(
        "satoshi-street-calls", "Satoshi Street Calls", "telegram", ("casual_cashtag", "terse")
    ),
    Channel(
        "pip-hunters-fx", "PipHunters FX 📊", "telegram", ("fx_terse", "fx_multi_tp"), universe="fx"
    ),
    Channel(
        "xau-sniper-desk",
        "XAU Sniper Desk",
        "telegram",
        ("fx_oneliner", "fx_terse"),
        universe="gold",
    ),
    Channel("flag-fx-signals", "Flag FX Signals 🌍", "telegram", ("fx_flags",), universe="fx"),
    Channel("sats-gems", "Sats Gems 💎 BTC pairs", "telegram", ("btc_alts",), universe="btc_alts"),
    Channel("perp-hunters", "Perp Hunters ⚔️", "telegram", ("perp_direction", "terse")),
    Channel("spot-gems-daily", "Spot Gems Daily 💎", "telegram", ("spot_targets",)),
    Channel(
        "fx-trade-cards",
        "FX Trade Cards",
        "telegram",
        ("fx_direction_card", "instant_call"),
        universe="fx",
    ),
    Channel(
        "senales-fx-latam",
        "Señales FX Latam 🌎",
        "telegram",
        ("fx_spanish",),
        lang="es",
        universe="gold",
    ),
    Channel(
        "signals",
        "signals",
        "discord",
        ("casual_cashtag", "terse", "cornix"),
        guild="Degen Traders HQ",
        topic="Calls from the analyst team. No chatting here pls",
    ),
    Channel(
        "futures-calls",
        "futures-calls",
        "discord",
        ("leverage_percent", "rocket_emoji"),
        guild="Degen Traders HQ",
        topic="Leveraged futures setups. Manage your risk.",
    ),
    Channel(
        "gold-calls",
        "gold-calls",
        "discord",
        ("forex", "fx_oneliner"),
        universe="forex",
        guild="FX Pips Lounge",
        topic="XAUUSD and majors",
    ),
)

#: Share of each kind of message in a channel-day (the rest are signals that state their side).
#: ``signal_levels``: a long or short whose side only its levels tell (no side word, no emoji);
#: ``signal_none``: a set-up whose direction neither words nor levels tell.
MIX = {"chat": 0.45, "update": 0.20, "signal_none": 0.05, "signal_levels": 0.09}

LABEL_OF_KIND = {"chat": NON_SIGNAL, "update": NON_SIGNAL, "signal_none": SIGNAL_NONE}
#: Kinds that write a trade set-up (gold fields and entity spans).
SETUP_KINDS = ("signal", "signal_levels", "signal_none")
#: Share of level-only set-ups and of SIGNAL_NONE ones written in the plain layouts of
#: :mod:`setups` rather than in the channel's own style (with its side left out).
PLAIN_LAYOUT_P = 0.4
#: Share of stated signals written in those plain layouts, with the side word added.
STATED_PLAIN_P = 0.12
#: Share of follow-ups on a signal with a side that are a result card restating it.
RESULT_P = 0.4


@dataclass
class ChatMessage:
    """One message of a channel, with the truth about it."""

    msg_id: int
    when: datetime  # UTC
    kind: str  # chat, update, signal, signal_levels, signal_none, service
    body: MessageText
    numbers: SignalNumbers | None = None
    layout: str = ""  # the style or layout that wrote it (answers.jsonl: for error analysis)
    boilerplate: tuple[str, ...] = ()  # channel lines stamped on it (no class, no entity)
    author: str = ""  # Discord member; Telegram channels post as the channel
    reply_to: int | None = None
    edited: datetime | None = None
    photo: bool = False
    pinned_id: int | None = None  # service messages: the message pinned
    defect: str | None = None  # empty_text or unparseable_date: what an ingester must catch

    @property
    def label(self) -> str | None:
        if self.defect == "empty_text" or self.kind == "service":
            return None
        if self.kind in ("signal", "signal_levels"):
            return SIDE_LABEL[self.numbers.side]
        return LABEL_OF_KIND[self.kind]

    @property
    def side_source(self) -> str | None:
        """Where the gold side comes from: "stated" in words, "levels" only, None: no side."""
        return {"signal": "stated", "signal_levels": "levels"}.get(self.kind)


def gold_fields(msg: ChatMessage) -> dict:
    """The gold-format fields of a message, read off the spans it was composed with."""
    fields = empty_fields()
    if msg.kind not in SETUP_KINDS or msg.numbers is None:
        return fields
    if msg.kind == "signal_levels":  # no SIDE span: the levels say it
        fields["side"] = msg.numbers.side
    for label, surface in msg.body.labelled():
        if label == "PAIR":
            fields["pair"] = msg.numbers.instrument.symbol
        elif label == "SIDE":
            fields["side"] = msg.numbers.side
        elif label == "ENTRY":
            fields["entry"].append(to_number(surface))
        elif label == "TARGET":
            fields["targets"].append(to_number(surface))
        elif label == "STOP_LOSS" and fields["stop_loss"] is None:
            fields["stop_loss"] = to_number(surface)
        elif label == "LEVERAGE":
            fields["leverage"] = to_number(surface)
    return fields


def day_quota(n: int) -> list[str]:
    """The kinds of a channel-day's n messages, in the proportions of :data:`MIX`."""
    kinds: list[str] = []
    for kind, share in MIX.items():
        kinds += [kind] * int(n * share + 0.5)
    return kinds + ["signal"] * max(0, n - len(kinds))


def compose(
    rng: random.Random, channel: Channel, kind: str, day_index: int, about: SignalNumbers | None
) -> tuple[MessageText, SignalNumbers | None, str]:
    """The text of one message of ``kind`` in the channel's voice, its numbers and its layout."""
    if kind == "chat":
        return chatter(rng, channel.lang, channel.universe), None, "chat"
    if kind == "update":
        if about and about.side and about.targets and rng.random() < RESULT_P:
            body, layout = result_post(rng, channel.lang, about)
            return body, None, layout
        return update(rng, channel.lang, about, channel.universe), None, "update"
    style_name = rng.choice(channel.styles)
    style = STYLES[style_name]
    inst = pick_instrument(rng, channel.universe)
    if kind == "signal":
        numbers = make_signal_numbers(
            rng,
            inst,
            day_index,
            n_entries=rng.choice(style.entries),
            n_targets=rng.choice(style.targets),
            leverage=rng.random() < style.leverage_p,
            sides=style.sides,
        )
        if rng.random() < STATED_PLAIN_P:
            body, layout = level_layout(numbers, rng, channel.lang, show_side=True)
            return body, numbers, layout
        return style.compose(numbers, rng, True), numbers, style_name
    if kind == "signal_levels":
        numbers = level_numbers(rng, inst, day_index, style)
        prefix = ""
    else:
        how = rng.choices(tuple(NONE_HOW), weights=tuple(NONE_HOW.values()))[0]
        numbers = none_numbers(rng, inst, day_index, style, how)
        prefix = how + ":"
    if numbers.stop_loss is None or not numbers.targets or rng.random() < PLAIN_LAYOUT_P:
        body, layout = level_layout(numbers, rng, channel.lang)
        return body, numbers, prefix + layout
    return style.compose(numbers, rng, False), numbers, prefix + style_name


_MEMBERS = (
    "satoshi_fan",
    "moonboi",
    "Liza.trades",
    "kev",
    "pipsniper",
    "degen_dave",
    "hodl_queen",
    "Marco",
    "anon4821",
    "whaleWatcher",
)


def channel_messages(
    channel: Channel,
    *,
    seed: int,
    start_date: date,
    days: int,
    per_day: int,
    defects: dict[str, int],
) -> list[ChatMessage]:
    """All messages of a channel over the days, in posting order, with defects as ``defects`` asks.

    ``defects`` maps a defect kind to how many such messages this channel gets (added on top
    of the per-day quota, so the labelled mix keeps its proportions).
    """
    rng = random.Random(f"{seed}/chat/{channel.platform}/{channel.slug}")
    # boilerplate draws from its own stream: the messages stay what they would be without it
    boiler_rng = random.Random(f"{seed}/boilerplate/{channel.platform}/{channel.slug}")
    boiler = channel_boilerplate(
        boiler_rng,
        channel.lang,
        channel.slug.replace("-", "_"),
        fx=channel.universe in ("forex", "fx", "gold"),
    )
    analyst = f"{(channel.guild or channel.name).split()[0]}_Analyst"
    messages: list[ChatMessage] = []
    last_signal: tuple[int, SignalNumbers] | None = None
    for day in range(days):
        day_start = datetime(start_date.year, start_date.month, start_date.day, tzinfo=UTC)
        day_start += timedelta(days=day)
        kinds = day_quota(per_day)
        if day == 0:
            kinds += ["empty_text"] * defects.get("empty_text", 0)
            kinds += ["bad_date"] * defects.get("unparseable_date", 0)
        rng.shuffle(kinds)
        # desks post mostly in daytime: a triangular density peaking mid-afternoon UTC
        seconds = sorted(int(rng.triangular(0, 86_399, 50_000)) for _ in kinds)
        for kind, sec in zip(kinds, seconds, strict=True):
            when = day_start + timedelta(seconds=sec, milliseconds=rng.randrange(1000))
            msg_id = len(messages) + 1
            defect = {"empty_text": "empty_text", "bad_date": "unparseable_date"}.get(kind)
            real_kind = "chat" if defect else kind
            about = last_signal[1] if last_signal else None
            body, numbers, layout = compose(rng, channel, real_kind, day, about)
            msg = ChatMessage(msg_id, when, real_kind, body, numbers, layout, defect=defect)
            msg.author = analyst if real_kind != "chat" else rng.choice(_MEMBERS)
            if channel.platform == "telegram":
                msg.author = channel.name
            if defect == "empty_text":
                msg.body, msg.photo = MessageText(), True  # a chart posted without a caption
            msg.boilerplate = stamp(msg.body, boiler, boiler_rng)
            if kind == "update" and last_signal and rng.random() < 0.6:
                msg.reply_to = last_signal[0]
            if real_kind in ("signal", "signal_levels"):
                if rng.random() < 0.08:
                    msg.edited = when + timedelta(seconds=rng.randint(30, 900))
                msg.photo = rng.random() < 0.06
            messages.append(msg)
            if real_kind in SETUP_KINDS and numbers and numbers.targets:
                last_signal = (msg_id, numbers)
            if real_kind == "signal" and channel.platform == "telegram" and rng.random() < 0.04:
                pin_time = when + timedelta(seconds=rng.randint(5, 120))
                messages.append(
                    ChatMessage(
                        len(messages) + 1,
                        pin_time,
                        "service",
                        MessageText(),
                        author=channel.name,
                        pinned_id=msg_id,
                    )
                )
    messages.sort(key=lambda m: (m.when, m.msg_id))
    new_ids = {msg.msg_id: new_id for new_id, msg in enumerate(messages, 1)}
    for msg in messages:  # ids follow posting order, as in a real export
        msg.msg_id = new_ids[msg.msg_id]
        msg.reply_to = new_ids.get(msg.reply_to) if msg.reply_to else None
        msg.pinned_id = new_ids.get(msg.pinned_id) if msg.pinned_id else None
    return messages
