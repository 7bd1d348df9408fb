"""Ingest assets: raw material from exports, validated, deduplicated, quarantined, in daily partitions."""

import dagster as dg

from trademl.ingest.market import (
    ingest_candles,
    ingest_market_features,
    ingest_social_posts,
    read_candles,
    read_market_features,
    read_social_posts,
)
from trademl.ingest.partitions import UNDATED, IngestStats
from trademl.ingest.sources import ingest_messages, iter_messages
from trademl_assets.partitions import daily_partitions
from trademl_resources import LakeResource, MarketSourcesResource, MessageSourcesResource


def ingest_result(
    context: dg.AssetExecutionContext, asset: str, stats: IngestStats, lake: LakeResource
) -> dg.MaterializeResult:
    """Materialization metadata for one ingested partition; warns when rows were quarantined.

    ``rows_in = accepted + quarantined + duplicates``; ``skipped`` rows (Telegram service
    messages) are not data and not in ``rows_in``; ``repaired_unicode`` rows were kept with their
    text repaired.
    """
    part = stats.partitions[context.partition_key]
    quarantine = lake.lake().quarantine(asset, context.partition_key)
    if part.quarantined:
        context.log.warning(
            f"{asset}: {part.quarantined:,} of {part.rows_in:,} rows quarantined; see {quarantine}"
        )
    if stats.undated_quarantined:
        context.log.warning(
            f"{asset}: {stats.undated_quarantined:,} source rows have no readable date (no day to "
            f"file them under); see {lake.lake().quarantine(asset, UNDATED)}"
        )
    if part.repaired_unicode:
        context.log.warning(
            f"{asset}: {part.repaired_unicode:,} rows had text repaired (bytes that are not UTF-8 "
            "or lone surrogates replaced by U+FFFD, NUL characters removed)"
        )
    assert part.rows_in == part.accepted + part.quarantined + part.duplicates
    return dg.MaterializeResult(
        metadata={
            "rows_in": part.rows_in,
            "accepted": part.accepted,
            "quarantined": part.quarantined,
            "duplicates": part.duplicates,
            "skipped": part.skipped,
            "repaired_unicode": part.repaired_unicode,
            "quarantined_undated": stats.undated_quarantined,
            "quarantine_reasons": dict(stats.reasons),
            "skip_reasons": dict(stats.skip_reasons),
            "path": dg.MetadataValue.path(stats.paths[context.partition_key]),
            "quarantine_path": dg.MetadataValue.path(str(quarantine)),
            "dagster/row_count": part.accepted,
        }
    )


@dg.asset(group_name="ingest", partitions_def=daily_partitions, kinds={"parquet"})
def raw_messages(
    context: dg.AssetExecutionContext, lake: LakeResource, message_sources: MessageSourcesResource
) -> dg.MaterializeResult:
    """One UTC day of signal-channel messages from every configured source, deduplicated."""
    stats = ingest_messages(
        iter_messages(message_sources.sources()), lake.lake(), partitions=[context.partition_key]
    )
    return ingest_result(context, "raw_messages", stats, lake)


@dg.asset(group_name="ingest", partitions_def=daily_partitions, kinds={"parquet"})
def market_features(
    context: dg.AssetExecutionContext, lake: LakeResource, market_sources: MarketSourcesResource
) -> dg.MaterializeResult:
    """One UTC day of order-book feature records per symbol (the trading bot's FeatureRecord)."""
    rows = read_market_features(market_sources.feature_files())
    stats = ingest_market_features(rows, lake.lake(), partitions=[context.partition_key])
    return ingest_result(context, "market_features", stats, lake)


@dg.asset(group_name="ingest", partitions_def=daily_partitions, kinds={"parquet"})
def candles(
    context: dg.AssetExecutionContext, lake: LakeResource, market_sources: MarketSourcesResource
) -> dg.MaterializeResult:
    """One UTC day of 1-minute OHLCV candles per symbol, from Binance kline CSV files."""
    rows = read_candles(market_sources.candle_files())
    stats = ingest_candles(rows, lake.lake(), partitions=[context.partition_key])
    return ingest_result(context, "candles", stats, lake)


@dg.asset(group_name="ingest", partitions_def=daily_partitions, kinds={"parquet"})
def social_posts(
    context: dg.AssetExecutionContext, lake: LakeResource, market_sources: MarketSourcesResource
) -> dg.MaterializeResult:
    """One UTC day of forum posts with their optional image and 1-3 rating."""
    rows = read_social_posts(market_sources.post_files())
    stats = ingest_social_posts(rows, lake.lake(), partitions=[context.partition_key])
    return ingest_result(context, "social_posts", stats, lake)
