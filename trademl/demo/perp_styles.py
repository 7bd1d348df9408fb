"""How altcoin channels write a signal: spot calls on BTC-quoted pairs (#ENJ/BTC buy 0.00000412)
and USDT perpetual calls that open with the direction (Long #SOL/USDT, Short $ETH, Cross 20x)."""

from __future__ import annotations

import random

from trademl.demo.instruments import SignalNumbers
from trademl.demo.markup import MessageText, Piece
from trademl.demo.style_kit import SignalStyle, add_side, numbers, pair_hashtag


def btc_alts(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    """#ENJ/BTC buy 0.00000405-0.00000412, targets in BTC, a stop below."""
    inst = n.instrument
    variant = rng.randrange(3)
    b = MessageText()
    if variant == 0:  # one line: #ENJ/BTC buy 0.00000412 tp ... sl ...
        pair_hashtag(b, inst)
        if show_side:
            add_side(b.add(" "), rng.choice(("buy", "Buy", "BUY")))
            numbers(b.add(" "), n.entries, "ENTRY", "-")
        else:
            numbers(b.add(rng.choice((" entry ", " @ "))), n.entries, "ENTRY", "-")
        numbers(b.add(rng.choice((" tp ", " targets "))), n.targets, "TARGET", " ")
        return b.add(rng.choice((" sl ", " stop "))).add(n.stop_loss, "STOP_LOSS")
    if variant == 1:  # a block with a headline
        b.add(rng.choice(("💎 ", "🔹 ", "")))
        if rng.random() < 0.5:
            b.add_formatted("bold", Piece(f"{inst.base}/{inst.quote}", "PAIR"))
        else:
            b.add(f"{inst.base}/{inst.quote}", "PAIR")
        b.add(rng.choice((" (Binance)", " #spot", "")) + "\n\n")
        if show_side:
            joins = (" zone: ", " between ", ": ") if len(n.entries) > 1 else (" zone: ", ": ")
            add_side(b, rng.choice(("Buy", "BUY"))).add(rng.choice(joins))
        else:
            b.add(rng.choice(("Entry zone: ", "Entry: ")))
        numbers(b, n.entries, "ENTRY", rng.choice((" - ", "-", " to ")))
        b.add("\n\nTargets:\n")
        for k, t in enumerate(n.targets, 1):
            b.add(f"{k}. ").add(t, "TARGET").add("\n")
        b.add("\nStop loss: ").add(n.stop_loss, "STOP_LOSS")
        return b.add(rng.choice(("", "\n\nMid-term hold ⏳", "\n\nDon't chase, wait for dips")))
    # Coin: XLM / Pair: XLM/BTC headed cards
    b.add("Coin: ").add_formatted("hashtag", "#", Piece(inst.base, "PAIR")).add(" (")
    b.add(f"{inst.base}/BTC", "PAIR").add(")\n")
    if show_side:
        add_side(b.add("Action: "), rng.choice(("BUY", "Buy"))).add("\n")
    numbers(b.add("Entry: "), n.entries, "ENTRY", " - ")
    for k, t in enumerate(n.targets, 1):
        b.add(f"\nTarget {k}: ").add(t, "TARGET")
    return b.add("\nStop: ").add(n.stop_loss, "STOP_LOSS")


_PERP_SIDE = {"LONG": ("Long", "LONG", "long"), "SHORT": ("Short", "SHORT", "short")}


def perp_direction(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    """Long #SOL/USDT / Short $ETH, leverage on its own line, numbered targets."""
    inst = n.instrument
    b = MessageText()
    if show_side:
        add_side(b, rng.choice(_PERP_SIDE[n.side])).add(" ")
    else:
        b.add(rng.choice(("📣 ", "⚡️ ", "Signal: ", "Futures call: ")))
    if rng.random() < 0.5:
        pair_hashtag(b, inst)
    else:
        b.add_formatted("cashtag", "$", Piece(inst.base, "PAIR"))
    b.add(rng.choice(("", " (perp)", " #futures")))
    if n.leverage:
        lev_text = rng.choice(("\nLeverage: Cross {}x", "\nLev: {}x", "\nCross {}x", " {}x"))
        head, _, tail = lev_text.partition("{}")
        b.add(head).add(str(n.leverage), "LEVERAGE").add(tail)
    inline = rng.random() < 0.35
    b.add(
        " | entry "
        if inline
        else rng.choice(
            ("\nEntry: ", "\nEntry zone: ", "\nEntries: ")[: 1 + 2 * (len(n.entries) > 1)]
        )
    )
    numbers(b, n.entries, "ENTRY", rng.choice((" - ", " / ")))
    if inline:
        numbers(b.add(" | tp "), n.targets, "TARGET", " ")
        return b.add(" | sl ").add(n.stop_loss, "STOP_LOSS")
    label = rng.choice(("\nTP{}: ", "\nTarget {}: ", "\n{}) "))
    b.add("\nTargets:" if label.endswith(") ") else "")
    for k, t in enumerate(n.targets, 1):
        b.add(label.format(k)).add(t, "TARGET")
    b.add(rng.choice(("\nSL: ", "\nStop: ", "\nStop loss: "))).add(n.stop_loss, "STOP_LOSS")
    return b.add(rng.choice(("", "\n\nManage risk, max 2% per trade", "\n⚠️ Futures are risky")))


PERP_STYLES: dict[str, SignalStyle] = {
    "btc_alts": SignalStyle(btc_alts, (1, 2), (2, 3, 4), 0.0, sides=("LONG",)),
    "perp_direction": SignalStyle(perp_direction, (1, 2), (2, 3, 4), 0.85),
}
