"""More ways channels write a signal: spot calls whose targets follow a "Sell" word, FX cards that
state the direction as Bullish/Bearish, Spanish and Portuguese FX rooms, and instant calls with
no level at all ("GOLD BUY NOW"). Entities are labelled as written."""

from __future__ import annotations

import random

from trademl.demo.fx_styles import fx_pair
from trademl.demo.instruments import SignalNumbers
from trademl.demo.markup import MessageText, Piece
from trademl.demo.style_kit import SignalStyle, add_side, numbers, pair_hashtag


def spot_targets(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    """Spot-only channels: "Buy: 585 - 590 / Sell: 600 - 615 / Stop: 570" - the "Sell" words
    name the take-profits, not a short."""
    inst = n.instrument
    b = MessageText()
    if rng.random() < 0.5:
        pair_hashtag(b, inst)
        b.add(rng.choice((" (Binance Spot)", " #spot", "", " 💎")))
    else:
        b.add(rng.choice(("Coin: ", "Coin - ", "Coin Name: ")))
        b.add_formatted("hashtag", "#", Piece(inst.base, "PAIR"))
        b.add(rng.choice(("\n#binance", "\n#kucoin", "")))
    if show_side:
        add_side(b.add("\n\n"), rng.choice(("Buy", "BUY", "Buy zone", "Buy around")))
        b.add(rng.choice((": ", " - ", " ")))
    else:
        b.add(rng.choice(("\n\nEntry: ", "\n\nZone: ")))
    numbers(b, n.entries, "ENTRY", rng.choice((" - ", "-")))
    sell = "Sell" if show_side else "Take-profit"  # a SIGNAL_NONE post states no side at all
    if rng.random() < 0.5:
        b.add(rng.choice((f"\n{sell}: ", f"\n{sell.upper()}: ", f"\n{sell} targets: ")))
        numbers(b, n.targets, "TARGET", rng.choice((" - ", " / ", ", ")))
    else:
        b.add(rng.choice((f"\n\n{sell} Targets\n", f"\n\n{sell} targets:\n")))
        for k, t in enumerate(n.targets, 1):
            b.add(f"Target {k}{rng.choice(('- ', ': ', ' - '))}").add(t, "TARGET").add("\n")
    b.add(rng.choice(("\nStop: ", "\nStop Loss - ", "\nSL: "))).add(n.stop_loss, "STOP_LOSS")
    return b.add(rng.choice(("", "\n\nHold with patience ⏳", "\nMid-term hold")))


_BIAS = {
    "LONG": ("Bullish", "BULLISH", "Buy", "Long"),
    "SHORT": ("Bearish", "BEARISH", "Sell", "Short"),
}


def fx_direction_card(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    """A labelled card: Instrument / Direction: Bullish / Entry / Stop / Target 1, 2."""
    inst = n.instrument
    sep = rng.choice((": ", " @ ", " - ", " → "))
    b = MessageText().add(rng.choice(("📊 TRADE IDEA\n", "🔔 New position\n", "", "FX CALL\n")))
    b.add(rng.choice(("Instrument", "Pair", "Asset", "Symbol")) + sep).add(
        fx_pair(inst, rng), "PAIR"
    )
    if show_side:
        b.add(f"\nDirection{sep}").add(rng.choice(_BIAS[n.side]), "SIDE")
    b.add(f"\nEntry{sep}")
    numbers(b, n.entries, "ENTRY", " - ")
    b.add(rng.choice(("", " (market price)", " (limit)")))
    b.add(f"\nStop loss{sep}").add(n.stop_loss, "STOP_LOSS")
    ordinals = ("1st", "2nd", "3rd", "4th")
    for k, t in enumerate(n.targets):
        name = rng.choice((f"{ordinals[k]} target", f"Target {k + 1}"))
        b.add(f"\n{name}{sep}").add(t, "TARGET")
    return b.add(rng.choice(("", "\n\nRisk no more than 1% of equity", "\nValid for 24h")))


_ES_SIDE = {
    "LONG": ("COMPRA", "Compra", "COMPRAR", "compra"),
    "SHORT": ("VENTA", "Venta", "VENDER", "VENDA"),
}
_ES_GOLD = ("ORO", "Oro", "XAUUSD", "OURO")


def fx_spanish(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    """Spanish and Portuguese rooms: COMPRA EURUSD 1.0850 / SL / TP1 (Objetivo, Alvo)."""
    inst = n.instrument
    pair = rng.choice(_ES_GOLD) if inst.symbol == "XAUUSD" else fx_pair(inst, rng)
    b = MessageText().add(rng.choice(("", "🚨 SEÑAL\n", "📢 Nueva operación\n", "⚡️ SINAL\n")))
    if show_side:
        action = rng.choice(_ES_SIDE[n.side])
        if rng.random() < 0.5:
            add_side(b, action).add(" ").add(pair, "PAIR")
        else:
            add_side(b.add(pair, "PAIR").add(" "), action)
        b.add(rng.choice((" ", " @ ", " en ", "\nEntrada: ")))
    else:
        b.add(pair, "PAIR").add(rng.choice(("\nEntrada: ", "\nEntrada @ ")))
    numbers(b, n.entries, "ENTRY", rng.choice((" - ", "/")))
    tp = rng.choice(("TP{k}: ", "TP {k} ", "Objetivo {k}: ", "Alvo {k}: ", "Tp{k} "))
    for k, t in enumerate(n.targets, 1):
        b.add("\n" + tp.format(k=k)).add(t, "TARGET")
    b.add(rng.choice(("\nSL: ", "\nStop loss: ", "\nSL ", "\nStop: "))).add(
        n.stop_loss, "STOP_LOSS"
    )
    return b.add(
        rng.choice(("", "\n\nGestiona tu riesgo ⚠️", "\nUsa lote pequeño", "\nBoa sorte 🍀"))
    )


def instant_call(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    """ "GOLD BUY NOW" with the levels to follow, or a side glued to the pair (XAUUSDSELL 2350)."""
    inst = n.instrument
    pair = fx_pair(inst, rng)
    if not show_side:  # the levels without a direction: pair, entry, stop, target
        b = MessageText().add(pair, "PAIR").add(rng.choice((" @ ", "\nEntry ")))
        numbers(b, n.entries, "ENTRY", "-")
        b.add("\nSL ").add(n.stop_loss, "STOP_LOSS")
        for t in n.targets:
            b.add("\nTP ").add(t, "TARGET")
        return b
    word = rng.choice({"LONG": ("BUY", "Buy", "buy"), "SHORT": ("SELL", "Sell", "sell")}[n.side])
    variant = rng.randrange(3)
    b = MessageText()
    if variant == 0:  # the call alone: levels come in a later message
        if rng.random() < 0.5:
            b.add(pair, "PAIR").add(" ").add(word, "SIDE")
        else:
            lower = inst.kind != "index" and rng.random() < 0.5  # "buy gold now"; US30 stays
            b.add(word, "SIDE").add(" ").add(pair.lower() if lower else pair, "PAIR")
        return b.add(rng.choice((" NOW", " now", " now 🔥", " NOW ⚡️", " here")))
    if variant == 1 and inst.kind != "index":  # XAUUSDSELL 2350: side glued to the symbol
        b.add(inst.symbol, "PAIR").add(word.upper(), "SIDE").add(" ")
    else:
        b.add(pair, "PAIR").add(" ").add(word.upper(), "SIDE").add(" NOW ")
    numbers(b, n.entries, "ENTRY", "-")
    b.add("\nSL ").add(n.stop_loss, "STOP_LOSS")
    for t in n.targets:
        b.add("\nTP ").add(t, "TARGET")
    return b


WORLD_STYLES: dict[str, SignalStyle] = {
    "spot_targets": SignalStyle(spot_targets, (1, 2), (2, 3, 4), 0.0, sides=("LONG",)),
    "fx_direction_card": SignalStyle(fx_direction_card, (1, 1, 2), (1, 2, 3), 0.0),
    "fx_spanish": SignalStyle(fx_spanish, (1, 1, 2), (1, 2, 3), 0.0),
    "instant_call": SignalStyle(instant_call, (1,), (1, 2, 3), 0.0),
}
