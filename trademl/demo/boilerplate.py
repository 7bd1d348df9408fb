"""Channel boilerplate: disclaimers, "expected duration" lines, referral and VIP links.

Real channels stamp the same lines on signals, results and small talk alike, so a line here carries
no class. Some of them hold direction words that are no side ("Expected duration: Short and
medium term" under a long): a classifier has to learn that they say nothing about the trade. A
line is inserted whole between segments, never labelled, so it adds no entity and changes no gold
field.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from trademl.demo.markup import MessageText, Piece, Segment

_DISCLAIMERS = {
    "en": (
        "Not financial advice. DYOR",
        "⚠️ NFA / DYOR",
        "Disclaimer: not financial advice, trade at your own risk.",
        "Trading is risky. Only risk what you can afford to lose.",
        "This is not investment advice 🙏",
        "dyor, nfa",
    ),
    "ru": (
        "Не является инвестиционной рекомендацией.",
        "⚠️ Не финсовет. Торгуйте на свой риск",
        "DYOR. Не ИИР",
        "Торговля связана с риском, рискуйте только свободными деньгами",
    ),
    "es": (
        "No es asesoría financiera. DYOR",
        "⚠️ Operar conlleva riesgo",
        "Não é recomendação de investimento.",
        "Aviso: no es consejo financiero, opera bajo tu propio riesgo",
    ),
}
_DURATIONS = {
    "en": (
        "Expected duration: Short and medium term",
        "Expected duration: mid-term",
        "Expected duration: Short term",
        "Duration: long-term",
        "⏳ Expected duration: short to mid term",
        "Trade type: Short-term",
        "Holding period: long term",
        "Timeframe: Short and long term",
    ),
    "ru": (
        "Срок: краткосрочно / среднесрочно",
        "Ожидаемая длительность: Short term",
        "⏳ Срок сделки: среднесрочная",
        "Горизонт: долгосрочно",
    ),
    "es": (
        "Duración estimada: corto y mediano plazo",
        "Duración: Short term",
        "Prazo: curto e médio prazo",
        "⏳ Horizonte: largo plazo",
    ),
}
_EXCHANGES = ("Bybit", "Binance", "OKX", "Bitget", "MEXC", "BingX")
_FX_BROKERS = ("Exness", "IC Markets", "XM", "FBS", "Vantage")
_REFERRALS = {
    "en": (
        "Register on {ex}: {url}",
        "💰 Trade on {ex} with our link: {url}",
        "Join VIP: t.me/{handle}",
        "📲 VIP access: t.me/+{invite}",
        "Free $30 bonus on {ex} 👉 {url}",
        "Questions? DM @{handle}",
    ),
    "ru": (
        "Регистрация на {ex}: {url}",
        "VIP канал: t.me/+{invite}",
        "По вопросам: @{handle}",
        "Бонус до 30$ на {ex} 👉 {url}",
    ),
    "es": (
        "Regístrate en {ex}: {url}",
        "Únete al VIP: t.me/{handle}",
        "Canal VIP 👉 t.me/+{invite}",
        "Abra sua conta na {ex}: {url}",
    ),
}
_URLS = {
    "Bybit": "https://partner.bybit.com/b/{code}",
    "Binance": "https://accounts.binance.com/register?ref={code}",
    "OKX": "https://www.okx.com/join/{code}",
    "Bitget": "https://partner.bitget.com/bg/{code}",
    "MEXC": "https://www.mexc.com/register?inviteCode={code}",
    "BingX": "https://bingx.com/invite/{code}",
}
_FX_URL = "https://one.{host}.com/a/{code}"


@dataclass(frozen=True)
class Boilerplate:
    """The lines one channel stamps on its posts, and how often."""

    lines: tuple[str, ...]
    rate: float  # share of the channel's messages that carry one (or two) of them


def channel_boilerplate(rng: random.Random, lang: str, handle: str, fx: bool) -> Boilerplate:
    """A channel's own lines: a few of the pools, its referral link and VIP handle filled in."""
    lang = lang if lang in _DISCLAIMERS else "en"
    code = "".join(
        rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(rng.choice((6, 8)))
    )
    invite = f"{rng.randrange(16**12):012x}"
    if fx:
        broker = rng.choice(_FX_BROKERS)
        url = _FX_URL.format(host=broker.lower().replace(" ", ""), code=code.lower())
    else:
        broker = rng.choice(_EXCHANGES)
        url = _URLS[broker].format(code=code)
    referrals = [
        t.format(ex=broker, url=url, handle=handle, invite=invite) for t in _REFERRALS[lang]
    ]
    pools = (_DISCLAIMERS[lang], _DURATIONS[lang], tuple(referrals))
    lines: list[str] = []
    for pool in pools:
        lines += rng.sample(pool, k=min(len(pool), rng.choice((1, 2))))
    if lang != "en" and rng.random() < 0.5:  # channels abroad copy English boilerplate too
        lines.append(rng.choice(_DURATIONS["en"] + _DISCLAIMERS["en"]))
    return Boilerplate(tuple(lines), rate=rng.uniform(0.12, 0.3))


def stamp(body: MessageText, boiler: Boilerplate, rng: random.Random) -> tuple[str, ...]:
    """Insert one or two of the channel's lines into ``body`` (at the end mostly, else at the
    start or after a line break between two segments); returns the lines inserted.

    The same draw for every kind of message, so the lines say nothing about the class.
    """
    if not body.segments or rng.random() >= boiler.rate:
        return ()
    lines = tuple(rng.sample(boiler.lines, k=1 if rng.random() < 0.8 else 2))
    where = rng.random()
    breaks = [
        k + 1
        for k, seg in enumerate(body.segments[:-1])
        if seg.text.endswith("\n\n") and seg.fmt is None  # between paragraphs, not inside one
    ]
    if where < 0.12:
        body.segments.insert(0, _plain("\n".join(lines) + "\n"))
    elif where < 0.25 and breaks:
        body.segments.insert(rng.choice(breaks), _plain("\n".join(lines) + "\n"))
    else:
        sep = rng.choice(("\n\n", "\n", "\n\n"))
        text = sep + "\n".join(lines)
        if rng.random() < 0.15:  # a footer in italics, as some channels format it
            body.segments.append(_plain(sep))
            body.segments.append(Segment((Piece("\n".join(lines)),), "italic"))
        else:
            body.segments.append(_plain(text))
    return lines


def _plain(text: str) -> Segment:
    return Segment((Piece(text),))
