"""Tradable instruments of the demo desk and the numbers of a trade signal on them."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Instrument:
    """An asset signals are called on: ``symbol`` is the normalised pair (BTCUSDT, XAUUSD)."""

    symbol: str
    base: str
    quote: str
    price: float
    decimals: int
    target_step: float  # relative distance between successive targets
    kind: str = "crypto"
    #: other decimal counts desks write the price with (gold 2650 / 2650.5 / 2650.45)
    alt_decimals: tuple[int, ...] = ()


CRYPTO: tuple[Instrument, ...] = (
    Instrument("BTCUSDT", "BTC", "USDT", 82_000.0, 1, 0.012),
    Instrument("ETHUSDT", "ETH", "USDT", 3_100.0, 2, 0.015),
    Instrument("SOLUSDT", "SOL", "USDT", 185.0, 2, 0.02),
    Instrument("XRPUSDT", "XRP", "USDT", 2.15, 4, 0.02),
    Instrument("DOGEUSDT", "DOGE", "USDT", 0.0865, 5, 0.025),
    Instrument("BNBUSDT", "BNB", "USDT", 612.0, 1, 0.015),
    Instrument("AVAXUSDT", "AVAX", "USDT", 32.4, 2, 0.02),
    Instrument("LINKUSDT", "LINK", "USDT", 17.6, 3, 0.02),
    Instrument("ADAUSDT", "ADA", "USDT", 0.452, 4, 0.02),
)
FOREX: tuple[Instrument, ...] = (
    Instrument("XAUUSD", "XAU", "USD", 2_650.0, 1, 0.004, "metal", (2, 0)),
    Instrument("EURUSD", "EUR", "USD", 1.0850, 4, 0.002, "forex", (5,)),
    Instrument("GBPUSD", "GBP", "USD", 1.2710, 4, 0.002, "forex", (5,)),
    Instrument("USDJPY", "USD", "JPY", 151.20, 2, 0.002, "forex", (3,)),
)
#: Crosses, commodity currencies and index CFDs the wider FX channels also call.
FX_MORE: tuple[Instrument, ...] = (
    Instrument("GBPJPY", "GBP", "JPY", 193.40, 3, 0.0025, "forex", (2,)),
    Instrument("EURJPY", "EUR", "JPY", 163.20, 3, 0.0025, "forex", (2,)),
    Instrument("USDCAD", "USD", "CAD", 1.3950, 4, 0.002, "forex", (5,)),
    Instrument("AUDUSD", "AUD", "USD", 0.6540, 4, 0.002, "forex", (5,)),
    Instrument("NZDUSD", "NZD", "USD", 0.5910, 4, 0.002, "forex", (5,)),
    Instrument("USDCHF", "USD", "CHF", 0.8820, 4, 0.002, "forex", (5,)),
    Instrument("EURGBP", "EUR", "GBP", 0.8360, 4, 0.0015, "forex", (5,)),
    Instrument("US30", "US30", "", 44_150.0, 0, 0.003, "index", (1,)),
    Instrument("NAS100", "NAS100", "", 20_850.0, 1, 0.004, "index", (0,)),
)
#: Altcoins quoted in bitcoin, as spot "gem" channels call them (prices of a few hundred sats).
BTC_ALTS: tuple[Instrument, ...] = (
    Instrument("ENJBTC", "ENJ", "BTC", 0.00000412, 8, 0.05),
    Instrument("XLMBTC", "XLM", "BTC", 0.00000389, 8, 0.05),
    Instrument("ADABTC", "ADA", "BTC", 0.00000548, 8, 0.045),
    Instrument("LINKBTC", "LINK", "BTC", 0.0002146, 7, 0.04),
    Instrument("DOTBTC", "DOT", "BTC", 0.0000612, 7, 0.045),
    Instrument("MANABTC", "MANA", "BTC", 0.00000531, 8, 0.06),
    Instrument("TRXBTC", "TRX", "BTC", 0.00000271, 8, 0.06),
    Instrument("ETHBTC", "ETH", "BTC", 0.03780, 5, 0.02),
)
BY_SYMBOL: dict[str, Instrument] = {i.symbol: i for i in CRYPTO + FOREX + FX_MORE + BTC_ALTS}

#: Instrument pools and weights per channel universe ("crypto" uses CRYPTO_WEIGHTS).
UNIVERSES: dict[str, tuple[tuple[Instrument, ...], tuple[int, ...]]] = {
    "forex": (FOREX, (45, 25, 15, 15)),
    "fx": (FOREX + FX_MORE, (30, 14, 9, 8, 9, 4, 6, 7, 4, 3, 2, 3, 3)),
    "gold": ((FOREX[0], FX_MORE[7], FX_MORE[8], FOREX[1], FX_MORE[0]), (62, 12, 12, 8, 6)),
    "btc_alts": (BTC_ALTS, (14, 12, 14, 12, 12, 12, 10, 14)),
}

#: How often each crypto is called, roughly as desks see it (majors dominate).
CRYPTO_WEIGHTS: tuple[int, ...] = (30, 22, 12, 8, 6, 6, 5, 6, 5)


@dataclass(frozen=True)
class SignalNumbers:
    """A signal's prices, already formatted as they will appear in the text."""

    instrument: Instrument
    #: LONG or SHORT: what the trader means, stated in the text or not; None: a set-up whose
    #: levels imply no direction (see :mod:`trademl.demo.setups`)
    side: str | None
    entries: tuple[str, ...]
    targets: tuple[str, ...]  # empty: a pair and an entry alone
    stop_loss: str | None
    leverage: int | None


def format_price(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def to_number(surface: str) -> float:
    """The value of a number as written in a message ("67,250" -> 67250.0)."""
    return float(surface.replace(",", "").replace(" ", ""))


def pick_instrument(rng: random.Random, universe: str) -> Instrument:
    pool, weights = UNIVERSES.get(universe, (CRYPTO, CRYPTO_WEIGHTS))
    return rng.choices(pool, weights=weights)[0]


def reference_price(instrument: Instrument, day_index: int, rng: random.Random) -> float:
    """The instrument's price on a demo day: a slow drift plus noise, per message."""
    drift = 1.0 + 0.01 * ((day_index * 7919 + len(instrument.symbol)) % 5 - 2)
    return instrument.price * drift * (1.0 + rng.gauss(0.0, 0.004))


def make_signal_numbers(
    rng: random.Random,
    instrument: Instrument,
    day_index: int,
    *,
    n_entries: int,
    n_targets: int,
    leverage: bool,
    sides: tuple[str, ...] = ("LONG", "SHORT"),
) -> SignalNumbers:
    side = rng.choice(sides)
    sign = 1.0 if side == "LONG" else -1.0
    d = instrument.decimals
    if instrument.alt_decimals and rng.random() < 0.35:
        d = rng.choice(instrument.alt_decimals)
    if instrument.kind == "crypto" and instrument.price > 1_000 and rng.random() < 0.5:
        d = 0  # big-ticket coins are often quoted in whole dollars
    entry = reference_price(instrument, day_index, rng)
    step = instrument.target_step * rng.uniform(0.7, 1.4)
    entries = [entry]
    if n_entries > 1:
        # an entry zone runs from the first price further into the move's opposite side
        entries.append(entry * (1.0 - sign * step * rng.uniform(0.4, 0.8)))
    targets = [entry * (1.0 + sign * step * (k + 1)) for k in range(n_targets)]
    stop = min(entries) if side == "LONG" else max(entries)
    stop *= 1.0 - sign * step * rng.uniform(1.0, 2.0)
    lev = rng.choice((3, 5, 10, 10, 15, 20, 20, 25, 50)) if leverage else None
    return SignalNumbers(
        instrument=instrument,
        side=side,
        entries=tuple(format_price(v, d) for v in entries),
        targets=tuple(format_price(v, d) for v in targets),
        stop_loss=format_price(stop, d),
        leverage=lev,
    )


def with_thousands(surface: str) -> str:
    """67250.5 -> 67,250.5: how some channels write big prices."""
    whole, _, frac = surface.partition(".")
    grouped = f"{int(whole):,}"
    return f"{grouped}.{frac}" if frac else grouped
