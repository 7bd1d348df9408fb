"""How each kind of channel writes a new trade signal, with every entity labelled as it is written.

The crypto and first forex styles live here; the wider FX/gold styles in :mod:`fx_styles`, the
BTC-quoted and perpetual-futures styles in :mod:`perp_styles`, spot, direction-card, Spanish and
instant calls in :mod:`world_styles` (the contract: :mod:`style_kit`).
"""

from __future__ import annotations

import random

from trademl.demo.fx_styles import FX_STYLES
from trademl.demo.instruments import SignalNumbers, to_number, with_thousands
from trademl.demo.markup import MessageText, Piece
from trademl.demo.perp_styles import PERP_STYLES
from trademl.demo.style_kit import Compose, SignalStyle, add_side
from trademl.demo.style_kit import numbers as _numbers
from trademl.demo.style_kit import pair_hashtag as _pair_hashtag
from trademl.demo.style_kit import side_word as _side
from trademl.demo.world_styles import WORLD_STYLES

__all__ = ["STYLES", "Compose", "SignalStyle"]


def rocket_emoji(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    if show_side:
        fire = rng.choice(
            ("🚀🚀🚀", "🔥🔥", "💎💎", "⚡️⚡️", "🟢🟢" if n.side == "LONG" else "🔴🔴")
        )
    else:  # colored dots and rockets state a direction as much as the word does
        fire = rng.choice(("🔥🔥", "💎💎", "⚡️⚡️", "📣📣"))
    b = MessageText().add(f"{fire} ")
    _pair_hashtag(b, n.instrument)
    if show_side:
        b.add(" ").add(n.side, "SIDE", fmt="bold")
    b.add(f" {fire}\n\n📥 Entry: ")
    _numbers(b, n.entries, "ENTRY", " - ")
    b.add("\n")
    for k, t in enumerate(n.targets, 1):
        b.add(f"🎯 TP{k}: ").add(t, "TARGET").add("\n")
    b.add("🛑 Stop: ").add(n.stop_loss, "STOP_LOSS")
    if n.leverage:
        b.add("\n⚡️ Leverage: ").add(str(n.leverage), "LEVERAGE").add("x")
    outro = ("\n\n💎 Use 2-3% of your portfolio 💎", "\n\n🚀 LFG 🚀🚀", "", "\n\n✅✅✅")
    b.add(rng.choice(outro if show_side else outro[::2]))
    return b


def cornix(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    b = MessageText().add("📍Coin: ")
    _pair_hashtag(b, n.instrument)
    if show_side:
        if rng.random() < 0.5:
            b.add("\nSignal Type: Regular (").add(n.side.title(), "SIDE").add(")")
        else:
            b.add("\n🟢 " if n.side == "LONG" else "\n🔴 ").add(n.side.title(), "SIDE")
    if n.leverage:
        b.add(f"\nLeverage: {rng.choice(('Cross', 'Isolated'))} ").add(str(n.leverage), "LEVERAGE")
        b.add("x")
    inline = rng.random() < 0.5
    b.add("\n\nEntry Targets:" + (" " if inline else "\n"))
    for k, e in enumerate(n.entries, 1):
        b.add(f"{k}) " if inline else f"{k}) ").add(e, "ENTRY").add(" " if inline else "\n")
    b.add(("\n" if inline else "") + "\nTake-Profit Targets:" + (" " if inline else "\n"))
    for k, t in enumerate(n.targets, 1):
        b.add(f"{k}) ").add(t, "TARGET").add(" " if inline else "\n")
    b.add(("\n" if inline else "") + "\nStop Targets:" + (" " if inline else "\n") + "1) ")
    b.add(n.stop_loss, "STOP_LOSS")
    return b


def whale_zone(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    inst = n.instrument
    b = MessageText().add("🐋 WHALE ZONE VIP 🐋", fmt="bold").add("\n\n")
    b.add_formatted("hashtag", "#", Piece(inst.base, "PAIR"))
    if show_side:
        b.add(" ").add_formatted("bold", Piece(n.side, "SIDE"), " setup")
    else:
        b.add(" setup 👀")
    b.add("\n\n").add("Entry zone:", fmt="bold").add(" ")
    _numbers(b, n.entries, "ENTRY", " – ", big=True)
    b.add("\n").add("Targets:", fmt="bold").add("\n")
    for k, t in enumerate(n.targets, 1):
        b.add(f"TP{k} ➜ ").add(with_thousands(t) if to_number(t) >= 1000 else t, "TARGET").add("\n")
    b.add("Stop-loss:", fmt="bold").add(" ")
    _numbers(b, (n.stop_loss,), "STOP_LOSS", "", big=True)
    if n.leverage:
        b.add("\nLev: ").add(str(n.leverage), "LEVERAGE").add("x max")
    b.add("\n\n").add("#WhaleZone", fmt="hashtag").add(" ").add(f"#{inst.base}", fmt="hashtag")
    return b


_TERSE_SIDE = {
    "LONG": ("long", "Long", "LONG", "lnog", "buy"),
    "SHORT": ("short", "Short", "SHORT", "shrot", "sell"),
}


def terse(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    inst = n.instrument
    pair = rng.choice((inst.base.lower(), inst.base, inst.base.lower() + "usdt", inst.base.title()))
    b = MessageText().add(pair, "PAIR")
    if show_side:
        b.add(" ").add(_side(n.side, _TERSE_SIDE, rng), "SIDE")
    b.add(rng.choice((" ", " @ ", " entry ", " entery ")))
    _numbers(b, n.entries, "ENTRY", "-")
    parts = [("sl", (n.stop_loss,), "STOP_LOSS"), ("tp", n.targets, "TARGET")]
    if rng.random() < 0.5:
        parts.reverse()
    for word, values, label in parts:
        word = rng.choice((word, word.upper(), "stoploss" if label == "STOP_LOSS" else "targt"))
        b.add(f" {word} ")
        _numbers(b, values, label, rng.choice((" ", "/", ", ")))
    if n.leverage:
        b.add(" ").add(str(n.leverage), "LEVERAGE").add("x")
    return b.add(rng.choice(("", "", " !!", " 🔥", " ez")))


def leverage_percent(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    lev = n.leverage or 10
    entry = to_number(n.entries[0])
    sign = 1.0 if n.side == "LONG" else -1.0
    b = MessageText().add("⚡ ").add(n.instrument.symbol, "PAIR")
    if show_side:
        b.add(" | ").add(n.side, "SIDE")
    b.add(" | x").add(str(lev), "LEVERAGE").add("\n\nEntry: ")
    _numbers(b, n.entries, "ENTRY", " / ")
    b.add("\nTargets:\n")
    for k, t in enumerate(n.targets, 1):
        pct = sign * (to_number(t) / entry - 1.0) * lev * 100
        # a set-up with no direction (targets both sides) has no profit to print per target
        b.add(f"{k}) ").add(t, "TARGET").add(f" (+{pct:.1f}%)\n" if n.side else "\n")
    pct = sign * (to_number(n.stop_loss) / entry - 1.0) * lev * 100
    b.add("SL: ").add(n.stop_loss, "STOP_LOSS").add(f" ({pct:.1f}%)" if n.side else "")
    return b.add(rng.choice(("\nRisk 2% of balance per trade", "\n⚠️ max 3% margin", "")))


_FX_SIDE = {"LONG": ("BUY", "Buy", "BUY LIMIT"), "SHORT": ("SELL", "Sell", "SELL LIMIT")}
_FLAGS = {"EUR": "🇪🇺", "USD": "🇺🇸", "GBP": "🇬🇧", "JPY": "🇯🇵", "XAU": "🥇"}


def forex(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    inst = n.instrument
    if inst.symbol == "XAUUSD":
        pair = rng.choice(("GOLD", "XAUUSD", "Gold"))
    else:
        pair = rng.choice((inst.symbol, f"{inst.base}/{inst.quote}"))
    variant = rng.randrange(3)
    b = MessageText()
    if variant == 0:  # BUY GOLD @ 2650 SL 2640 TP 2670
        if show_side:
            b.add(_side(n.side, _FX_SIDE, rng).split()[0], "SIDE").add(" ")
        b.add(pair, "PAIR").add(" @ ")
        _numbers(b, n.entries, "ENTRY", "-")
        b.add(" SL ").add(n.stop_loss, "STOP_LOSS").add(" TP ")
        _numbers(b, n.targets, "TARGET", " TP ")
        return b
    if variant == 1:
        b.add(f"{_FLAGS[inst.base]}{_FLAGS[inst.quote]} ").add(pair, "PAIR", fmt="bold")
        if show_side:
            add_side(b.add(" "), _side(n.side, _FX_SIDE, rng))
        b.add(" NOW ")
        _numbers(b, n.entries, "ENTRY", " - ")
        for k, t in enumerate(n.targets, 1):
            b.add(f"\n✅ TP{k} ").add(t, "TARGET")
        return b.add("\n❌ SL ").add(n.stop_loss, "STOP_LOSS")
    b.add(pair, "PAIR")
    if show_side:
        add_side(b.add(" "), _side(n.side, _FX_SIDE, rng))
    b.add("\nEntry: ")
    _numbers(b, n.entries, "ENTRY", " / ")
    b.add("\nTake profit: ")
    _numbers(b, n.targets, "TARGET", " / ")
    return b.add("\nStop loss: ").add(n.stop_loss, "STOP_LOSS").add("\n⚠️ use proper lot size")


_RU_SIDE = {"LONG": ("ЛОНГ", "Лонг", "лонг"), "SHORT": ("ШОРТ", "Шорт", "шорт")}


def russian(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    b = MessageText()
    if rng.random() < 0.5:
        if show_side:
            b.add("🟢 " if n.side == "LONG" else "🔴 ").add(
                _side(n.side, _RU_SIDE, rng), "SIDE"
            ).add(" ")
        else:
            b.add("⚪️ Сигнал ")
        b.add_formatted("hashtag", "#", Piece(n.instrument.base, "PAIR"))
    else:
        b.add("Монета: ")
        _pair_hashtag(b, n.instrument)
        if show_side:
            b.add("\nНаправление: ").add(_side(n.side, _RU_SIDE, rng), "SIDE")
    b.add(rng.choice(("\nВход: ", "\nТочка входа: ")))
    _numbers(b, n.entries, "ENTRY", "-")
    b.add(rng.choice(("\nЦели: ", "\nТейки: ")))
    _numbers(b, n.targets, "TARGET", " / ")
    b.add(rng.choice(("\nСтоп: ", "\nСтоп-лосс: "))).add(n.stop_loss, "STOP_LOSS")
    if n.leverage:
        b.add("\nПлечо: ").add(str(n.leverage), "LEVERAGE").add("х")  # Cyrillic х, as typed
    return b.add(rng.choice(("", "\n\nНе забываем про риск-менеджмент ☝️")))


_CASUAL_SIDE = {"LONG": ("Long", "long", "LONG"), "SHORT": ("Short", "short", "SHORT")}


def casual_cashtag(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    b = MessageText().add_formatted("cashtag", "$", Piece(n.instrument.base, "PAIR"))
    if show_side:
        b.add(" ").add(_side(n.side, _CASUAL_SIDE, rng), "SIDE")
    b.add(rng.choice((" setup 👇\n", " looking juicy here\n", " idea\n")) + "entry ")
    _numbers(b, n.entries, "ENTRY", " to ")
    b.add("\ntp ")
    _numbers(b, n.targets, "TARGET", " / ")
    b.add("\nsl ").add(n.stop_loss, "STOP_LOSS")
    if n.leverage:
        b.add(f"\nlev {rng.choice(('', 'x'))}").add(str(n.leverage), "LEVERAGE")
    chart_id = "".join(
        rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789") for _ in range(8)
    )
    b.add("\n").add("chart", fmt="text_link", href=f"https://www.tradingview.com/x/{chart_id}/")
    return b.add("\n").add(rng.choice(("nfa dyor", "not financial advice", "DYOR")), fmt="italic")


STYLES: dict[str, SignalStyle] = {
    "rocket_emoji": SignalStyle(rocket_emoji, (1, 2), (2, 3, 4), 0.6),
    "cornix": SignalStyle(cornix, (1, 2), (3, 4, 5), 0.9),
    "whale_zone": SignalStyle(whale_zone, (2,), (3, 4, 5), 0.3),
    "terse": SignalStyle(terse, (1,), (1, 1, 2), 0.2),
    "leverage_percent": SignalStyle(leverage_percent, (1, 1, 2), (2, 3), 1.0),
    "forex": SignalStyle(forex, (1, 1, 2), (1, 2, 3), 0.0),
    "russian": SignalStyle(russian, (1, 2), (2, 3, 4), 0.5),
    "casual_cashtag": SignalStyle(casual_cashtag, (1, 2), (1, 2, 3), 0.3),
    **FX_STYLES,
    **PERP_STYLES,
    **WORLD_STYLES,
}
