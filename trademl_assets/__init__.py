"""The asset graph: one subpackage per domain; asset bodies call into trademl."""

import warnings

import dagster as dg

# Partitioned asset checks (one GX validation per day) are a deliberate choice; Dagster 1.13 still
# labels them preview, which would print a warning on every definitions load.
warnings.filterwarnings(
    "ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec.*"
)
