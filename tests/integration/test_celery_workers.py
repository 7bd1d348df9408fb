"""trademl beyond one process: steps on real Celery workers over a real Redis, events in a real
PostgreSQL, outputs in one shared lake (TRADEML_PROFILE=celery), and training runs queued one at a
time by a real dagster-daemon (the production profile's QueuedRunCoordinator).

Every process is started the way the README tells a desk to start it: workers with
``dagster-celery worker start -A dagster_celery.app -y <config> -q <queue>``, runs in their own
process (tests/integration/celery_runner.py, as a run worker would), the daemon with
``dagster-daemon run``. The jobs are trademl's own (tests/integration/celery_location.py adds
three test-only ones: a step slow enough to kill a worker in, a GPU-tagged step, and a run that
holds the GPU slot).

Skips without PostgreSQL or Redis on 127.0.0.1 (``make services`` starts both).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.integration.conftest import DEMO_DAYS, REPO, port_open

pytestmark = pytest.mark.integration

VENV_BIN = Path(sys.executable).parent
REDIS = ("127.0.0.1", 6379)
#: Redis databases of these tests (broker, results), flushed before and after each test.
BROKER_DB, BACKEND_DB = 13, 14
#: Redis hands an unacknowledged task to another worker after this many seconds; the slow step
#: (SLOW_SECONDS plus a first-task import) must finish well inside it.
VISIBILITY_TIMEOUT = 25
SLOW_SECONDS = 6


def _redis():
    redis = pytest.importorskip("redis")
    if not port_open(*REDIS):
        pytest.skip("Redis is not reachable on 127.0.0.1:6379 (run `make services`)")
    return redis


@pytest.fixture
def cluster(tmp_path, postgres_server, pg_database, demo_inbox, artifact_dir):
    """Environment shared by the run process, the workers and the daemon; starts workers."""
    redis = _redis()
    for db in (BROKER_DB, BACKEND_DB):
        redis.Redis(host=REDIS[0], port=REDIS[1], db=db).flushdb()
    home = tmp_path / "dagster_home"
    home.mkdir()
    # The celery profile's instance file, as deploy/README.md says to install it.
    shutil.copy(REPO / "deploy" / "celery" / "dagster.yaml", home / "dagster.yaml")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TRADEML_", "DAGSTER_", "CELERY_"))
    }
    env.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONPATH": str(REPO),
            "DAGSTER_HOME": str(home),
            "TRADEML_PG_USER": postgres_server["user"],
            "TRADEML_PG_PASSWORD": postgres_server["password"],
            "TRADEML_PG_HOST": postgres_server["host"],
            "TRADEML_PG_PORT": str(postgres_server["port"]),
            "TRADEML_PG_DB": pg_database,
            "TRADEML_PROFILE": "celery",
            "TRADEML_HOME": str(tmp_path / "var"),
            "TRADEML_LAKE": str(tmp_path / "lake"),
            "TRADEML_INBOX": str(demo_inbox),
            "TRADEML_CELERY_BROKER": f"redis://{REDIS[0]}:{REDIS[1]}/{BROKER_DB}",
            "TRADEML_CELERY_BACKEND": f"redis://{REDIS[0]}:{REDIS[1]}/{BACKEND_DB}",
            "TRADEML_CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "TRADEML_TEST_SLOW_SECONDS": str(SLOW_SECONDS),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
    )
    c = Cluster(env, tmp_path, artifact_dir)
    try:
        yield c
    finally:
        c.stop()
        for db in (BROKER_DB, BACKEND_DB):
            redis.Redis(host=REDIS[0], port=REDIS[1], db=db).flushdb()


class Cluster:
    def __init__(self, env: dict[str, str], tmp: Path, logs: Path):
        self.env, self.tmp, self.logs = env, tmp, logs
        self.workers: dict[str, subprocess.Popen] = {}
        self.others: list[subprocess.Popen] = []
        from trademl_jobs.profiles import celery_config

        # The workers' -y file: the executor config the run process builds from the same env.
        self.worker_yaml = tmp / "celery.yaml"
        self.worker_yaml.write_text(
            yaml.safe_dump({"execution": {"config": celery_config(env)}}), encoding="utf-8"
        )

    @property
    def lake(self) -> Path:
        return Path(self.env["TRADEML_LAKE"])

    def start_worker(self, name: str, queue: str) -> None:
        """``dagster-celery worker start -q QUEUE``, one task at a time (solo pool)."""
        log = (self.logs / f"worker-{name}.log").open("w")
        proc = subprocess.Popen(
            [
                str(VENV_BIN / "dagster-celery"),
                "worker",
                "start",
                "-A",
                "dagster_celery.app",
                "-y",
                str(self.worker_yaml),
                "-q",
                queue,
                "-n",
                name,
                "--",
                "--pool=solo",
            ],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers[name] = proc
        deadline = time.monotonic() + 90
        path = self.logs / f"worker-{name}.log"
        while time.monotonic() < deadline:
            if " ready." in path.read_text(errors="replace"):
                return
            if proc.poll() is not None:
                pytest.fail(f"worker {name} exited: {path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)
        pytest.fail(f"worker {name} not ready in 90 s: {path.read_text(errors='replace')[-2000:]}")

    def kill_worker(self, name: str) -> list[int]:
        """SIGKILL the worker's processes (the CLI and the celery process it started)."""
        import psutil

        proc = self.workers[name]
        victims = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        for p in reversed(victims):
            p.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return [p.pid for p in victims]

    def run(self, job: str, partition: str | None = None, *, in_process: bool = False, lake=None):
        """A run in its own process (like a run worker); returns (run_id, success)."""
        env = dict(self.env)
        if in_process:
            env["TRADEML_PROFILE"] = "local"
        if lake is not None:
            env["TRADEML_LAKE"] = str(lake)
        args = [sys.executable, "-m", "tests.integration.celery_runner", job]
        args += [partition] if partition else []
        args += ["--in-process"] if in_process else []
        log = self.logs / f"run-{job}-{partition or 'all'}{'-inproc' if in_process else ''}.log"
        with log.open("w") as handle:
            out = subprocess.run(
                args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=handle, timeout=300
            )
        lines = out.stdout.decode().strip().splitlines()
        assert lines, f"{job} printed nothing; see {log}"
        answer = json.loads(lines[-1])
        return answer["run_id"], answer["success"]

    def start(self, args: list[str], name: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        proc = subprocess.Popen(
            args,
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.others.append(proc)
        return proc

    def instance(self):
        from dagster import DagsterInstance

        saved = {
            k: os.environ.get(k) for k in self.env if k.startswith(("TRADEML_PG_", "DAGSTER_"))
        }
        os.environ.update({k: self.env[k] for k in saved})
        try:
            return DagsterInstance.from_config(self.env["DAGSTER_HOME"])
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def stop(self) -> None:
        for proc in [*self.workers.values(), *self.others]:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc in [*self.workers.values(), *self.others]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def worker_of_steps(instance, run_id: str) -> dict[str, list[str]]:
    """step key -> the Celery workers that reported executing it (in order)."""
    from dagster import DagsterEventType

    out: dict[str, list[str]] = {}
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        meta = entry.dagster_event.engine_event_data.metadata
        if "Celery worker" in meta:
            out.setdefault(entry.step_key, []).append(meta["Celery worker"].value)
    return out


def lake_files(root: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(root)): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and "models" not in p.relative_to(root).parts
    }


def assert_same_lake(got: Path, want: Path) -> None:
    """Same files, same rows: what the Celery workers wrote equals the in-process run's."""
    g, w = lake_files(got), lake_files(want)
    assert sorted(g) == sorted(w)
    assert not [k for k in g if Path(k).name.startswith(".")], "temporary files left in the lake"
    for rel in w:
        if rel.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(g[rel]), pd.read_parquet(w[rel]))
        elif rel.endswith((".csv", ".jsonl")):
            assert g[rel].read_bytes() == w[rel].read_bytes(), rel


def test_jobs_on_two_celery_workers_match_the_in_process_run(cluster):
    cluster.start_worker("w1", "dagster")
    cluster.start_worker("w2", "dagster")
    runs = [cluster.run("ingest_job", day) for day in DEMO_DAYS]
    runs.append(cluster.run("datasets_job"))
    assert all(ok for _, ok in runs), runs

    reference = cluster.tmp / "reference_lake"
    for day in DEMO_DAYS:
        assert cluster.run("ingest_job", day, in_process=True, lake=reference)[1]
    assert cluster.run("datasets_job", in_process=True, lake=reference)[1]

    assert (cluster.lake / "raw" / "raw_messages" / f"date={DEMO_DAYS[0]}.parquet").is_file()
    assert (cluster.lake / "exports" / "classification_data.csv").is_file()
    assert_same_lake(cluster.lake, reference)

    with cluster.instance() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        steps = {}
        for run_id, _ in runs:
            steps.update(worker_of_steps(instance, run_id))
        # Every step ran on a Celery worker, and both workers took steps.
        assert {"raw_messages", "rule_labels", "signal_datasets"} <= set(steps)
        assert {w.split("@")[0] for ws in steps.values() for w in ws} == {"w1", "w2"}


def test_a_worker_killed_mid_step_loses_nothing(cluster):
    from dagster import AssetKey, DagsterRunStatus

    cluster.start_worker("w1", "dagster")
    cluster.start_worker("w2", "dagster")
    day = DEMO_DAYS[0]
    runner = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.celery_runner", "slow_copy", day],
        cwd=REPO,
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=(cluster.logs / "run-slow_copy.log").open("w"),
    )
    with cluster.instance() as instance:
        deadline = time.monotonic() + 120
        victim = None
        while victim is None and time.monotonic() < deadline and runner.poll() is None:
            for run in instance.get_runs():
                workers = worker_of_steps(instance, run.run_id).get("slow_message_copy")
                if workers:
                    victim = workers[0].split("@")[0]
            time.sleep(0.3)
        assert victim is not None, "the slow step never started on a worker"
        time.sleep(1.0)  # well inside the step's sleep: the worker is mid-step
        cluster.kill_worker(victim)
        out, _ = runner.communicate(timeout=240)
        answer = json.loads(out.decode().strip().splitlines()[-1])
        assert answer["success"], "the run failed after its worker was killed"

        run = instance.get_run_by_id(answer["run_id"])
        assert run.status == DagsterRunStatus.SUCCESS
        survivor = ({"w1", "w2"} - {victim}).pop()
        ran_on = [
            w.split("@")[0] for w in worker_of_steps(instance, run.run_id)["slow_message_copy"]
        ]
        assert ran_on == [victim, survivor]
        materialized = instance.get_latest_materialization_event(AssetKey("slow_message_copy"))
        assert materialized is not None and materialized.run_id == run.run_id

    # Nothing lost or duplicated: the copy equals the day's messages, once, and no temp file.
    copy = cluster.lake / "test" / "slow_message_copy" / f"date={day}.parquet"
    raw = pd.read_parquet(cluster.lake / "raw" / "raw_messages" / f"date={day}.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(copy), raw)
    assert len(raw) > 0 and not raw.duplicated().any()
    assert not [p for p in cluster.lake.rglob(".*") if p.is_file()]


def test_gpu_tagged_steps_run_only_on_the_gpu_queue_worker(cluster):
    cluster.start_worker("cpu", "dagster")
    cluster.start_worker("gpu", "gpu")
    assert cluster.run("ingest_job", DEMO_DAYS[0])[1]
    run_id, ok = cluster.run("routing")
    assert ok
    with cluster.instance() as instance:
        steps = worker_of_steps(instance, run_id)
        ingest_steps = {
            k: v
            for r in instance.get_runs()
            if r.run_id != run_id
            for k, v in worker_of_steps(instance, r.run_id).items()
        }
    assert [w.split("@")[0] for w in steps["fake_training"]] == ["gpu"]
    assert [w.split("@")[0] for w in steps["cpu_summary"]] == ["cpu"]
    assert ingest_steps and all(
        w.split("@")[0] == "cpu" for ws in ingest_steps.values() for w in ws
    )


def test_queued_training_runs_hold_the_gpu_slot_one_at_a_time(cluster):
    from dagster import DagsterRunStatus
    from dagster._core.run_coordinator import QueuedRunCoordinator

    spans = cluster.tmp / "spans.jsonl"
    cluster.env["TRADEML_TEST_SPANS"] = str(spans)
    cluster.env["TRADEML_TEST_HOLD_SECONDS"] = "3"
    location = ["-m", "tests.integration.celery_location", "-a", "gpu_slot_defs"]
    # The instance's tables are created once here: three launches that each find a fresh
    # database race to create them ("type run_tags already exists").
    with cluster.instance():
        pass
    launches = [
        cluster.start(
            [str(VENV_BIN / "dagster"), "job", "launch", *location, "-j", "gpu_slot_job"],
            f"launch-{i}",
        )
        for i in range(3)
    ]
    for proc in launches:
        assert proc.wait(timeout=120) == 0
    with cluster.instance() as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queued = instance.get_runs()
        assert len(queued) == 3
        assert {r.status for r in queued} == {DagsterRunStatus.QUEUED}
        assert all(r.tags.get("resource") == "gpu" for r in queued)

        cluster.start([str(VENV_BIN / "dagster-daemon"), "run", *location], "daemon")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            runs = instance.get_runs()
            if all(r.is_finished for r in runs):
                break
            time.sleep(1)
        runs = instance.get_runs()
        assert [r.status for r in runs] == [DagsterRunStatus.SUCCESS] * 3
        records = instance.get_run_records()

    # The ops' own clocks and Dagster's run records agree: never two at once.
    for intervals in (
        sorted((s["start"], s["end"]) for s in map(json.loads, spans.read_text().splitlines())),
        sorted((r.start_time, r.end_time) for r in records),
    ):
        assert len(intervals) == 3
        for (_, end), (start, _) in zip(intervals, intervals[1:], strict=False):
            assert start >= end, intervals


def test_scheduled_ingest_overtakes_a_backfill_waiting_on_the_same_queue(cluster):
    """One busy worker, a backfill's steps queued, then a scheduled ingest run's: the scheduled
    run's steps (dagster-celery/run_priority from the schedule) jump the queue."""
    from dagster import DagsterEventType

    from trademl_jobs.profiles import INGEST_RUN_PRIORITY

    cluster.env["TRADEML_TEST_SLOW_SECONDS"] = "25"  # the blocker: long enough to queue behind
    cluster.start_worker("solo", "dagster")
    runner = [sys.executable, "-m", "tests.integration.celery_runner"]

    def submitted(instance, marker: str) -> str | None:
        """run_id of the run tagged ``marker`` once its first steps are on the queue."""
        for run in instance.get_runs():
            if run.tags.get("test") != marker:
                continue
            for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
                if entry.dagster_event.message.startswith("Submitting celery task"):
                    return run.run_id
        return None

    def launch(args: list[str], marker: str, instance) -> str:
        cluster.start([*runner, *args, "--tag", f"test={marker}"], f"run-{marker}")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            run_id = submitted(instance, marker)
            if run_id:
                return run_id
            time.sleep(0.5)
        pytest.fail(f"run {marker} never queued a step")

    with cluster.instance() as instance:
        blocker = launch(["slow_copy", DEMO_DAYS[0]], "blocker", instance)
        deadline = time.monotonic() + 120
        while not worker_of_steps(instance, blocker).get("slow_message_copy"):
            assert time.monotonic() < deadline, "the blocking step never started"
            time.sleep(0.5)
        backfill = launch(["ingest_job", DEMO_DAYS[1]], "backfill", instance)
        scheduled = launch(
            [
                "ingest_job",
                DEMO_DAYS[1],
                "--tag",
                f"dagster-celery/run_priority={INGEST_RUN_PRIORITY}",
            ],
            "scheduled",
            instance,
        )
        # Both runs were waiting while the blocker still held the only worker.
        assert not worker_of_steps(instance, backfill) and not worker_of_steps(instance, scheduled)
        deadline = time.monotonic() + 240
        while not all(
            instance.get_run_by_id(r).is_finished for r in (blocker, backfill, scheduled)
        ):
            assert time.monotonic() < deadline, "runs did not finish"
            time.sleep(1)
        assert all(instance.get_run_by_id(r).is_success for r in (blocker, backfill, scheduled))

        def executed_at(run_id: str) -> list[float]:
            return [
                e.timestamp
                for e in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
                if "Celery worker" in e.dagster_event.engine_event_data.metadata
            ]

        # The scheduled run's waiting steps (the day's four sources) were all served before the
        # backfill's first, although queued after it; later steps of both interleave as each
        # run's executor submits them, and the scheduled run still finishes first.
        first_backfill = min(executed_at(backfill))
        assert sum(t < first_backfill for t in executed_at(scheduled)) >= 4
        end = {r: instance.get_run_record_by_id(r).end_time for r in (backfill, scheduled)}
        assert end[scheduled] < end[backfill]
