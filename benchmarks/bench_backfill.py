"""Backfill benchmark: a 30-partition ingest backfill on three executors, same data, one run.

    .venv/bin/python benchmarks/bench_backfill.py [--partitions 30] [--messages 20]
        [--modes in_process,multiprocess,celery]

Each mode runs ``ingest_job`` (messages, market features, candles, social posts, their checks and
rule labels) for every day of one demo inbox, one run per partition as a backfill launches them,
against one PostgreSQL instance (a fresh database, dropped at the end), each mode into its own
lake; the lakes are compared at the end (same files, same rows) so the figures are for the same
work. Modes:

    in_process     Dagster's in-process executor: every step in the run's process
    multiprocess   Dagster's multiprocess executor (TRADEML_PROFILE=local): a process per step,
                   two at a time on 2 cores
    celery         TRADEML_PROFILE=celery: every step a task on two `dagster-celery worker`
                   processes over Redis (databases 9 and 10 on 127.0.0.1:6379, flushed)

Runs are launched one after another by one driver process per mode (the run queue's
max_concurrent_runs would overlap them in production; see the README for what that changes).
Needs PostgreSQL and Redis on 127.0.0.1 (``make services``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
BROKER_DB, BACKEND_DB = 9, 10


def drive(mode: str, days: list[str]) -> dict:
    """Inside a mode's subprocess: one run per day, timed."""
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    repo = ReconstructableRepository.for_module(
        "trademl_jobs.definitions", "defs", working_directory=str(REPO)
    )
    job = repo.get_reconstructable_job("ingest_job")
    run_config = {"execution": {"config": {"in_process": {}}}} if mode == "in_process" else {}
    seconds = []
    with dg.DagsterInstance.get() as instance:
        start = time.perf_counter()
        for day in days:
            t0 = time.perf_counter()
            result = dg.execute_job(
                job,
                instance=instance,
                tags={"dagster/partition": day, "dagster/backfill": f"bench-{mode}"},
                run_config=run_config,
                raise_on_error=False,
            )
            if not result.success:
                raise SystemExit(f"{mode}: run for {day} failed ({result.run_id})")
            seconds.append(time.perf_counter() - t0)
        wall = time.perf_counter() - start
    return {"mode": mode, "wall_s": wall, "runs": len(days), "run_s": seconds}


def lake_digest(root: Path) -> dict[str, int]:
    import pandas as pd

    return {
        str(p.relative_to(root)): len(pd.read_parquet(p))
        for p in sorted(root.rglob("*.parquet"))
        if "models" not in p.parts
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=30)
    parser.add_argument("--messages", type=int, default=20, help="per channel per day")
    parser.add_argument("--modes", default="in_process,multiprocess,celery")
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.drive:  # a mode's subprocess
        days = json.loads(os.environ["BENCH_DAYS"])
        print(json.dumps(drive(args.drive, days)), flush=True)
        return

    import psycopg2
    import redis
    import yaml

    from trademl.demo import generate_demo_data
    from trademl_jobs.profiles import celery_config

    work = Path(tempfile.mkdtemp(prefix="bench_backfill_"))
    db = f"bench_backfill_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{db}"')
    workers: list[subprocess.Popen] = []
    try:
        inbox = work / "inbox"
        t0 = time.perf_counter()
        generate_demo_data(
            inbox, seed=3, days=args.partitions, messages_per_channel_per_day=args.messages
        )
        start = date(2026, 11, 1)  # generate_demo_data's first day
        days = [(start + timedelta(days=i)).isoformat() for i in range(args.partitions)]
        print(f"demo inbox: {len(days)} days in {time.perf_counter() - t0:.1f} s ({inbox})")
        home = work / "dagster_home"
        home.mkdir()
        shutil.copy(REPO / "deploy" / "celery" / "dagster.yaml", home / "dagster.yaml")
        base_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TRADEML_", "DAGSTER_"))},
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(REPO),
            "DAGSTER_HOME": str(home),
            "TRADEML_PG_USER": "postgres",
            "TRADEML_PG_PASSWORD": "",
            "TRADEML_PG_HOST": "127.0.0.1",
            "TRADEML_PG_PORT": "5432",
            "TRADEML_PG_DB": db,
            "TRADEML_HOME": str(work / "var"),
            "TRADEML_INBOX": str(inbox),
            "TRADEML_CELERY_BROKER": f"redis://127.0.0.1:6379/{BROKER_DB}",
            "TRADEML_CELERY_BACKEND": f"redis://127.0.0.1:6379/{BACKEND_DB}",
            "BENCH_DAYS": json.dumps(days),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        results = []
        for mode in args.modes.split(","):
            env = {
                **base_env,
                "TRADEML_PROFILE": "celery" if mode == "celery" else "local",
                "TRADEML_LAKE": str(work / f"lake_{mode}"),
            }
            if mode == "celery":
                for d in (BROKER_DB, BACKEND_DB):
                    redis.Redis(db=d).flushdb()
                conf = work / "celery.yaml"
                conf.write_text(yaml.safe_dump({"execution": {"config": celery_config(env)}}))
                for name in ("bench1", "bench2"):
                    log = (work / f"worker-{name}.log").open("w")
                    workers.append(
                        subprocess.Popen(
                            [str(VENV_BIN / "dagster-celery"), "worker", "start", "-A",
                             "dagster_celery.app", "-y", str(conf), "-q", "dagster", "-n", name,
                             "--", "--pool=solo"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )  # fmt: skip
                for name in ("bench1", "bench2"):
                    path = work / f"worker-{name}.log"
                    deadline = time.monotonic() + 120
                    while " ready." not in path.read_text(errors="replace"):
                        if time.monotonic() > deadline:
                            raise SystemExit(f"worker {name} not ready: see {path}")
                        time.sleep(0.5)
            print(f"{mode}: {len(days)} runs ...", flush=True)
            out = subprocess.run(
                [sys.executable, __file__, "--drive", mode],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=(work / f"drive-{mode}.log").open("w"),
                check=False,
            )
            if out.returncode != 0:
                raise SystemExit(f"{mode} failed: see {work / f'drive-{mode}.log'}")
            results.append(json.loads(out.stdout.decode().strip().splitlines()[-1]))

        digests = {r["mode"]: lake_digest(work / f"lake_{r['mode']}") for r in results}
        reference = next(iter(digests.values()))
        same = all(d == reference for d in digests.values())
        rows = sum(n for k, n in reference.items() if k.startswith("raw/raw_messages"))
        base = results[0]["wall_s"]
        print()
        print(f"{len(days)} partitions, {rows} messages, lakes identical across modes: {same}")
        print(
            f"{'mode':<14}{'wall s':>9}{'s / run':>10}{'partitions/s':>14}{'vs ' + results[0]['mode']:>18}"
        )
        for r in results:
            print(
                f"{r['mode']:<14}{r['wall_s']:>9.1f}{r['wall_s'] / r['runs']:>10.2f}"
                f"{r['runs'] / r['wall_s']:>14.3f}{base / r['wall_s']:>17.2f}x"
            )
        if not same:
            raise SystemExit("the lakes differ between modes")
    finally:
        for proc in workers:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
