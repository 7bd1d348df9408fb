"""Checks on the signal training files: a bad dataset must never reach training (blocking)."""

import dagster as dg

from trademl.labels import SIGNAL_CLASSES
from trademl.lake import read_csv
from trademl.quality import Expect
from trademl.signals.datasets import SPLITS
from trademl_assets.ingest.checks import gx_check_result
from trademl_resources import LakeResource


@dg.asset_check(asset="classification_dataset", blocking=True)
def classification_dataset_valid(lake: LakeResource) -> dg.AssetCheckResult:
    """Known labels and splits, no empty text, and no message text in two splits."""
    df = read_csv(lake.lake().export("classification_data.csv"), keep_default_na=False)
    result = gx_check_result(
        df,
        [
            Expect("columns", args={"columns": ["text", "label", "split"]}),
            Expect("in_set", "label", {"values": list(SIGNAL_CLASSES)}),
            Expect("in_set", "split", {"values": list(SPLITS)}),
            Expect("min_length", "text", {"min": 1}),
            Expect("unique", args={"columns": ["text"]}),
        ],
        "classification_dataset",
    )
    missing = [s for s in SPLITS if not (df["split"] == s).any()]
    metadata = dict(result.metadata)
    metadata["empty_splits"] = missing
    return dg.AssetCheckResult(
        passed=result.passed and not missing,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
    )


signal_checks = [classification_dataset_valid]
