"""Results and updates shaped like signals: NON_SIGNAL posts that repeat a call's pair, direction,
entry and targets, with the targets ticked, a profit per target, "closed at", "all targets
achieved" or a stop hit. They restate the earlier signal's real numbers (``about``), in the
channel's language, so a classifier has to read that the trade is over, not that it has levels.
"""

from __future__ import annotations

import random

from trademl.demo.fx_styles import fx_pair
from trademl.demo.instruments import SignalNumbers, format_price, to_number
from trademl.demo.markup import MessageText
from trademl.demo.style_kit import pip_word, pips

_TICKS = ("✅", "✅", "✔️", "☑️", "✔")
_SIDES = {
    "en": {"LONG": ("LONG", "Long", "long"), "SHORT": ("SHORT", "Short", "short")},
    "fx": {"LONG": ("BUY", "Buy", "LONG"), "SHORT": ("SELL", "Sell", "SHORT")},
    "ru": {"LONG": ("ЛОНГ", "Лонг", "LONG"), "SHORT": ("ШОРТ", "Шорт", "SHORT")},
    "es": {"LONG": ("COMPRA", "Compra", "BUY"), "SHORT": ("VENTA", "Venta", "SELL")},
    "pt": {"LONG": ("COMPRA", "Compra", "BUY"), "SHORT": ("VENDA", "Venda", "SELL")},
}
_WORDS = {
    "en": {
        "coin": ("📍Coin: ", "", "💎 ", "Pair: "),
        "direction": ("Direction: ", "Side: ", "Position: ", ""),
        "entry": ("Entry: ", "Entry ", "Entered at ", "Entry price: "),
        "target": ("TP{k}", "Target {k}", "TP {k}", "T{k}"),
        "hit": ("hit", "reached", "done", "achieved"),
        "pending": ("⏳", "pending", "open", "🔜"),
        "profit": ("Profit: ", "Total profit: ", "Gain: ", "PnL: ", ""),
        "closed": ("Closed at ", "closed at ", "Closed manually at ", "Exit: "),
        "all": ("All targets achieved 🎯", "ALL TARGETS HIT 🎯🎯🎯", "All take-profits done ✅"),
        "stop": ("Stop loss hit at {s} ❌", "SL hit {s} ❌", "Stopped out at {s}"),
        "update": ("Signal update", "RESULT", "🔥 Update", "Trade update", "📊 Result"),
        "period": "Period: {h}h {m}m ⏰",
        "lev": "{lev}x leverage",
    },
    "ru": {
        "coin": ("Монета: ", "", "💎 ", "Пара: "),
        "direction": ("Направление: ", ""),
        "entry": ("Вход: ", "Вход ", "Точка входа: "),
        "target": ("Тейк {k}", "TP{k}", "Тейк {k}"),
        "hit": ("взят", "достигнут", "есть"),
        "pending": ("⏳", "в работе"),
        "profit": ("Прибыль: ", "Профит: ", "Итог: "),
        "closed": ("Закрыли по ", "Закрыто по ", "Вышли по "),
        "all": ("Все цели достигнуты 🎯", "ВСЕ ТЕЙКИ ВЗЯТЫ 🎯🎯", "Все цели отработали ✅"),
        "stop": ("Выбило по стопу {s} ❌", "Стоп сработал {s} ❌"),
        "update": ("Обновление", "Результат", "🔥 Отчёт по сделке"),
        "period": "Время: {h} ч {m} мин ⏰",
        "lev": "Плечо {lev}x",
    },
    "es": {
        "coin": ("Par: ", "", "💎 ", "Activo: "),
        "direction": ("Dirección: ", ""),
        "entry": ("Entrada: ", "Entrada ", "Entramos en "),
        "target": ("TP{k}", "Objetivo {k}", "Tp {k}"),
        "hit": ("alcanzado", "tocado", "logrado"),
        "pending": ("⏳", "pendiente"),
        "profit": ("Ganancia: ", "Resultado: ", ""),
        "closed": ("Cerrado en ", "Cerramos en "),
        "all": ("Todos los objetivos alcanzados 🎯", "TODOS LOS TP ✅"),
        "stop": ("SL tocado en {s} ❌", "Stop loss tocado {s} ❌"),
        "update": ("Actualización", "Resultado"),
        "period": "Tiempo: {h}h {m}m ⏰",
        "lev": "Apalancamiento {lev}x",
    },
    "pt": {
        "coin": ("Par: ", "", "💎 ", "Ativo: "),
        "direction": ("Direção: ", ""),
        "entry": ("Entrada: ", "Entrada ", "Entramos em "),
        "target": ("Alvo {k}", "TP{k}", "Alvo {k}"),
        "hit": ("atingido", "batido", "alcançado"),
        "pending": ("⏳", "em aberto"),
        "profit": ("Lucro: ", "Resultado: ", ""),
        "closed": ("Fechado em ", "Encerrado em "),
        "all": ("Todos os alvos atingidos 🎯", "TODOS OS ALVOS ✅"),
        "stop": ("Stop atingido {s} ❌", "Stopado em {s} ❌"),
        "update": ("Atualização", "🔥 Resultado"),
        "period": "Tempo: {h}h {m}m ⏰",
        "lev": "Alavancagem {lev}x",
    },
}


def _pair_text(b: MessageText, about: SignalNumbers, rng: random.Random) -> MessageText:
    inst = about.instrument
    if inst.kind != "crypto":
        return b.add(fx_pair(inst, rng))
    form = rng.randrange(4)
    if form == 0:
        return b.add(f"#{inst.base}", fmt="hashtag").add(f"/{inst.quote}")
    if form == 1:
        return b.add(f"{inst.base}/{inst.quote}")
    if form == 2 and inst.quote == "USDT":
        return b.add(f"${inst.base}", fmt="cashtag")
    return b.add(inst.symbol)


class _Gain:
    """Profit of a price against the entry, as the channel writes it: +12.4% (10x) or +35 pips."""

    def __init__(self, about: SignalNumbers, rng: random.Random) -> None:
        self.about = about
        self.entry = to_number(about.entries[0])
        self.sign = 1.0 if about.side == "LONG" else -1.0
        self.fx = about.instrument.kind != "crypto"
        self.unit = pip_word(about.instrument, rng) if self.fx else "%"
        self.lev = about.leverage if about.leverage and rng.random() < 0.7 else 1

    def of(self, price: str) -> str:
        if self.fx:
            n = pips(self.about.instrument, price, self.about.entries[0])
            moved = self.sign * (to_number(price) - self.entry)
            return f"{'+' if moved >= 0 else '-'}{n} {self.unit}"
        pct = self.sign * (to_number(price) / self.entry - 1.0) * 100 * self.lev
        return f"{pct:+.1f}%"

    @property
    def lev_note(self) -> str:
        return f" ({self.lev}x)" if self.lev > 1 else ""


def _closed_price(about: SignalNumbers, rng: random.Random) -> str:
    """A price between the entry and the first target, written like the signal's prices."""
    e, t = to_number(about.entries[0]), to_number(about.targets[0])
    decimals = len(about.entries[0].partition(".")[2])
    return format_price(e + (t - e) * rng.uniform(0.35, 0.95), decimals)


def result_post(rng: random.Random, lang: str, about: SignalNumbers) -> tuple[MessageText, str]:
    """A result of ``about`` (a signal with a side and targets); returns (body, layout name)."""
    lang = lang if lang in _WORDS else "en"
    if lang == "es":  # Latin American rooms post in Spanish and Portuguese
        lang = rng.choice(("es", "pt"))
    w = _WORDS[lang]
    fx_words = lang == "en" and about.instrument.kind != "crypto"
    side = rng.choice(_SIDES["fx" if fx_words else lang][about.side])
    gain = _Gain(about, rng)
    hit = rng.randint(1, len(about.targets))
    layout = rng.choices(
        ("card", "per_target", "closed", "all_targets", "one_liner", "stopped"),
        weights=(26, 20, 16, 14, 16, 8),
    )[0]
    if layout == "all_targets":
        hit = len(about.targets)
    if layout == "stopped" and about.stop_loss is None:  # no stop to be stopped out at
        layout = "closed"
    tick = rng.choice(_TICKS)
    b = MessageText()
    if layout == "card":  # the signal card again, with ticks and a profit
        b.add(rng.choice(("", "", rng.choice(w["update"]) + "\n")))
        _pair_text(b.add(rng.choice(w["coin"])), about, rng)
        if rng.random() < 0.7:
            b.add("\n" + rng.choice(w["direction"]) + side)
        b.add("\n" + rng.choice(w["entry"]) + " - ".join(about.entries) + "\n")
        word = rng.choice(w["target"])
        for k, t in enumerate(about.targets, 1):
            mark = tick if k <= hit else rng.choice(w["pending"])
            b.add(f"\n{word.format(k=k)}: {t} {mark}")
        last = about.targets[hit - 1]
        b.add("\n\n" + rng.choice(w["profit"]) + gain.of(last) + gain.lev_note)
        if rng.random() < 0.4:
            b.add("\n" + w["period"].format(h=rng.randint(0, 40), m=rng.randint(0, 59)))
        return b, "result_card"
    if layout == "per_target":  # a profit percentage per target
        _pair_text(b, about, rng)
        b.add(" " + side if rng.random() < 0.6 else "")
        word = rng.choice(w["target"])
        for k, t in enumerate(about.targets[:hit], 1):
            b.add(f"\n{word.format(k=k)} {tick} {gain.of(t)}")
            if rng.random() < 0.6:
                b.add(f" ({t})")
        if gain.lev > 1:
            b.add("\n" + w["lev"].format(lev=gain.lev))
        return b, "result_per_target"
    if layout == "closed":
        price = _closed_price(about, rng)
        _pair_text(b, about, rng)
        b.add(" " + side + "\n" + rng.choice(w["entry"]) + about.entries[0] + "\n")
        b.add(rng.choice(w["closed"]) + price + f" {tick} " + gain.of(price) + gain.lev_note)
        return b, "result_closed"
    if layout == "all_targets":
        b.add(rng.choice(w["all"]) + "\n")
        _pair_text(b, about, rng)
        b.add(" " + side + rng.choice((" ", " @ ", " from ")) + about.entries[0] + "\n")
        b.add(" ".join(f"{t} {tick}" for t in about.targets))
        return b.add("\n" + rng.choice(w["profit"]) + gain.of(about.targets[-1])), (
            "result_all_targets"
        )
    if layout == "one_liner":  # SOL long 185.2 → TP2 192.6 hit ✅ +4.0%
        _pair_text(b, about, rng)
        t = about.targets[hit - 1]
        word = rng.choice(w["target"]).format(k=hit)
        b.add(f" {side} {about.entries[0]} → {word} {t} {rng.choice(w['hit'])} {tick}")
        return b.add(f" ({gain.of(t)}{gain.lev_note.replace(' (', ', ').rstrip(')')})"), (
            "result_one_liner"
        )
    _pair_text(b, about, rng)  # stopped out: the stop repeated, a loss
    stop = about.stop_loss or about.entries[0]
    b.add(" " + side + "\n" + rng.choice(w["entry"]) + about.entries[0] + "\n")
    return b.add(rng.choice(w["stop"]).format(s=stop) + " " + gain.of(stop)), "result_stopped"
