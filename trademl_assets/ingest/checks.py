"""great_expectations checks on the ingested partitions; blocking where bad data would poison training."""

import dagster as dg
import pandas as pd

from trademl.ingest.market import FEATURE_COLUMNS
from trademl.lake import read_parquet
from trademl.quality import Expect, validate_frame
from trademl_assets.partitions import daily_partitions
from trademl_resources import LakeResource


def gx_check_result(df: pd.DataFrame, expectations: list[Expect], name: str) -> dg.AssetCheckResult:
    summary = validate_frame(df, expectations, name=name)
    return dg.AssetCheckResult(
        passed=summary.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "rows": summary.n_rows,
            "expectations": len(summary.results),
            "failed": len(summary.failed),
            "results": dg.MetadataValue.json(summary.results),
        },
    )


def _partition(lake: LakeResource, asset: str, partition: str) -> pd.DataFrame:
    return read_parquet(lake.lake().raw(asset, partition))


@dg.asset_check(asset="raw_messages", blocking=True, partitions_def=daily_partitions)
def raw_messages_valid(
    context: dg.AssetCheckExecutionContext, lake: LakeResource
) -> dg.AssetCheckResult:
    """Every message has text, a date and a unique (source, channel id, message_id)."""
    df = _partition(lake, "raw_messages", context.partition_key)
    return gx_check_result(
        df,
        [
            Expect(
                "columns",
                args={
                    "columns": ["source", "channel", "channel_name", "message_id", "date", "text"]
                },
            ),
            Expect("not_null", "text"),
            Expect("not_null", "date"),
            Expect("not_null", "message_id"),
            Expect("min_length", "text", {"min": 1}),
            Expect("unique", args={"columns": ["source", "channel", "message_id"]}),
        ],
        "raw_messages",
    )


@dg.asset_check(asset="market_features", blocking=True, partitions_def=daily_partitions)
def market_features_valid(
    context: dg.AssetCheckExecutionContext, lake: LakeResource
) -> dg.AssetCheckResult:
    """Features are finite, prices and volumes non-negative, one row per (symbol, timestamp)."""
    df = _partition(lake, "market_features", context.partition_key)
    expectations = [Expect("not_null", c) for c in ("symbol", "timestamp", *FEATURE_COLUMNS)]
    expectations += [
        Expect("between", c, {"min_value": 0})
        for c in ("price", "vwap", "std_dev", "bid_vol", "ask_vol")
    ]
    expectations.append(Expect("unique", args={"columns": ["symbol", "timestamp"]}))
    return gx_check_result(df, expectations, "market_features")


@dg.asset_check(asset="candles", blocking=True, partitions_def=daily_partitions)
def candles_valid(
    context: dg.AssetCheckExecutionContext, lake: LakeResource
) -> dg.AssetCheckResult:
    """OHLCV values are present and positive, one candle per (symbol, open_time)."""
    df = _partition(lake, "candles", context.partition_key)
    expectations = [Expect("not_null", c) for c in ("open", "high", "low", "close", "volume")]
    expectations += [
        Expect("between", c, {"min_value": 0}) for c in ("open", "high", "low", "close", "volume")
    ]
    expectations.append(Expect("unique", args={"columns": ["symbol", "open_time"]}))
    return gx_check_result(df, expectations, "candles")


@dg.asset_check(asset="social_posts", partitions_def=daily_partitions)
def social_posts_valid(
    context: dg.AssetCheckExecutionContext, lake: LakeResource
) -> dg.AssetCheckResult:
    """Posts have an id and a date; ratings, where given, are 1 (bearish), 2 or 3 (bullish)."""
    df = _partition(lake, "social_posts", context.partition_key)
    return gx_check_result(
        df,
        [
            Expect("not_null", "post_id"),
            Expect("not_null", "date"),
            Expect("in_set", "rating", {"values": [1, 2, 3]}),
            Expect("unique", args={"columns": ["post_id"]}),
        ],
        "social_posts",
    )


ingest_checks = [raw_messages_valid, market_features_valid, candles_valid, social_posts_valid]
