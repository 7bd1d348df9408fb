"""Set-ups that state no side in words: level-only longs and shorts, and SIGNAL_NONE set-ups.

The class definition (ARCHITECTURE.md, :func:`trademl.signals.levels.side_from_levels`): a set-up
whose levels put every target above the entry and the stop below it is a long, the mirror a short,
even with no side word. SIGNAL_NONE is only a set-up whose direction can be read from neither: a
pair and an entry alone, targets on both sides of the entry, a stop on the target side. The same
layouts write both, so that what tells them apart is the levels, not the words around them.
"""

from __future__ import annotations

import random
from dataclasses import replace

from trademl.demo.fx_styles import fx_pair
from trademl.demo.instruments import (
    Instrument,
    SignalNumbers,
    format_price,
    make_signal_numbers,
    to_number,
)
from trademl.demo.markup import MessageText, Piece
from trademl.demo.style_kit import SignalStyle, numbers, pair_hashtag
from trademl.signals.levels import side_from_levels

#: Keywords per channel language (Spanish rooms write Portuguese too).
_WORDS = {
    "en": {
        "entry": ("Entry", "Entry:", "Entry zone:", "Entry price:", "ENTRY:", "Entries:"),
        "tp": ("TP", "TP:", "Targets:", "Take profit:", "Take-profit:", "TARGETS:"),
        "tp_k": ("TP{k}:", "TP{k}", "Target {k}:", "Tp {k}:", "T{k}:"),
        "sl": ("SL", "SL:", "Stop:", "Stop loss:", "Stop-loss:", "STOP:"),
        "lev": ("Leverage:", "Lev:", "Leverage"),
        "head": ("", "", "", "📊 ", "📌 ", "⚡️ ", "🔔 New trade\n", "NEW SETUP\n", "💎 "),
        "later": (
            "Targets: soon ⏳",
            "TP & SL coming soon",
            "Targets and stop in the VIP 🔒",
            "Levels to follow",
            "SL: will update",
            "Wait for the targets 👀",
        ),
    },
    "ru": {
        "entry": ("Вход:", "Точка входа:", "Вход", "Зона входа:"),
        "tp": ("Цели:", "Тейки:", "Цель:", "ТП:"),
        "tp_k": ("Цель {k}:", "Тейк {k}:", "TP{k}:"),
        "sl": ("Стоп:", "Стоп-лосс:", "SL:", "Стоп"),
        "lev": ("Плечо:",),
        "head": ("", "", "📊 ", "⚡️ ", "Монета: ", "Сделка\n"),
        "later": ("Цели и стоп — позже", "Тейки скоро ⏳", "Стоп обновим", "Цели в VIP 🔒"),
    },
    "es": {
        "entry": ("Entrada:", "Entrada", "Entrada @", "Zona de entrada:"),
        "tp": ("TP:", "Objetivos:", "Alvos:", "TP"),
        "tp_k": ("TP{k}:", "Objetivo {k}:", "Alvo {k}:", "Tp{k}"),
        "sl": ("SL:", "Stop loss:", "Stop:", "SL"),
        "lev": ("Apalancamiento:",),
        "head": ("", "", "🚨 ", "📢 Nueva operación\n", "⚡️ SINAL\n", "📊 "),
        "later": ("TP y SL en breve", "Alvos em breve ⏳", "Objetivos pronto 👀", "SL a confirmar"),
    },
}


def _words(lang: str) -> dict[str, tuple[str, ...]]:
    return _WORDS.get(lang, _WORDS["en"])


def _pair(b: MessageText, inst: Instrument, rng: random.Random) -> MessageText:
    """The pair as these channels name it, labelled PAIR (gold: the instrument's symbol)."""
    if inst.kind != "crypto":
        return b.add(fx_pair(inst, rng), "PAIR")
    form = rng.randrange(5 if inst.quote == "USDT" else 3)
    if form == 0:
        pair_hashtag(b, inst)
    elif form == 1:
        b.add(f"{inst.base}/{inst.quote}", "PAIR")
    elif form == 2:
        b.add(inst.symbol, "PAIR")
    elif form == 3:
        b.add_formatted("cashtag", "$", Piece(inst.base, "PAIR"))
    else:
        b.add_formatted("hashtag", "#", Piece(inst.base, "PAIR"))
    return b


def _kw(word: str) -> str:
    """A keyword followed by its value: "Entry:" then " ", "Entry" then " "."""
    return word if word.endswith((" ", "\n")) else word + " "


#: Side words when a stated signal is written in these layouts (labelled SIDE).
_SIDE_WORDS = {
    "en": {
        "LONG": ("Long", "LONG", "long", "Buy", "BUY"),
        "SHORT": ("Short", "SHORT", "short", "Sell", "SELL"),
    },
    "ru": {"LONG": ("ЛОНГ", "Лонг", "LONG"), "SHORT": ("ШОРТ", "Шорт", "SHORT")},
    "es": {"LONG": ("COMPRA", "Compra", "BUY"), "SHORT": ("VENTA", "Venta", "VENDA", "SELL")},
}
_SIDE_KEYS = {
    "en": ("Side", "Direction", "Position", "Type"),
    "ru": ("Направление", "Сделка"),
    "es": ("Dirección", "Direção", "Tipo"),
}


def _side(n: SignalNumbers, rng: random.Random, lang: str) -> str:
    return rng.choice(_SIDE_WORDS.get(lang, _SIDE_WORDS["en"])[n.side])


def lines_card(
    n: SignalNumbers, rng: random.Random, lang: str, show_side: bool = False
) -> MessageText:
    """PAIR / Entry 142.5 / TP 146 / 150 (or numbered) / SL 139, one field a line."""
    w = _words(lang)
    b = MessageText().add(rng.choice(w["head"]))
    _pair(b, n.instrument, rng)
    if show_side:
        b.add(rng.choice((" ", " ", "\n"))).add(_side(n, rng, lang), "SIDE")
    if n.leverage and n.instrument.kind == "crypto":
        b.add(rng.choice(("", "", " #futures", " (perp)")))
    numbers(
        b.add("\n" + _kw(rng.choice(w["entry"]))),
        n.entries,
        "ENTRY",
        rng.choice((" - ", "-", " / ")),
    )
    if n.leverage:
        b.add("\n" + _kw(rng.choice(w["lev"]))).add(str(n.leverage), "LEVERAGE").add("x")
    if n.targets:
        if rng.random() < 0.5:
            numbers(
                b.add("\n" + _kw(rng.choice(w["tp"]))),
                n.targets,
                "TARGET",
                rng.choice((" / ", " - ", ", ", " ")),
            )
        else:
            word = rng.choice(w["tp_k"])
            for k, t in enumerate(n.targets, 1):
                b.add("\n" + _kw(word.format(k=k))).add(t, "TARGET")
    if n.stop_loss is not None:
        b.add("\n" + _kw(rng.choice(w["sl"]))).add(n.stop_loss, "STOP_LOSS")
    if not n.targets and n.stop_loss is None and rng.random() < 0.6:
        b.add("\n" + rng.choice(w["later"]))
    return b


_ENTRY_INLINE = {
    "en": (" entry ", " Entry: ", " entry zone ", " Entry @ ", " entries "),
    "ru": (" вход ", " Вход: ", " точка входа "),
    "es": (" entrada ", " Entrada: ", " entrada @ "),
}


def one_liner(
    n: SignalNumbers, rng: random.Random, lang: str, show_side: bool = False
) -> MessageText:
    """XAUUSD 2340 tp 2350 sl 2328, SOL/USDT @ 142.5 | TP 146 150 | SL 139."""
    bar = rng.choice((" ", " ", " | ", ", "))
    b = _pair(MessageText(), n.instrument, rng)
    if show_side:
        b.add(" ").add(_side(n, rng, lang), "SIDE")
    if n.targets or n.stop_loss is not None:
        b.add(rng.choice((" ", " @ ", ": ", " entry ", " at ")))
    else:  # a pair and a price alone is a quote; a pair and an entry is a set-up
        b.add(rng.choice(_ENTRY_INLINE.get(lang, _ENTRY_INLINE["en"])))
    numbers(b, n.entries, "ENTRY", rng.choice(("-", " - ", "/")))
    parts = []
    if n.targets:
        parts.append((rng.choice(("tp", "TP", "tps", "targets", "Tp")), n.targets, "TARGET"))
    if n.stop_loss is not None:
        parts.append((rng.choice(("sl", "SL", "stop", "Sl")), (n.stop_loss,), "STOP_LOSS"))
    if rng.random() < 0.3:
        parts.reverse()
    for word, values, label in parts:
        numbers(b.add(f"{bar}{word} "), values, label, rng.choice((" ", "/", ", ")))
    if n.leverage:
        b.add(rng.choice((" ", bar))).add(str(n.leverage), "LEVERAGE").add("x")
    return b.add(rng.choice(("", "", "", " 🔥", " 👀", " ⏳")))


_TABLE_KEYS = {
    "en": ("Pair", "Entry", "TP{k}", "Stop", "Leverage"),
    "ru": ("Пара", "Вход", "Цель {k}", "Стоп", "Плечо"),
    "es": ("Par", "Entrada", "TP{k}", "Stop", "Apalancamiento"),
}


def table_card(
    n: SignalNumbers, rng: random.Random, lang: str, show_side: bool = False
) -> MessageText:
    """A key-value card with aligned or bulleted keys: Pair │ ETH/USDT, Entry │ 3100, TP1 │ ..."""
    pair_key, entry_key, tp_key, stop_key, lev_key = _TABLE_KEYS.get(lang, _TABLE_KEYS["en"])
    bullet, sep = rng.choice((("", " │ "), ("• ", ": "), ("▫️", ": "), ("", " | "), ("- ", " — ")))
    rows: list[tuple[str, tuple[str, ...], str]] = [(entry_key, n.entries, "ENTRY")]
    if n.leverage:
        rows.append((lev_key, (f"{n.leverage}",), "LEVERAGE"))
    rows += [(tp_key.format(k=k), (t,), "TARGET") for k, t in enumerate(n.targets, 1)]
    if n.stop_loss is not None:
        rows.append((stop_key, (n.stop_loss,), "STOP_LOSS"))
    side_key = rng.choice(_SIDE_KEYS.get(lang, _SIDE_KEYS["en"]))
    keys = [pair_key, *(k for k, _, _ in rows), *([side_key] if show_side else [])]
    width = max(len(k) for k in keys) if "│" in sep else 0
    b = MessageText().add(rng.choice(("", "", "━━━━━━━━\n", "〰️〰️〰️\n")))
    b.add(bullet + pair_key.ljust(width) + sep)
    _pair(b, n.instrument, rng)
    if show_side:
        b.add("\n" + bullet + side_key.ljust(width) + sep).add(_side(n, rng, lang), "SIDE")
    for key, values, label in rows:
        b.add("\n" + bullet + key.ljust(width) + sep)
        numbers(b, values, label, " - ")
        if label == "LEVERAGE":
            b.add("x")
    return b


LAYOUTS = {"lines_card": lines_card, "one_liner": one_liner, "table_card": table_card}
_LAYOUT_WEIGHTS = (50, 28, 22)


def level_layout(
    n: SignalNumbers, rng: random.Random, lang: str, show_side: bool = False
) -> tuple[MessageText, str]:
    """One of the plain layouts; no side word and no directional emoji unless ``show_side``
    (stated signals are written in them too, so a layout says nothing about the class).
    Returns (body, layout name)."""
    name = rng.choices(tuple(LAYOUTS), weights=_LAYOUT_WEIGHTS)[0]
    return LAYOUTS[name](n, rng, lang, show_side), name


def _decimals(surface: str) -> int:
    return len(surface.partition(".")[2])


def _implied(n: SignalNumbers) -> str | None:
    stop = to_number(n.stop_loss) if n.stop_loss is not None else None
    return side_from_levels(
        [to_number(e) for e in n.entries], [to_number(t) for t in n.targets], stop
    )


def level_numbers(
    rng: random.Random, inst: Instrument, day: int, style: SignalStyle
) -> SignalNumbers:
    """A level-only long or short; now and then without a stop (its targets still say it)."""
    n = _numbers(rng, inst, day, style)
    if rng.random() < 0.1:
        n = replace(n, stop_loss=None)
    assert _implied(n) == n.side, n
    return n


def _numbers(
    rng: random.Random, inst: Instrument, day: int, style: SignalStyle, min_targets: int = 1
) -> SignalNumbers:
    return make_signal_numbers(
        rng,
        inst,
        day,
        n_entries=rng.choice(style.entries),
        n_targets=max(min_targets, rng.choice(style.targets)),
        leverage=rng.random() < style.leverage_p,
        sides=style.sides,
    )


#: What makes a SIGNAL_NONE set-up directionless, and how often.
NONE_HOW = {"entry_only": 50, "both_sides": 25, "stop_on_target_side": 25}


def none_numbers(
    rng: random.Random, inst: Instrument, day: int, style: SignalStyle, how: str
) -> SignalNumbers:
    """Levels that imply no side (``how``: a key of :data:`NONE_HOW`); ``side`` is None."""
    for _ in range(20):
        n = _numbers(rng, inst, day, style, min_targets=2 if how == "both_sides" else 1)
        d = _decimals(n.entries[0])
        entry = to_number(n.entries[0])

        def mirror(v: str, entry: float = entry, d: int = d) -> str:
            return format_price(2 * entry - to_number(v), d)

        if how == "entry_only":
            n = replace(n, targets=(), stop_loss=None)
        elif how == "both_sides":  # a target or more on the other side of the entry
            flip = set(rng.sample(range(1, len(n.targets)), k=rng.randint(1, len(n.targets) - 1)))
            if rng.random() < 0.5:
                flip = set(range(len(n.targets))) - flip  # the first target mirrored instead
            targets = tuple(mirror(t) if k in flip else t for k, t in enumerate(n.targets))
            n = replace(n, targets=targets, stop_loss=n.stop_loss if rng.random() < 0.7 else None)
        else:  # the stop on the target side: a typo, or a contradiction nobody can trade
            n = replace(n, stop_loss=mirror(n.stop_loss))
        n = replace(n, side=None)
        if _implied(n) is None and all(to_number(v) > 0 for v in n.targets):
            return n
    raise AssertionError(f"no directionless levels for {inst.symbol}")  # pragma: no cover
