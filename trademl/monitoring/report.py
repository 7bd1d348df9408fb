"""The gate's daily drift report: load the day and the reference from the lake, score, write
``reports/drift_report/<day>.md`` and its PNG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from trademl.errors import InputError
from trademl.lake import Lake, atomic_write_text, read_parquet
from trademl.monitoring.charts import distributions_png
from trademl.monitoring.gate_drift import DriftResult, DriftSettings, gate_drift

GATE_DATASET = Path("datasets") / "gate" / "gate_dataset.parquet"


def day_bounds(day: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    try:
        start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InputError("drift_report partition", f"{day!r} is not a YYYY-MM-DD day") from None
    return pd.Timestamp(start), pd.Timestamp(start + timedelta(days=1))


def load_day_and_reference(lake: Lake, day: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the day's market_features rows with gate_dataset labels where known, the train split
    without that day)."""
    raw = lake.raw("market_features", day)
    if not raw.exists():
        raise InputError(str(raw), f"no market_features partition for {day}; ingest it first")
    dataset_path = lake.root / GATE_DATASET
    if not dataset_path.exists():
        raise InputError(str(dataset_path), "no gate dataset; materialize gate_dataset first")
    current = read_parquet(raw)
    dataset = read_parquet(dataset_path)
    missing = [c for c in ("symbol", "ts", "label", "split") if c not in dataset.columns]
    if missing:
        raise InputError(str(dataset_path), f"missing columns {', '.join(missing)}")
    start, end = day_bounds(day)
    ts = pd.to_datetime(dataset["ts"], utc=True)
    in_day = (ts >= start) & (ts < end)
    labels = dataset.loc[in_day, ["symbol", "ts", "label"]].rename(columns={"ts": "timestamp"})
    labels["timestamp"] = pd.to_datetime(labels["timestamp"], utc=True)
    current["timestamp"] = pd.to_datetime(current["timestamp"], utc=True)
    current = current.merge(labels, on=["symbol", "timestamp"], how="left")
    reference = dataset[(dataset["split"] == "train") & ~in_day]
    return current, reference


def write_drift_report(
    lake: Lake, day: str, result: DriftResult, alarm_at: float
) -> tuple[str, Path]:
    """Markdown + PNG under ``reports/drift_report/``; returns (markdown, png path)."""
    folder = lake.reports("drift_report")
    panels = {
        name: (ref, cur, _caption(result, name)) for name, (ref, cur) in result.shares.items()
    }
    png = distributions_png(panels, folder / f"{day}.png", f"drift {day}: reference vs current")
    verdict = "DRIFT" if result.drift_score > alarm_at else "stable"
    lines = [
        f"# Gate drift report {day}",
        "",
        f"**{verdict}**: drift_score {result.drift_score:.3f} (alarm above {alarm_at:g}); "
        f"gate {result.gate}; {result.current_rows:,} rows of the day "
        f"({result.current_dropped:,} non-finite dropped) against {result.reference_rows:,} "
        "reference rows (gate_dataset train split, this day left out).",
        "",
        f"Thresholds: {result.replicates} block-bootstrap samples of the reference "
        f"({result.block_rows}-row blocks), 99th percentile per statistic; drift_score = "
        f"largest ratio / its family-wise null quantile ({result.family_quantile:.3f}).",
        "",
        "| input | PSI | PSI threshold | KS | KS threshold | KS p | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, f in result.features.items():
        lines.append(
            f"| {name} | {f['psi']:.4f} | {f['psi_threshold']:.4f} | {f['ks']:.4f} | "
            f"{f['ks_threshold']:.4f} | {f['ks_pvalue']:.2g} | {f['ratio']:.2f} |"
        )
    p = result.prediction
    lines.append(
        f"| gate probability | {p['psi']:.4f} | {p['psi_threshold']:.4f} | | | | {p['ratio']:.2f} |"
    )
    lines += ["", "## Gate error stream (ADWIN)", ""]
    e = result.error_drift
    if e is None:
        lines.append("Outcomes of this day are not known yet (no gate_dataset labels): no ADWIN.")
    else:
        first = f", the first at {e['first_change_at']}" if e["first_change_at"] else ""
        lines.append(
            f"{e['detections']} change(s) in the mean error over {result.labelled_current_rows:,} "
            f"labelled rows of the day{first} (ADWIN, δ = {e['delta']:g}, after "
            f"{e['warmup_rows']:,} warm-up training rows). Mean |label − p|: {e['mean_error_before']:.4f} on the "
            f"warm-up (in-sample), {e['mean_error_day']:.4f} over the day, "
            f"{e['mean_error_after']:.4f} in ADWIN's final window "
            f"({'worse' if e['degraded'] else 'not worse'} than the warm-up). ADWIN's figures "
            "are reported beside drift_score, not folded into it."
        )
    lines += ["", f"![distributions]({png.name})", ""]
    markdown = "\n".join(lines)
    atomic_write_text(folder / f"{day}.md", markdown)
    return markdown, png


def _caption(result: DriftResult, name: str) -> str:
    stats = result.features.get(name) or result.prediction
    return f"PSI {stats['psi']:.4f} (thr {stats['psi_threshold']:.4f})"


__all__ = ["DriftSettings", "gate_drift", "load_day_and_reference", "write_drift_report"]
