"""Run one job of tests/integration/celery_location.py as a run worker would, in its own process.

    python -m tests.integration.celery_runner JOB [PARTITION] [--in-process] [--tag KEY=VALUE]...

The instance is $DAGSTER_HOME's; the executor is TRADEML_PROFILE's (``--in-process`` forces
Dagster's in-process executor, the reference run). Prints one JSON line: run_id, success.
"""

import json
import sys

import dagster as dg

from tests.integration import celery_location


def main(argv: list[str]) -> int:
    in_process = "--in-process" in argv
    tags: dict[str, str] = {}
    args: list[str] = []
    rest = iter(a for a in argv if a != "--in-process")
    for arg in rest:
        if arg == "--tag":
            key, _, value = next(rest).partition("=")
            tags[key] = value
        else:
            args.append(arg)
    job_fn = getattr(celery_location, args[0])
    if len(args) > 1:
        tags["dagster/partition"] = args[1]
    run_config = {"execution": {"config": {"in_process": {}}}} if in_process else {}
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            dg.reconstructable(job_fn),
            instance=instance,
            tags=tags,
            run_config=run_config,
            raise_on_error=False,
        )
        print(json.dumps({"run_id": result.run_id, "success": result.success}), flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
