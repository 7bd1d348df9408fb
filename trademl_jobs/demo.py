"""`make demo`: materialize the whole asset graph on the embedded instance and print the headlines.

Runs land in $DAGSTER_HOME like any other run, so `make ui` shows them afterwards.
"""

from __future__ import annotations

import sys
import time
import dagster as dg

from trademl.ingest.inbox import days_in_files
from trademl_jobs.definitions import defs
from trademl_resources import trademl_home


#: Console logs at INFO: warnings and per-epoch training lines; step-level events stay in the UI.
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def _partitions_with_data() -> list[str]:
    sources = defs.resources["message_sources"].sources()
    return sorted(days_in_files((k, p) for k, paths in sources.files().items() for p in paths))


def run_demo() -> int:
    instance = dg.DagsterInstance.get()
    home = trademl_home()
    inbox = home / "demo_data"
    started = time.monotonic()
    days = _partitions_with_data()
    ingest = defs.resolve_job_def("ingest_job")
    for day in days:
        t0 = time.monotonic()
        result = ingest.execute_in_process(
            instance=instance, partition_key=day, raise_on_error=False, run_config=QUIET
        )
        print(f"ingest_job {day}: {'ok' if result.success else 'FAILED'} ({time.monotonic() - t0:.1f} s)")
        if not result.success:
            return 1
    for job_name in ("datasets_job", "retrain_job"):
        t0 = time.monotonic()
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET
        )
        print(f"{job_name}: {'ok' if result.success else 'FAILED'} ({time.monotonic() - t0:.1f} s)")
        if not result.success:
            return 1

    from trademl.signals.evaluation import load_gold, score_signals
    from trademl.signals.extractors import get_extractor

    lake = home / "lake"
    print(f"\nwhole graph materialized in {time.monotonic() - started:.0f} s; runs are in {instance.root_directory}")
    print(f"lake:      {lake.resolve()}")
    print(f"exports:   {(lake / 'exports').resolve()}")
    print(f"quarantine:{(lake / 'quarantine').resolve()}")
    gold = load_gold(inbox / "answers.jsonl")
    extractors = [get_extractor("rules"), get_extractor("auto")]
    if extractors[1].name == "rules":
        extractors.pop()
    for extractor in extractors:
        m = score_signals(gold, extractor.predict([g["text"] for g in gold]))
        print(
            f"{extractor.name:>8} on the demo answer file ({m['n']} messages): "
            f"accuracy {m['classification']['accuracy']:.3f}, macro-F1 {m['classification']['macro_f1']:.3f}, "
            f"field micro-F1 {m['extraction']['micro_f1']:.3f}"
        )
    print("\nsee it in the UI: make ui  (http://127.0.0.1:3000)")
    return 0


if __name__ == "__main__":
    sys.exit(run_demo())
