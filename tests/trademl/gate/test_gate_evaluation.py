"""AUC interval (and saying when nothing was learned), F1 at the threshold, the backtest arithmetic."""

import numpy as np
import pandas as pd
import pytest

from trademl.gate import Gate
from trademl.gate.evaluation import (
    auc_with_interval,
    classification_metrics,
    strategy_stats,
    trade_returns,
)

T0 = pd.Timestamp("2026-11-01T00:00:00Z")


def test_auc_interval_says_when_nothing_was_learned():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    noise = auc_with_interval(y, rng.random(2000), 200, 0)
    assert noise["auc_low"] < 0.5 < noise["auc_high"] and noise["learned_nothing"] is True
    skill = auc_with_interval(y, y * 0.3 + rng.random(2000), 200, 0)
    assert skill["auc_low"] > 0.5 and skill["learned_nothing"] is False


def test_f1_precision_recall_at_the_threshold():
    y = np.array([1, 1, 0, 0, 1])
    p = np.array([0.9, 0.7, 0.66, 0.1, 0.2])
    m = classification_metrics(y, p, 0.65)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["approval_rate"] == pytest.approx(0.6)


def test_backtest_holds_one_position_per_symbol_and_pays_costs():
    # 4 rows 20 s apart, labels end 40 s later: the trade at row 0 blocks row 1; row 2 trades.
    ts = [T0 + pd.Timedelta(seconds=20 * i) for i in range(4)]
    test = pd.DataFrame(
        {
            "symbol": "BTCUSDT",
            "ts": ts,
            "t1": [t + pd.Timedelta(seconds=40) for t in ts],
            "price": [100.0, 100.0, 100.0, 100.0],
            "price_dist": [1.0, 1.0, -1.0, 0.0],  # short, short, long, no direction
            "sigma": [1.0] * 4,
            "move_sigma": [-2.0, 3.0, -1.0, 5.0],  # exits at 98, 103, 99, 105
        }
    )
    trades = trade_returns(test, np.ones(4, bool), cost_bps=10)
    np.testing.assert_allclose(trades["ret"], [0.02 - 0.001, -0.01 - 0.001])
    stats = strategy_stats(trades, days=1.0)
    assert stats["trades"] == 2 and stats["win_rate"] == 0.5
    assert stats["profit_factor"] == pytest.approx(0.019 / 0.011)
    assert stats["max_drawdown"] == pytest.approx(0.011)


def test_heuristic_backtest_uses_the_runtime_rule():
    x = np.array([[0.9, 1.2, 0.5], [0.9, 1.2, 2.5], [0.05, 0.05, 0.0]])
    _, approved = Gate().approve_many(x, 0.65)
    assert approved.tolist() == [True, False, False]
