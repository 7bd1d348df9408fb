"""The code location the Celery integration tests run: trademl's own definitions (executor and
resources from the environment, exactly as a deployment builds them: TRADEML_PROFILE,
TRADEML_LAKE, TRADEML_INBOX, ...) plus three test-only jobs that need a step slow enough to kill
a worker in, a GPU-tagged step, and a training-tagged run that records when it ran.

Workers import this module by name (``tests.integration.celery_location``) from the repo root,
so the run process and every worker build the same jobs.
"""

import json
import os
import time
from pathlib import Path

import dagster as dg
import pandas as pd

from trademl.lake import atomic_path
from trademl_assets.partitions import daily_partitions
from trademl_assets.signals.models import TRAINING_TAGS
from trademl_jobs.definitions import build_definitions
from trademl_jobs.jobs import TRAINING_RUN_TAGS
from trademl_resources import LakeResource

#: Seconds the slow step sleeps (the test kills the worker running it meanwhile).
SLOW_SECONDS = float(os.environ.get("TRADEML_TEST_SLOW_SECONDS", "12"))


@dg.asset(partitions_def=daily_partitions, deps=["raw_messages"], group_name="celery_test")
def slow_message_copy(
    context: dg.AssetExecutionContext, lake: LakeResource
) -> dg.MaterializeResult:
    """raw_messages of the day, copied after a pause, with one atomic write: a step to kill."""
    day = context.partition_key
    frame = pd.read_parquet(lake.lake().raw("raw_messages", day))
    context.log.info(f"slow_message_copy {day}: sleeping {SLOW_SECONDS} s on pid {os.getpid()}")
    time.sleep(SLOW_SECONDS)
    target = lake.lake().partition_path("test", "slow_message_copy", day)
    with atomic_path(target) as tmp:
        frame.to_parquet(tmp, index=False)
    return dg.MaterializeResult(metadata={"rows": len(frame), "pid": os.getpid()})


@dg.asset(group_name="celery_test")
def cpu_summary(lake: LakeResource) -> dg.MaterializeResult:
    """A CPU step: counts the raw partitions."""
    days = lake.lake().partitions("raw", "raw_messages")
    return dg.MaterializeResult(metadata={"days": len(days), "pid": os.getpid()})


@dg.asset(group_name="celery_test", deps=[cpu_summary], op_tags=TRAINING_TAGS)
def fake_training(lake: LakeResource) -> dg.MaterializeResult:
    """A step tagged like every training asset (resource=gpu, dagster-celery/queue=gpu)."""
    return dg.MaterializeResult(metadata={"pid": os.getpid()})


@dg.op(tags=TRAINING_TAGS)
def hold_the_gpu(context: dg.OpExecutionContext) -> None:
    """Records its start and end in $TRADEML_TEST_SPANS, sleeping in between."""
    start = time.time()
    time.sleep(float(os.environ.get("TRADEML_TEST_HOLD_SECONDS", "2")))
    spans = Path(os.environ["TRADEML_TEST_SPANS"])
    with spans.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"run_id": context.run_id, "start": start, "end": time.time()}))
        handle.write("\n")


@dg.job(tags=TRAINING_RUN_TAGS, executor_def=dg.in_process_executor)
def gpu_slot_job():
    hold_the_gpu()


slow_copy_job = dg.define_asset_job(
    "slow_copy_job",
    selection=dg.AssetSelection.groups("ingest") | dg.AssetSelection.assets(slow_message_copy),
    partitions_def=daily_partitions,
)
routing_job = dg.define_asset_job(
    "routing_job", selection=dg.AssetSelection.assets(cpu_summary, fake_training)
)

defs = dg.Definitions.merge(
    build_definitions(),
    dg.Definitions(
        assets=[slow_message_copy, cpu_summary, fake_training],
        jobs=[slow_copy_job, routing_job, gpu_slot_job],
    ),
)


# Module-level functions dg.reconstructable() can point the workers at.
def ingest_job() -> dg.JobDefinition:
    return defs.resolve_job_def("ingest_job")


def datasets_job() -> dg.JobDefinition:
    return defs.resolve_job_def("datasets_job")


def slow_copy() -> dg.JobDefinition:
    return defs.resolve_job_def("slow_copy_job")


def routing() -> dg.JobDefinition:
    return defs.resolve_job_def("routing_job")


#: The location the dagster-daemon test serves: the training-tagged job alone (no schedule or
#: sensor of the real definitions fires beside it).
gpu_slot_defs = dg.Definitions(jobs=[gpu_slot_job])
