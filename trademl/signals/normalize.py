"""Instrument mentions in signal text and their normalised symbols (BTCUSDT, XAUUSD, USDCHF)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FX = "USD|EUR|GBP|JPY|CHF|AUD|NZD|CAD|MXN|ZAR|SGD|HKD|NOK|SEK|PLN|CNH|DKK|HUF|CZK|XAU|XAG"
_CRYPTO_QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "TUSD")
_FX_PAIR = re.compile(rf"(?:{_FX})(?:{_FX})", re.IGNORECASE)

#: Coins common enough to be named without a # or $ (upper case only: SOL, OP, NEAR are words).
_BARE_COINS = (
    "BTC|ETH|SOL|XRP|BNB|DOGE|ADA|AVAX|DOT|LINK|LTC|MATIC|POL|TRX|TON|SHIB|PEPE|ARB|OP|SUI|APT|"
    "NEAR|ATOM|FIL|ETC|BCH|UNI|AAVE|INJ|TIA|SEI|WIF|BONK|FET|RNDR|RENDER|XLM|HBAR|ICP|ALGO|"
    "FTM|SAND|MANA|GALA|CRV|LDO|JUP|PYTH|ENA|WLD|ORDI|STX|IMP|KAS|EOS|XMR|ZEC|DASH|NEO|VET"
)

_PAIR = re.compile(
    # 1. base and quote with a separator: BTC/USDT, #ENJ/BTC, BTC-USDT, EUR/ NZD
    rf"(?<![A-Za-z0-9])[#$]?(?P<sb>[A-Za-z][A-Za-z0-9]{{1,9}})\s?[/\-_]\s?"
    rf"(?P<sq>USDT|USDC|BUSD|FDUSD|{_FX}|BTC|ETH|BNB)(?![A-Za-z])(?:\.P|\s?PERP)?"
    # 2. two currency codes, glued or spaced: EURUSD, UsdChf, Gbp cad (no right boundary, for
    #    a side glued on: XAUUSDSELL)
    rf"|(?<![A-Za-z])(?P<fb>{_FX}) ?(?P<fq>{_FX})"
    # 3. glued crypto pairs: BTCUSDT, #ETHUSDT.P, and upper-case ETHBTC, BTCUSD
    r"|(?<![A-Za-z0-9])[#$]?(?P<cb>[A-Za-z0-9]{2,10}?)(?P<cq>USDT|USDC|BUSD|FDUSD)(?![A-Za-z])"
    r"(?:\.P|\s?PERP)?"
    r"|(?<![A-Za-z0-9])[#$]?(?P<cb2>(?-i:[A-Z0-9]{2,10}?))(?P<cq2>(?-i:USD|BTC|ETH))(?![A-Za-z])"
    r"(?:\.P|\s?PERP)?"
    # 4. metals by name
    r"|(?<![^\W\d])(?P<gold>gold|xau|oro|ouro|золот\w*)(?![^\W\d])"
    r"|(?<![^\W\d])(?P<silver>silver|xag|серебр\w*)(?![^\W\d])"
    # 5. index and commodity CFDs
    r"|(?<![A-Za-z0-9])(?P<cfd>(?-i:US30|US100|US500|NAS100|SPX500|GER30|GER40|DE30|DE40|UK100|"
    r"JP225|HK50|USOIL|UKOIL|XTIUSD|XBRUSD))(?![A-Za-z0-9])"
    # 6. a coin by hashtag, cashtag or "Coin:" label: #SOL, $ETH, Coin Name-> DNT
    r"|[#$](?P<tag>[A-Za-z][A-Za-z0-9]{1,9})(?![A-Za-z0-9])"
    r"|(?<![^\W\d])(?:coin|монета)(?:\s*name)?\s*[:\-–>]+\s*#?(?P<coin>[A-Za-z][A-Za-z0-9]{1,9})"
    r"(?:\s?[/\-_]\s?(?P<coinq>USDT|USDC|BUSD|FDUSD|BTC|ETH|BNB|USD))?(?![A-Za-z0-9])"
    # 7. well-known coins named bare
    rf"|(?<![A-Za-z0-9#$])(?P<bare>(?-i:{_BARE_COINS})|bitcoin|btc|ethereum|eth|биткоин\w*)"
    r"(?![A-Za-z0-9])",
    re.IGNORECASE,
)

#: Hashtags that label the post, the exchange or the trade type, never the instrument.
_NOT_A_COIN = frozenset(
    "FREE SIGNAL SIGNALS VIP BINANCE BITTREX BYBIT KUCOIN OKX BITGET MEXC HUOBI GATE CORNIX TP SL "
    "LONG SHORT BUY SELL SPOT FUTURES FUTURE CRYPTO FOREX FX NEWS UPDATE ALERT TRADE SETUP ENTRY "
    "TARGET TARGETS STOP LEVERAGE PUMP GEM ALTCOIN ALTS DAYTRADE SCALP SCALPING SWING RESULT "
    "RESULTS PROFIT NFA DYOR AD ADS PROMO GIVEAWAY ANNOUNCEMENT PREMIUM CALL CALLS NEW HOT USD USDT"
    " BREAKOUT TA ANALYSIS CHART IDEA MID TERM INFO REMINDER".split()
)
_BARE_ALIASES = {"BITCOIN": "BTC", "ETHEREUM": "ETH"}

#: Words that price an altcoin in satoshis, which makes its quote BTC rather than USDT.
SATS_CONTEXT = re.compile(r"(?<![^\W\d])(?:sats?|satoshis?|сат\w*)(?![^\W\d])", re.IGNORECASE)


#: Coins whose USDT price is below 0.001: a sub-milli price does not mean they are quoted in sats.
MICRO_PRICED_COINS = frozenset(
    "PEPE SHIB BONK FLOKI BTT LUNC XEC WIN SATS RATS BABYDOGE MOG NEIRO CAT TURBO LADYS DOGS "
    "HOT SPELL".split()
)


@dataclass(frozen=True, slots=True)
class PairMention:
    """One instrument mention: its span, its base and quote (quote None for a coin named alone)."""

    start: int
    end: int
    base: str
    quote: str | None


def find_pair(text: str, start: int = 0, end: int | None = None) -> PairMention | None:
    """The first instrument mentioned in text[start:end], or None."""
    end = len(text) if end is None else end
    for m in _PAIR.finditer(text, start, end):
        kind = m.lastgroup
        s, e = m.span()
        if text[s] in "#$":
            s += 1
        if kind in ("sq", "fq", "cq", "cq2", "coinq"):
            if kind == "coinq":
                s = m.start("coin")
            base_group = {"sq": "sb", "fq": "fb", "cq": "cb", "cq2": "cb2", "coinq": "coin"}[kind]
            return PairMention(s, e, m.group(base_group).upper(), m.group(kind).upper())
        if kind == "gold":
            return PairMention(s, e, "XAU", "USD")
        if kind == "silver":
            return PairMention(s, e, "XAG", "USD")
        if kind == "cfd":
            return PairMention(s, e, m.group(kind), "")
        if kind in ("tag", "coin"):
            name = m.group(kind).upper()
            if name in _NOT_A_COIN or name.startswith(("TP", "SL")):
                continue
            if name == "GOLD":
                return PairMention(s, e, "XAU", "USD")
            if kind == "coin":
                s, e = m.span(kind)
            return _split_glued(s, e, name)
        if kind == "bare":
            name = m.group(kind).upper()
            if name.startswith("БИТКОИН"):
                name = "BTC"
            return PairMention(s, e, _BARE_ALIASES.get(name, name), None)
    return None


#: Coins channels also write in lower or title case ("Sol short", "doge sell"); read that way only
#: right next to a side word, since several are words too (sol, ada).
_CASED_COINS = (
    "btc|eth|sol|xrp|bnb|doge|ada|avax|ltc|matic|trx|shib|pepe|arb|apt|fil|bch|aave|inj|tia|wif|"
    "bonk|xlm|hbar|algo|ftm|crv|ldo|jup|ena|wld|ordi|kas|xmr|sui|sei|bitcoin|ethereum"
)
_COIN_BEFORE = re.compile(rf"(?<![\w#$])[#$]?({_CASED_COINS})\s{{1,2}}$", re.IGNORECASE)
_COIN_AFTER = re.compile(rf"\s{{1,2}}[#$]?({_CASED_COINS})(?!\w)", re.IGNORECASE)


def coin_beside(text: str, start: int, end: int) -> PairMention | None:
    """A coin named in any case right before or after text[start:end] (a side word)."""
    m = _COIN_BEFORE.search(text, max(0, start - 14), start)
    if m is None:
        m = _COIN_AFTER.match(text, end)
    if m is None:
        return None
    name = m.group(1).upper()
    return PairMention(m.start(1), m.end(1), _BARE_ALIASES.get(name, name), None)


def _split_glued(start: int, end: int, name: str) -> PairMention:
    """A hashtag that already holds a pair (#EURJPY, #SOLUSDT) keeps its quote."""
    if len(name) == 6 and _FX_PAIR.fullmatch(name):
        return PairMention(start, end, name[:3], name[3:])
    for quote in _CRYPTO_QUOTES:
        if name.endswith(quote) and len(name) > len(quote):
            return PairMention(start, end, name[: -len(quote)], quote)
    return PairMention(start, end, name, None)


def pair_symbol(mention: PairMention, priced_in_sats: bool) -> str:
    """The normalised symbol: base + quote; a coin named alone is quoted in USDT, or BTC in sats."""
    if mention.quote is not None:
        return mention.base + mention.quote
    if priced_in_sats and mention.base != "BTC":
        return mention.base + "BTC"
    return mention.base + "USDT"


_FX_CODES = frozenset(_FX.split("|"))


def pip_size(mention: PairMention) -> float | None:
    """The price of one pip: 0.01 for JPY quotes, 0.1 for gold, 0.01 for silver, 0.0001 for the
    other currency pairs; None for crypto and index CFDs, which are not quoted in pips."""
    base, quote = mention.base.upper(), (mention.quote or "").upper()
    if base == "XAU":
        return 0.1
    if base == "XAG":
        return 0.01
    if base in _FX_CODES and quote in _FX_CODES:
        return 0.01 if quote in ("JPY", "HUF") else 0.0001
    return None


def normalize_pair(raw: str | None) -> str | None:
    """A pair string reduced for comparison: upper case without / # $ - _ . P suffix or spaces."""
    if raw is None:
        return None
    cleaned = re.sub(r"[\s/#$\-_]", "", str(raw)).upper()
    if cleaned.endswith(".P"):
        cleaned = cleaned[:-2]
    return cleaned or None
