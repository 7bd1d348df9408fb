"""Ingest benchmark: Telegram export -> lake -> rule labels -> training files, at 10k/100k/1M messages.

Each size runs in a fresh subprocess so its peak RSS is its own. Prints messages/second per stage,
the end-to-end time, and peak memory, side by side; the goal is 1M messages end to end in < 60 s
on 2 cores with memory flat in the number of messages.

A desk's volume grows in days, not in messages per day: the messages are spread at about
25,000 a day (10k → 1 day, 1M → 40 days), and the daily rule_labels partitions are labelled two at
a time, as a backfill of ingest_job would run them. Memory is bounded by one day's partition.

    .venv/bin/python benchmarks/bench_ingest.py [--sizes 10000,100000,1000000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

MESSAGES_PER_DAY = 25_000


def _label_day(src: Path, dst: Path) -> None:
    from trademl.signals.labelling import label_partition

    label_partition(src, dst, workers=1)


def run_one(n: int, workers: int) -> dict:
    from trademl.demo import write_telegram_export_at_scale
    from trademl.ingest.messages import read_telegram_export
    from trademl.ingest.sources import ingest_messages
    from trademl.lake import Lake
    from trademl.signals.datasets import export_datasets

    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        tmp = Path(tmp)
        days = max(1, round(n / MESSAGES_PER_DAY))
        export = write_telegram_export_at_scale(tmp / "result.json", n, days=days)
        lake = Lake(tmp / "lake")
        out = {"messages": n, "days": days, "export_mb": round(export.stat().st_size / 2**20, 1)}

        t0 = time.perf_counter()
        stats = ingest_messages(read_telegram_export(export), lake)
        t1 = time.perf_counter()
        parts = lake.partitions("raw", "raw_messages")
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(
                pool.map(
                    _label_day,
                    [lake.raw("raw_messages", p) for p in parts],
                    [lake.raw("rule_labels", p) for p in parts],
                )
            )
        t2 = time.perf_counter()
        export_stats = export_datasets(
            [lake.raw("rule_labels", p) for p in parts],
            lake.export("classification_data.csv"),
            lake.export("ner_data.jsonl"),
            workers=workers,
        )
        t3 = time.perf_counter()
        accepted = stats.total("accepted")
        out.update(
            accepted=accepted,
            exported=sum(export_stats.per_split.values()),
            ingest_s=round(t1 - t0, 2),
            label_s=round(t2 - t1, 2),
            export_s=round(t3 - t2, 2),
            total_s=round(t3 - t0, 2),
            ingest_msgs_s=round(accepted / (t1 - t0)),
            label_msgs_s=round(accepted / (t2 - t1)),
            export_msgs_s=round(accepted / (t3 - t2)),
            end_to_end_msgs_s=round(accepted / (t3 - t0)),
        )
    # Parent + the labelling workers: peak RSS of this process and of its largest child.
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["peak_worker_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.workers)))
        return
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        proc = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--workers", str(args.workers)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    cols = [
        "messages",
        "days",
        "ingest_msgs_s",
        "label_msgs_s",
        "export_msgs_s",
        "end_to_end_msgs_s",
        "total_s",
        "peak_rss_mb",
        "peak_worker_rss_mb",
    ]
    print("\n| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print(
            "| "
            + " | ".join(f"{r[c]:,}" if isinstance(r[c], int) else str(r[c]) for c in cols)
            + " |"
        )
    if len(rows) > 1:
        small, big = rows[0], rows[-1]
        print(
            f"\nmemory ratio {big['messages'] // small['messages']}x messages: "
            f"{big['peak_rss_mb'] / small['peak_rss_mb']:.2f}x peak RSS; "
            f"largest run end to end {big['total_s']} s (goal < 60 s for 1M)"
        )


if __name__ == "__main__":
    main()
