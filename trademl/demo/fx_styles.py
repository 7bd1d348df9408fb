"""How forex and gold channels write a signal: terse multi-line calls, one-liners, flag-and-arrow
emoji layouts, and numbered take-profits with pip counts. Entities are labelled as written."""

from __future__ import annotations

import random

from trademl.demo.instruments import Instrument, SignalNumbers
from trademl.demo.markup import MessageText
from trademl.demo.style_kit import SignalStyle, add_side, numbers, pip_word, pips

_ACTION = {
    "LONG": ("Buy", "BUY", "BUY NOW", "Buy now", "Buy limit", "Buy stop", "BUY LIMIT", "buy"),
    "SHORT": (
        "Sell",
        "SELL",
        "SELL NOW",
        "Sell now",
        "Sell limit",
        "Sell stop",
        "SELL STOP",
        "sell",
    ),
}
_FLAGS = {
    "EUR": "🇪🇺", "USD": "🇺🇸", "GBP": "🇬🇧", "JPY": "🇯🇵", "CAD": "🇨🇦", "AUD": "🇦🇺",
    "NZD": "🇳🇿", "CHF": "🇨🇭", "XAU": "🥇", "US30": "🇺🇸", "NAS100": "🇺🇸",
}  # fmt: skip
_ARROWS = {"LONG": ("↗️", "⬆️", "📈"), "SHORT": ("↘️", "⬇️", "📉")}
_SEPARATORS = ("➖➖➖➖➖", "➖➖➖", "〰〰〰〰", "━━━━━━")


def fx_pair(inst: Instrument, rng: random.Random) -> str:
    """The pair as FX channels spell it: EURUSD, EUR/USD, EurUsd, GOLD, XAUUSD, US30."""
    if inst.symbol == "XAUUSD":
        return rng.choice(("GOLD", "XAUUSD", "Gold", "XAUUSD", "XAU/USD", "GOLD"))
    if inst.kind == "index":
        return inst.symbol
    title = inst.base.title() + inst.quote.title()
    return rng.choice((inst.symbol, inst.symbol, f"{inst.base}/{inst.quote}", title))


def _action(n: SignalNumbers, rng: random.Random) -> str:
    return rng.choice(_ACTION[n.side])


def _entry(b: MessageText, n: SignalNumbers, rng: random.Random) -> MessageText:
    numbers(b, n.entries, "ENTRY", rng.choice(("-", " - ", "/")))
    return b


def fx_terse(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    """BUY EURUSD / 1.0850 / Sl 1.0820 / Tp 1.0900, one value a line."""
    pair, variant = fx_pair(n.instrument, rng), rng.randrange(3)
    sl_word = rng.choice(("Sl", "SL", "sl", "SL:", "Sl:"))
    tp_word = rng.choice(("Tp", "TP", "tp", "TP:", "Tp{k}", "TP{k}:", "Tp {k}:"))
    b = MessageText()
    if variant == 0:
        if show_side:
            add_side(b, _action(n, rng)).add(" ")
        b.add(pair, "PAIR").add("\n")
        _entry(b, n, rng)
    elif variant == 1:
        b.add(pair, "PAIR")
        if show_side:
            add_side(b.add(" "), _action(n, rng))
        _entry(b.add(rng.choice(("\n@ ", "\n@", "\nAt "))), n, rng)
    else:
        b.add(pair, "PAIR").add(rng.choice(("\n", " ")))
        if show_side:
            add_side(b, _action(n, rng)).add(" ")
        else:
            b.add(rng.choice(("Entry ", "Entry: ", "@ ")))
        _entry(b, n, rng)
    b.add("\n")
    lines = [(sl_word, n.stop_loss, "STOP_LOSS")]
    lines += [(tp_word.format(k=k), t, "TARGET") for k, t in enumerate(n.targets, 1)]
    if rng.random() < 0.4:
        lines = lines[1:] + lines[:1]
    for k, (word, value, label) in enumerate(lines):
        b.add(("\n" if k else "") + word + " ").add(value, label)
    return b.add(rng.choice(("", "", "", "\n\nUse proper money management", "\n⚠️ Risk 1%")))


def fx_oneliner(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    """GOLD SELL NOW @ 2651.5 SL 2660 TP 2640 and EURUSD BUY FROM 1.0820 SL = 1.0790 TP = 1.0880."""
    pair, variant = fx_pair(n.instrument, rng), rng.randrange(4)
    upper = variant < 2 or rng.random() < 0.3
    word = (lambda w: w.upper()) if upper else (lambda w: w)
    b = MessageText()
    if variant == 2 and show_side:  # Buy GBPJPY at 193.40 | SL 192.80 | TP 194.20 / 195.00
        add_side(b, word(rng.choice(_ACTION[n.side][:2]))).add(" ").add(pair, "PAIR")
    else:
        b.add(pair, "PAIR")
        if show_side:
            add_side(b.add(" "), word(rng.choice(_ACTION[n.side][:2])))
    how = ((" NOW @ ", " @ ", " NOW "), (" FROM ", " FROM CMP ", " at "), (" at ",), (" CMP ",))
    if not show_side:
        how = ((" @ ",), (" entry ", " @ "), (" at ",), (" CMP ",))
    _entry(b.add(word(rng.choice(how[variant]))), n, rng)
    eq = " = " if variant == 1 else " "
    bar = " | " if variant == 2 else " "
    b.add(f"{bar}{word('SL')}{eq}").add(n.stop_loss, "STOP_LOSS")
    if variant == 2:
        numbers(b.add(f"{bar}{word('TP')} "), n.targets, "TARGET", " / ")
    else:
        for t in n.targets:
            b.add(f" {word('TP')}{eq}").add(t, "TARGET")
    return b.add(rng.choice(("", "", " ✅", " 🔥", "\nRisk small")))


def fx_flags(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    """Country flags, arrows and check marks: 🇪🇺🇺🇸 EURUSD ↗️BUY, ☑️ Entry ➡️, ❌Sl, ✅Tp."""
    inst = n.instrument
    flags = _FLAGS[inst.base] + _FLAGS.get(inst.quote, "")
    sep, to = rng.choice(_SEPARATORS), rng.choice(("➡️", " ➡️ ", ": ", " "))
    b = MessageText().add(f"{flags} ").add(fx_pair(inst, rng), "PAIR")
    if show_side:
        b.add(" " + rng.choice(_ARROWS[n.side]) + rng.choice(("", " ")))
        action = rng.choice(_ACTION[n.side][:3])
        add_side(b, action).add("" if "NOW" in action else rng.choice(("", " ➡️ Now", " NOW")))
    if rng.random() < 0.5:  # compact: entry on the first line
        _entry(b.add(rng.choice((" @ ", " at ", "\n☑️ @ "))), n, rng)
    else:
        _entry(b.add(f"\n{sep}\n☑️{rng.choice(('Entry', 'At', 'Price', ' Entry'))}{to}"), n, rng)
    b.add(f"\n{sep}" if rng.random() < 0.6 else "")
    tp = rng.choice(("Tp{k}", "TP{k}", "Tp", "TP {k}"))
    sl_line = ("\n❌" + rng.choice(("Sl", "SL", "S/L")) + to, n.stop_loss, "STOP_LOSS")
    lines = [(f"\n✅{tp.format(k=k)}{to}", t, "TARGET") for k, t in enumerate(n.targets, 1)]
    lines = [sl_line, *lines] if rng.random() < 0.6 else [*lines, sl_line]
    for text, value, label in lines:
        b.add(text).add(value, label)
    return b.add(rng.choice(("", f"\n{sep}", f"\n{sep}\n🔔 Follow the rules", "\n💯")))


def fx_multi_tp(n: SignalNumbers, rng: random.Random, show_side: bool) -> MessageText:
    """Numbered take-profits with pip counts: Take profit 1: 1.0880 (+30 pips), Stop loss, S/L."""
    inst = n.instrument
    unit = pip_word(inst, rng)
    b = MessageText().add(rng.choice(("", "", "NEW TRADE 🔔\n", "📊 FX SIGNAL\n", "⚡️ Setup\n")))
    b.add(fx_pair(inst, rng), "PAIR")
    if show_side:
        add_side(b.add(rng.choice((" ", "\n"))), _action(n, rng))
    _entry(
        b.add(
            rng.choice(
                ("\nEntry: ", "\nEntry price: ", "\nEntry @ ", "\nEntry zone: ")[
                    : 3 + (len(n.entries) > 1)
                ]
            )
        ),
        n,
        rng,
    )
    label = rng.choice(("Take profit {k}: ", "TP {k}: ", "Tp {k}: ", "Target {k}: ", "TP{k} "))
    for k, t in enumerate(n.targets, 1):
        b.add("\n" + label.format(k=k)).add(t, "TARGET")
        if rng.random() < 0.7:
            b.add(f" (+{pips(inst, t, n.entries[0])} {unit})")
    if rng.random() < 0.3:
        b.add("\n" + label.format(k=len(n.targets) + 1) + rng.choice(("open", "open 🔓", "runner")))
    b.add("\n" + rng.choice(("Stop loss: ", "Stop Loss @ ", "S/L ", "S/L: ", "SL: ")))
    b.add(n.stop_loss, "STOP_LOSS")
    if rng.random() < 0.6:
        b.add(f" (-{pips(inst, n.stop_loss, n.entries[0])} {unit})")
    return b.add(rng.choice(("", "\n\nRisk:Reward 1:2", "\nLot size: 0.01 per $100", "")))


FX_STYLES: dict[str, SignalStyle] = {
    "fx_terse": SignalStyle(fx_terse, (1, 1, 1, 2), (1, 1, 2, 3), 0.0),
    "fx_oneliner": SignalStyle(fx_oneliner, (1, 1, 2), (1, 1, 2), 0.0),
    "fx_flags": SignalStyle(fx_flags, (1, 1, 2), (1, 2, 3), 0.0),
    "fx_multi_tp": SignalStyle(fx_multi_tp, (1, 1, 2), (2, 3, 4), 0.0),
}
