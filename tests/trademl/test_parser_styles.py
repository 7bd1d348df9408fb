"""Channel styles the parser must read: messages written for this test in the layouts real
signal channels use (Cornix, spot Buy/Sell, FX one-liners, Russian and Spanish channels, pips).

Each row is (text, expected); fields absent from expected must be empty.
"""

import pytest

from trademl.labels import NON_SIGNAL
from trademl.signals.parser import parse_signal

STYLES = [
    (
        "⚡️⚡️ #SOL/USDT ⚡️⚡️\nExchanges: Binance Futures\nSignal Type: Regular (Short)\nLeverage: Cross (20.0X)\n\nEntry Targets:\n1) 142.50\n2) 145.00\n\nTake-Profit Targets:\n1) 140.10\n2) 138.40\n3) 135.00\n\nStop Targets:\n1) 149.80",
        dict(
            label="SIGNAL_SHORT",
            pair="SOLUSDT",
            entry=[142.5, 145],
            targets=[140.1, 138.4, 135],
            stop_loss=149.8,
            leverage=20,
        ),
    ),
    (
        "📍Coin : #AVAX/USDT\n\n🟢 LONG \n\n👉 Entry: 35.20 - 34.10\n\n🌐 Leverage: 10x\n\n🎯 Target 1: 36.00\n🎯 Target 2: 36.90\n🎯 Target 3: 38.20\n\n❌ StopLoss: 32.90",
        dict(
            label="SIGNAL_LONG",
            pair="AVAXUSDT",
            entry=[35.2, 34.1],
            targets=[36, 36.9, 38.2],
            stop_loss=32.9,
            leverage=10,
        ),
    ),
    (
        "#LINKUSDT Long\nEntry: 14.25-13.90\nTP: 14.60 / 15.10 / 15.80 / 16.50\nSL: 13.40\nLev: 5x-10x",
        dict(
            label="SIGNAL_LONG",
            pair="LINKUSDT",
            entry=[14.25, 13.9],
            targets=[14.6, 15.1, 15.8, 16.5],
            stop_loss=13.4,
            leverage=10,
        ),
    ),
    (
        "XAUUSD SELL 2365/2368\nTP1 2360\nTP2 2355\nTP3 2345\nSL 2375",
        dict(
            label="SIGNAL_SHORT",
            pair="XAUUSD",
            entry=[2365, 2368],
            targets=[2360, 2355, 2345],
            stop_loss=2375,
        ),
    ),
    (
        "EUR/USD BUY NOW @ 1.0832\nSL: 1.0800\nTP: 1.0870",
        dict(label="SIGNAL_LONG", pair="EURUSD", entry=[1.0832], targets=[1.087], stop_loss=1.08),
    ),
    (
        "GBPJPY sell limit 191.20\nSL 191.80\nTP 190.60 / 190.00",
        dict(
            label="SIGNAL_SHORT",
            pair="GBPJPY",
            entry=[191.2],
            targets=[190.6, 190.0],
            stop_loss=191.8,
        ),
    ),
    (
        "🔴 ШОРТ #BTC\nВход: 67200-67500\nЦели: 66500 / 65800 / 64900\nСтоп: 68300\nПлечо: 10х",
        dict(
            label="SIGNAL_SHORT",
            pair="BTCUSDT",
            entry=[67200, 67500],
            targets=[66500, 65800, 64900],
            stop_loss=68300,
            leverage=10,
        ),
    ),
    (
        "Лонг ETH/USDT по рынку 3150, тейк 3250, стоп 3080",
        dict(label="SIGNAL_LONG", pair="ETHUSDT", entry=[3150], targets=[3250], stop_loss=3080),
    ),
    ("BTC looking strong today, might break 70k soon 🚀", dict(label="NON_SIGNAL")),
    (
        "#SOL/USDT Take-Profit target 1 ✅\nProfit: 25.3% 📈\nPeriod: 2 Hours 10 Minutes ⏰",
        dict(label="NON_SIGNAL"),
    ),
    (
        "#AVAX/USDT All entry targets achieved\nAverage Entry Price: 34.65 💵",
        dict(label="NON_SIGNAL"),
    ),
    ("Closed all BTC longs in profit, +12%", dict(label="NON_SIGNAL")),
    (
        "SIGNAL ALERT\nBUY GBPUSD 1.2650\nSL 1.2610 (40 pips)\nTP1 1.2690\nTP2 1.2730",
        dict(
            label="SIGNAL_LONG",
            pair="GBPUSD",
            entry=[1.265],
            targets=[1.269, 1.273],
            stop_loss=1.261,
        ),
    ),
    (
        "$PEPE short\nentry 0.00001210\ntargets 0.00001150 0.00001090\nsl 0.00001290\n20x",
        dict(
            label="SIGNAL_SHORT",
            pair="PEPEUSDT",
            entry=[0.0000121],
            targets=[0.0000115, 0.0000109],
            stop_loss=0.0000129,
            leverage=20,
        ),
    ),
    (
        "EURUSD buy 1.0850 SL 30 pips TP 60 pips",
        dict(label="SIGNAL_LONG", pair="EURUSD", entry=[1.085], targets=[1.091], stop_loss=1.082),
    ),
    (
        "BTCUSDT.P LONG 🚀\nEntry zone: 61,800 - 62,300\nTargets: 63,000 - 64,200 - 65,500\nStop: 60,900\nLeverage: x25",
        dict(
            label="SIGNAL_LONG",
            pair="BTCUSDT",
            entry=[61800, 62300],
            targets=[63000, 64200, 65500],
            stop_loss=60900,
            leverage=25,
        ),
    ),
    (
        "Short #ETH 3520 sl 3580 tp 3450 3400",
        dict(
            label="SIGNAL_SHORT", pair="ETHUSDT", entry=[3520], targets=[3450, 3400], stop_loss=3580
        ),
    ),
    (
        "Gold buy now 2331 - 2328\n\nTp 2334\nTp 2337\nTp 2340\nTp open\n\nSl 2320",
        dict(
            label="SIGNAL_LONG",
            pair="XAUUSD",
            entry=[2331, 2328],
            targets=[2334, 2337, 2340],
            stop_loss=2320,
        ),
    ),
    (
        "COMPRA EURUSD 1.0850\nSL 1.0820\nTP 1.0900",
        dict(label="SIGNAL_LONG", pair="EURUSD", entry=[1.085], targets=[1.09], stop_loss=1.082),
    ),
    (
        "VENTA XAUUSD 2350\nSL 2358\nTP1 2344\nTP2 2338",
        dict(
            label="SIGNAL_SHORT", pair="XAUUSD", entry=[2350], targets=[2344, 2338], stop_loss=2358
        ),
    ),
    (
        "USDJPY ⬇️ SELL\nEntry 157.40\nTP 156.80\nSL 157.90",
        dict(label="SIGNAL_SHORT", pair="USDJPY", entry=[157.4], targets=[156.8], stop_loss=157.9),
    ),
    (
        "#BNB/USDT (Binance Spot)\nBuy: 585 - 590\nSell: 600 - 615 - 630\nStop: 570",
        dict(
            label="SIGNAL_LONG",
            pair="BNBUSDT",
            entry=[585, 590],
            targets=[600, 615, 630],
            stop_loss=570,
        ),
    ),
    (
        "📊 #DOGE/USDT\n📈 Direction: LONG\n💰 Entry: 0.1620 - 0.1580\n🎯 TP1: 0.1660 | TP2: 0.1710 | TP3: 0.1780\n🛑 SL: 0.1520\n⚙️ Leverage: Isolated 15x",
        dict(
            label="SIGNAL_LONG",
            pair="DOGEUSDT",
            entry=[0.162, 0.158],
            targets=[0.166, 0.171, 0.178],
            stop_loss=0.152,
            leverage=15,
        ),
    ),
    (
        "New trade idea on NZDUSD, waiting for confirmation before entering",
        dict(label="NON_SIGNAL"),
    ),
    ("GBPUSD TP2 hit +80 pips ✅✅", dict(label="NON_SIGNAL")),
    ("Move SL to entry on EURJPY", dict(label="NON_SIGNAL")),
    ("Who is trading gold today?", dict(label="NON_SIGNAL")),
    (
        "XAUUSD\nEntry: 2340 - 2335\nSL: 2328\nTP: 2350",
        dict(
            label="SIGNAL_NONE", pair="XAUUSD", entry=[2340, 2335], targets=[2350], stop_loss=2328
        ),
    ),
    (
        "Sell USDCAD at 1.3720 stop loss 1.3760 take profit 1.3640",
        dict(label="SIGNAL_SHORT", pair="USDCAD", entry=[1.372], targets=[1.364], stop_loss=1.376),
    ),
    (
        "#ARB Long 🟢\nBuy zone: $1.05-$1.10\nTargets: $1.18, $1.25, $1.40\nSL: $0.98",
        dict(
            label="SIGNAL_LONG",
            pair="ARBUSDT",
            entry=[1.05, 1.1],
            targets=[1.18, 1.25, 1.4],
            stop_loss=0.98,
        ),
    ),
    (
        "US30 SELL NOW 39250\nSL 39400\nTP 39000",
        dict(label="SIGNAL_SHORT", pair="US30", entry=[39250], targets=[39000], stop_loss=39400),
    ),
    (
        "ЛОНГ SOL\nТочка входа: 142-140\nТейк-профит: 146, 150\nСтоп-лосс: 136\nПлечо х10",
        dict(
            label="SIGNAL_LONG",
            pair="SOLUSDT",
            entry=[142, 140],
            targets=[146, 150],
            stop_loss=136,
            leverage=10,
        ),
    ),
    (
        "GBPUSD sell 1.2700\nSL 1.2740\nTP 1.2650\nRisk 1%",
        dict(label="SIGNAL_SHORT", pair="GBPUSD", entry=[1.27], targets=[1.265], stop_loss=1.274),
    ),
]


@pytest.mark.parametrize(("text", "expected"), STYLES, ids=[t[:28] for t, _ in STYLES])
def test_channel_style(text, expected):
    r = parse_signal(text)
    assert r.label == expected["label"]
    if expected["label"] == NON_SIGNAL:
        return
    got = r.fields()
    assert got["pair"] == expected.get("pair")
    assert got["entry"] == pytest.approx(expected.get("entry", []))
    assert got["targets"] == pytest.approx(expected.get("targets", []))
    for field in ("stop_loss", "leverage"):
        want = expected.get(field)
        assert got[field] == (pytest.approx(want) if want is not None else None), field
