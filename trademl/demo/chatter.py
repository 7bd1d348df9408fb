"""Everything in a signal channel that is not a new signal: chatter, news, ads, updates, results.

All of it is NON_SIGNAL, and much of it names pairs and numbers on purpose (news, "TP1 hit"), so a
classifier has to learn more than "has a coin and a price". English channels also post the
look-alikes of :mod:`lookalikes` (results with pips, stop moves, levels to watch, recaps); every
channel's follow-ups include the signal-shaped result cards of :mod:`results`, and its small talk
direction words that are no side ("short squeeze", "long-term hold", "longs liquidated").
"""

from __future__ import annotations

import math
import random

from trademl.demo.instruments import CRYPTO, Instrument, SignalNumbers, pick_instrument
from trademl.demo.lookalikes import lookalike
from trademl.demo.markup import MessageText

_GREETINGS_EN = (
    "gm fam ☀️",
    "Good morning traders! Coffee ready? ☕",
    "gn everyone 🌙",
    "GM GM",
    "hello from Lagos 👋",
    "Happy Monday degens",
    "weekend vibes, markets are slow",
    "anyone awake?",
    "wagmi 💪",
)
_QUESTIONS_EN = (
    "what leverage do you use for {b}?",
    "is it too late to enter {b}??",
    "admin when next signal",
    "which exchange do u use?",
    "how do I set SL on bybit",
    "anyone still holding {b}?",
    "Can someone explain what cross margin means",
    "is {b} going to dump again lol",
    "how much % of portfolio per trade?",
    "why is {b} so slow today",
)
_NEWS_EN = (
    "BTC ETF inflows hit ${x:.1f}B this week 📈",
    "Fed holds rates at {r:.2f}%, markets flat",
    "{b} open interest up {p}% in 24h",
    "ETH gas down to {g} gwei",
    "Binance lists new {b} perpetual pairs",
    "CPI comes out tomorrow at 8:30 ET, expect volatility ⚠️",
    "{b} TVL up {p}% this week",
    "Whale moved {k},000 {b} to an exchange 🐋",
    "{b} breaks {lvl}, next stop {lvl2}?",
    "Funding rates turning negative on {b}",
    "Liquidations: ${x:.1f}B longs wiped in 24h",
)
_ADS_EN = (
    "🔥 Join VIP {p}% off this week only 🔥",
    "🎁 Free trial of our premium group, DM admin",
    "Our VIP made +{p}00% last month. Limited slots!",
    "📢 Trade on our partner exchange, 20% fee discount",
)
_CHAT_EN = (
    "thanks for the last one, nice profit 🙏",
    "lost my bag on that one 😭",
    "patience is key",
    "lol my SL got hunted again",
    "market makers playing games today",
    "this channel is the best 🔥",
    "Remember: never risk more than you can afford to lose",
    "charts look bullish tbh",
    "so choppy today",
)
#: Direction words that are no side: horizons, liquidations, sayings. Every pool gets some, so
#: "long" or "short" in a message says nothing about its class by itself.
_CONFOUNDERS_EN = (
    "short term pain, long term gain 💪",
    "{b} is a long-term hold for me, not selling",
    "short squeeze incoming on {b}? funding deeply negative",
    "longs liquidated again, ${x:.1f}B wiped overnight",
    "buy the rumour, sell the news 🤷",
    "shorts got rekt on that {b} wick 😂",
    "too many longs on {b}, careful",
    "short-term bearish, long-term bullish on {b}",
    "who's still buying this? I'm sitting on my hands",
    "Sell in May and go away? 😅",
    "{b} longs vs shorts ratio at {p}/{q}",
    "long time no see, {b} at these prices",
)
_CONFOUNDERS_FX = (
    "short term pain, long term gain 💪",
    "buy the rumour, sell the news 🤷",
    "dollar longs crowded into NFP",
    "short-term the trend is down, long-term still up",
    "sellers stepped in at the highs yesterday",
    "long week, see you Monday 🙏",
)
_CONFOUNDERS_RU = (
    "Лонги снова ликвидировали, ${x:.1f} млрд за ночь",
    "Шортистов вынесло на {b} 😂",
    "{b} держу долгосрочно, не продаю",
    "Покупай на слухах, продавай на фактах 🤷",
    "Краткосрочно медвежий, долгосрочно бычий взгляд на {b}",
    "Шорт-сквиз на {b}? Фандинг сильно отрицательный",
)
_CONFOUNDERS_ES = (
    "Compra el rumor, vende la noticia 🤷",
    "{b} a largo plazo sigo alcista",
    "Los cortos liquidados en {b} 😂",
    "Compre no boato, venda no fato",
    "Corto plazo bajista, largo plazo alcista",
    "Semana larga, nos vemos el lunes 🙏",
)
_GREETINGS_RU = (
    "Всем доброе утро ☀️",
    "Привет всем!",
    "Доброй ночи, трейдеры 🌙",
    "Всем хорошего дня 💪",
)
_QUESTIONS_RU = (
    "Какое плечо берёте на {b}?",
    "Ещё можно заходить в {b}?",
    "Админ, когда следующий сигнал?",
    "Какую биржу используете?",
    "Кто ещё держит {b}?",
)
_NEWS_RU = (
    "Притоки в BTC ETF достигли ${x:.1f} млрд за неделю",
    "ФРС сохранила ставку {r:.2f}%",
    "{b} пробил {lvl}, следующая цель {lvl2}?",
    "Открытый интерес по {b} вырос на {p}%",
)
_ADS_RU = (
    "🔥 VIP канал со скидкой {p}% только сегодня!",
    "Пишите админу за доступом в закрытый чат",
)
_CHAT_RU = (
    "Спасибо за сигнал, хороший профит 🙏",
    "Опять выбило по стопу 😭",
    "Терпение — ключ к успеху",
)


def _fill(template: str, rng: random.Random, inst: Instrument) -> str:
    decimals = 2 - math.floor(math.log10(inst.price))
    level = round(inst.price * rng.uniform(0.97, 1.03), decimals)
    decimals = max(decimals, 0)  # fixed-point: sat-priced alts must not print as 4.1e-06
    return template.format(
        b=inst.base,
        x=rng.uniform(0.3, 3.5),
        r=rng.choice((4.25, 4.5, 4.75)),
        p=rng.choice((12, 25, 30, 50)),
        g=rng.randint(4, 40),
        k=rng.randint(1, 20),
        lvl=f"{level:.{decimals}f}",
        lvl2=f"{level * 1.05:.{decimals}f}",
        q=rng.choice((48, 55, 61, 70)),
    )


#: Spanish and Portuguese FX rooms: greetings, talk about levels, and follow-ups on a call.
_CHAT_ES = (
    "Buenos días traders ☀️",
    "¿Alguien operando {b} hoy?",
    "Hoy hay NFP, cuidado con la volatilidad ⚠️",
    "Semana muy buena, gracias equipo 🙏",
    "Bom dia pessoal! Café pronto? ☕",
    "{b} sigue lateral, paciencia",
    "Mañana publicamos el análisis semanal 📊",
    "Quem entrou no {b} ontem?",
)
_UPDATES_ES = (
    "TP{k} alcanzado ✅ +{pct} pips",
    "Cerramos {pair} en ganancia 💰",
    "Mover SL a entrada en {pair}",
    "SL tocado en {pair} ❌",
    "{pair} Alvo {k} atingido 🎯",
    "Operación cancelada en {pair}, no se activó la entrada",
)

#: Share of English chatter that is a look-alike; FX rooms talk levels and pips more than crypto.
_LOOKALIKE_CHAT_P = {"crypto": 0.3, "btc_alts": 0.3, "forex": 0.45, "fx": 0.55, "gold": 0.55}
_FX_UNIVERSES = ("forex", "fx", "gold")


def chatter(rng: random.Random, lang: str, universe: str) -> MessageText:
    """A greeting, question, news item, promo, plain talk or a look-alike with levels."""
    inst = pick_instrument(rng, universe) if universe != "crypto" else rng.choice(CRYPTO[:5])
    if rng.random() < 0.12:
        pool = {"ru": _CONFOUNDERS_RU, "es": _CONFOUNDERS_ES}.get(lang, _CONFOUNDERS_EN)
        if lang == "en" and universe in _FX_UNIVERSES:
            pool = _CONFOUNDERS_FX
        return MessageText().add(_fill(rng.choice(pool), rng, inst))
    if lang == "es":
        return MessageText().add(_fill(rng.choice(_CHAT_ES), rng, inst))
    if lang != "ru" and rng.random() < _LOOKALIKE_CHAT_P.get(universe, 0.3):
        kinds = ("analysis", "news", "question", "recap", "ad")
        return MessageText().add(lookalike(rng, inst, pick_instrument(rng, universe), kinds))
    if universe in _FX_UNIVERSES:  # crypto news and exchange questions make no sense here
        return MessageText().add(rng.choice(_GREETINGS_EN + _CHAT_EN))
    pools = (
        (_GREETINGS_RU, _QUESTIONS_RU, _NEWS_RU, _ADS_RU, _CHAT_RU)
        if lang == "ru"
        else (_GREETINGS_EN, _QUESTIONS_EN, _NEWS_EN, _ADS_EN, _CHAT_EN)
    )
    kind = rng.choices(range(5), weights=(20, 25, 25, 10, 20))[0]
    text = _fill(rng.choice(pools[kind]), rng, inst)
    b = MessageText()
    if kind == 3:  # promos come with a link, which Telegram turns into a link entity
        b.add(text + "\n👉 ").add(f"https://t.me/+{rng.randrange(16**10):010x}", fmt="link")
    elif kind == 2 and rng.random() < 0.4:
        b.add("BREAKING:", fmt="bold").add(" " + text + " ").add(f"#{inst.base}", fmt="hashtag")
    else:
        b.add(text)
    return b


_UPDATES_EN = (
    "TP{k} hit ✅ +{pct}%",
    "{pair} Take-Profit target {k} ✅\nProfit: {pct}% 📈\nPeriod: {h} Hours {m} Minutes ⏰",
    "move SL to entry on {pair}",
    "closed {b} in profit 💰",
    "SL hit on {pair} ❌ -{loss}%",
    "all targets done 🎯🎯🎯 {pair}",
    "{pair} TP{k} reached, book some profit and move stop to BE",
    "{b} {k} targets hit, +{pct}% with {lev}x 🚀",
    "Cancelled: {pair} entry not triggered",
    "Closed {b} manually at {price}, market looks weak",
    "{pair} All entry targets achieved",
)
_UPDATES_RU = (
    "Тейк {k} взят ✅ +{pct}%",
    "{pair} все цели отработали 🎯",
    "Переносим стоп в безубыток по {b}",
    "Выбило по стопу {pair} ❌",
    "Закрыли {b} в плюс 💰 +{pct}%",
)


def update(
    rng: random.Random, lang: str, about: SignalNumbers | None, universe: str
) -> MessageText:
    """A follow-up on an earlier signal: target hit, stop moved, closed, cancelled."""
    inst = about.instrument if about else pick_instrument(rng, universe)
    if lang not in ("ru", "es") and rng.random() < (0.5 if inst.kind == "crypto" else 0.75):
        kinds = ("result", "manage")
        return MessageText().add(lookalike(rng, inst, pick_instrument(rng, universe), kinds))
    targets = about.targets if about and about.targets else ()
    price = targets[0] if targets else f"{inst.price:g}"
    template = rng.choice({"ru": _UPDATES_RU, "es": _UPDATES_ES}.get(lang, _UPDATES_EN))
    if inst.kind == "crypto":
        pair_text = rng.choice((f"#{inst.base}/{inst.quote}", inst.symbol, inst.base))
    else:
        pair_text = "GOLD" if inst.symbol == "XAUUSD" else inst.symbol
        template = template.replace("{b}", "{pair}").replace(" with {lev}x", "")
    text = template.format(
        k=rng.randint(1, len(targets) or 3),
        pct=round(rng.uniform(3, 120), 1),
        h=rng.randint(0, 30),
        m=rng.randint(0, 59),
        pair="{pair}",
        b=inst.base,
        loss=round(rng.uniform(5, 60), 1),
        lev=(about.leverage if about and about.leverage else 10),
        price=price,
    )
    b = MessageText()
    head, sep, tail = text.partition("{pair}")
    b.add(head)
    if sep:
        if pair_text.startswith("#"):
            b.add(f"#{inst.base}", fmt="hashtag").add(f"/{inst.quote}")
        else:
            b.add(pair_text)
    return b.add(tail)
