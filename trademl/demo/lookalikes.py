"""NON_SIGNAL messages that look like signals: they name a pair and give prices or pips, but open
no trade. Results, trade management, analysis, news, questions, recaps and promos, in English."""

from __future__ import annotations

import random

from trademl.demo.instruments import Instrument, format_price
from trademl.demo.style_kit import pip_size

_RESULTS = (
    "{pair} TP{k} hit +{pips} {unit} ✅",
    "{pair} tp1 ✅ tp2 ✅ +{pips} {unit} secured",
    "Result {pair}: +{pips} {unit} 💰",
    "{pair} SL hit -{pips} {unit} ❌ part of the game",
    "{pair} running +{pips} {unit} in profit 🔥",
    "Boom 💥 {pair} smashed TP{k}, {pips} {unit} banked",
    "{pair} closed at {lvl} for +{pips} {unit}",
    "{name} target reached ✅✅ {lvl}",
)
_MANAGE = (
    "move SL to BE on {pair}",
    "{pair}: close half at {lvl} and let the rest run",
    "Move stop loss to {lvl} on {pair} 🔒",
    "{pair} limit order at {lvl} cancelled, price ran without us",
    "Secure profits on {pair} now, SL to entry",
    "{pair} trade closed manually at {lvl}",
    "Hold {pair}, don't panic. SL still {lvl}",
    "Trail the stop on {name} to {lvl}",
)
_ANALYSIS = (
    "{name} holding {lvl} support, watching {lvl2}",
    "{pair} rejected {lvl2} twice, looks heavy",
    "{pair} H4: range {lvl}–{lvl2}, waiting for a breakout",
    "{name} above {lvl} keeps the bias up, below it I'm out",
    "Key levels {pair}: support {lvl}, resistance {lvl2}",
    "{name} daily close above {lvl2} would be big 👀",
    "{pair} in a falling wedge, {lvl} is the line in the sand",
)
_NEWS = (
    "US CPI {r}% vs {r2}% expected, {pair} moved {pips} {unit} in a minute",
    "NFP today at 13:30 GMT, expect volatility on {pair} and gold ⚠️",
    "Central bank holds at {r}%, {pair} trading {lvl}",
    "{name} prints a new weekly high at {lvl2} 📰",
    "📰 Fed speakers today, {pair} spread widening at the open",
)
_QUESTIONS = (
    "anyone long on {name} at {lvl}?",
    "is {pair} still valid? price is {lvl} now",
    "what lot size for {pair} with a $500 account?",
    "sl {lvl} too tight for {name}??",
    "admin, {pair} entry {lvl} missed it, still ok to enter?",
    "who took the {pair} short at {lvl2}?",
)
_RECAPS = (
    "This week: {w} wins {l} losses, +{pips} {unit} total 📊",
    "Monthly recap: {w} TP / {l} SL, +{big} {unit} net",
    "Yesterday's signals: {pair} +{pips} {unit}, {pair2} -{small} {unit}",
    "Week {wk} results ✅ {w} ❌ {l}  win rate {rate}%",
)
_ADS = (
    "VIP {name} signals 🥇 {w} setups daily, {rate}% accuracy. DM for access",
    "Copy our {pair} trades automatically 🤖 first week free",
    "🎁 Free {pair} signals every day, invite your friends",
)
#: (templates, weight): results and management dominate look-alikes in real channels
KINDS = {
    "result": (_RESULTS, 26),
    "manage": (_MANAGE, 20),
    "analysis": (_ANALYSIS, 18),
    "news": (_NEWS, 10),
    "question": (_QUESTIONS, 12),
    "recap": (_RECAPS, 9),
    "ad": (_ADS, 5),
}


def spelled(inst: Instrument, rng: random.Random) -> tuple[str, str]:
    """How a message names the instrument: a pair code and a casual name (GOLD, BTC, EURUSD)."""
    if inst.symbol == "XAUUSD":
        return rng.choice(("XAUUSD", "GOLD", "#XAUUSD")), rng.choice(("Gold", "GOLD", "gold"))
    if inst.kind in ("forex", "index"):
        return rng.choice((inst.symbol, f"#{inst.symbol}", inst.symbol)), inst.symbol
    pair = rng.choice((f"#{inst.base}/{inst.quote}", f"{inst.base}{inst.quote}", f"#{inst.base}"))
    return pair, rng.choice((inst.base, f"${inst.base}"))


def _level(inst: Instrument, rng: random.Random, lo: float, hi: float) -> str:
    value = inst.price * rng.uniform(lo, hi)
    if inst.kind == "crypto" and value >= 10_000 and rng.random() < 0.5:
        return f"{value / 1000:.0f}k"  # "62k"
    decimals = inst.decimals if inst.kind != "crypto" or value < 1000 else 0
    return format_price(value, decimals)


def lookalike(
    rng: random.Random, inst: Instrument, other: Instrument, kinds: tuple[str, ...] = ()
) -> str:
    """One look-alike about ``inst`` (``other``: a second instrument for recaps)."""
    kinds = kinds or tuple(KINDS)
    kind = rng.choices(kinds, weights=[KINDS[k][1] for k in kinds])[0]
    pair, name = spelled(inst, rng)
    unit = "pips" if inst.kind in ("forex", "metal") else "%"
    if inst.kind == "index":
        unit = rng.choice(("pts", "points"))
    span = pip_size(inst) * 60 if inst.kind != "crypto" else inst.price * 0.02
    lvl = _level(inst, rng, 0.995, 1.0)
    lvl2 = _level(inst, rng, 1.0 + span / inst.price * 0.5, 1.0 + span / inst.price * 1.5)
    r = rng.choice((2.4, 2.7, 3.1, 4.25, 4.5))
    values = {
        "pair": pair,
        "name": name,
        "unit": unit,
        "k": rng.randint(1, 3),
        "pips": rng.randint(12, 140),
        "big": rng.randint(300, 1800),
        "small": rng.randint(10, 45),
        "lvl": lvl,
        "lvl2": lvl2,
        "r": r,
        "r2": round(r + rng.choice((-0.2, -0.1, 0.1, 0.2)), 1),
        "w": rng.randint(5, 19),
        "l": rng.randint(1, 6),
        "wk": rng.randint(1, 52),
        "rate": rng.randint(68, 93),
        "pair2": spelled(other, rng)[0],
    }
    text = rng.choice(KINDS[kind][0]).format(**values)
    return text.replace(" %", "%")
