"""End to end through the Dagster UI's own surfaces: ``dagster-webserver`` and ``dagster-daemon`` on
the repo's workspace.yaml and dagster.yaml (SQLite instance in a temporary DAGSTER_HOME), a
partition backfill of ``ingest_job`` launched over GraphQL and run by the daemon, then the global
asset lineage page rendered in headless Chromium.

Artifacts (screenshot, DOM dump, service logs on failure) go to ``<repo>/test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
BIN = Path(sys.executable).parent
DAYS = ["2026-11-01", "2026-11-02"]
ASSETS = ["raw_messages", "rule_labels", "classification_dataset"]
#: The global asset lineage page in Dagster 1.13 (the "Lineage" entry of the side bar). With more
#: than one asset group it starts with every group collapsed (only group names in the DOM);
#: ``expanded`` lists the group ids to open: ``global@global:<group>``, or
#: ``<repo>@<location>:<group>`` under the per-code-location grouping feature flag (unknown ids
#: are ignored, so both forms are given).
LINEAGE_PATH = "/asset-groups?expanded={groups}"
#: Large enough for the whole graph at a zoom where nodes show full names and their status rows;
#: zoomed further out the UI draws "minimal" nodes with middle-truncated names (``ab…yz``).
WINDOW = "2400,1400"


def names_in_dom(html: str, names: list[str]) -> list[str]:
    """Which of ``names`` the page shows, in full or middle-truncated by the UI (``ab…yz``)."""
    truncated = re.findall(r"([\w.-]+)…([\w.-]+)", html)
    return [
        name
        for name in names
        if name in html
        or any(
            name.startswith(a) and name.endswith(b) and len(a) + len(b) < len(name)
            for a, b in truncated
        )
    ]


pytestmark = pytest.mark.integration

requests = pytest.importorskip("requests")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """A Dagster CLI process in its own session, logging to a file; stopped by SIGTERM, SIGKILL."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen(
            args,
            cwd=REPO,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 15.0) -> None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)  # the whole group: code servers and runs it started
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        try:  # children left behind in the group after the leader exited
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log_file.close()

    def tail(self, n: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


class GraphQL:
    def __init__(self, base: str):
        self.url = f"{base}/graphql"

    def __call__(self, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
        resp = requests.post(
            self.url, json={"query": query, "variables": variables or {}}, timeout=timeout
        )
        resp.raise_for_status()
        body = resp.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]


@dataclass
class Stack:
    """A running webserver (and, once started, daemon) over a fresh instance and lake."""

    base: str
    env: dict[str, str]
    gql: GraphQL
    repo: dict
    location: str
    start: Callable[[str, list[str]], Service]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, demo_inbox, request):
    """dagster-webserver on the repo's workspace.yaml, a fresh DAGSTER_HOME holding the repo's
    dagster.yaml (SQLite), the lake in a tmp dir, the NUX pop-up dismissed and the schedule and
    sensors stopped. Services are always stopped at teardown; their logs are kept under
    ``test-artifacts/webserver_backfill/`` when a test in this module failed."""
    if not (BIN / "dagster-webserver").exists() or not (BIN / "dagster-daemon").exists():
        pytest.skip(f"dagster-webserver / dagster-daemon not installed next to {sys.executable}")
    tmp = tmp_path_factory.mktemp("dagster_stack")
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEML_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        TRADEML_HOME=str(tmp / "var"),
        TRADEML_LAKE=str(tmp / "lake"),
        TRADEML_INBOX=str(demo_inbox),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    started: list[Service] = []

    def start(name: str, args: list[str]) -> Service:
        service = Service(name, args, env, tmp)
        started.append(service)
        return service

    failed_before = request.session.testsfailed
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        web = start(
            "webserver",
            [
                str(BIN / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                str(REPO / "workspace.yaml"),
            ],
        )
        wait_for_webserver(base, web)
        gql = GraphQL(base)
        assert gql("mutation { setNuxSeen }")["setNuxSeen"] is True  # no pop-up on screenshots
        repo = load_repository(gql)
        stop_instigators(gql, repo)
        yield Stack(base, env, gql, repo, repo["location"]["name"], start)
    except BaseException:
        failed_before = -1  # the set-up itself failed: keep the logs
        raise
    finally:
        for service in reversed(started):
            service.stop()
        if request.session.testsfailed > failed_before:
            keep = ARTIFACTS / "webserver_backfill"
            keep.mkdir(parents=True, exist_ok=True)
            for service in started:
                shutil.copy(service.log, keep / service.log.name)


def wait_for_webserver(base: str, web: Service, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert web.alive(), f"dagster-webserver exited:\n{web.tail()}"
        try:
            if requests.get(f"{base}/server_info", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    pytest.fail(f"dagster-webserver did not answer within {timeout:.0f} s:\n{web.tail()}")


REPOSITORIES = """
{ repositoriesOrError {
    __typename
    ... on RepositoryConnection { nodes {
        name location { name }
        sensors { id name sensorState { status } }
        schedules { id name scheduleState { status } }
    } }
    ... on PythonError { message }
} }"""

LOCATIONS = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } }
} } } }"""


def load_repository(gql: GraphQL, timeout: float = 90) -> dict:
    """The trademl repository, once its code location has loaded (fails with the load error)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = gql(LOCATIONS)["workspaceOrError"]["locationEntries"]
        errors = [
            e
            for e in entries
            if e["locationOrLoadError"] and e["locationOrLoadError"]["__typename"] == "PythonError"
        ]
        assert not errors, errors
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            nodes = gql(REPOSITORIES)["repositoriesOrError"]["nodes"]
            assert len(nodes) == 1, nodes
            return nodes[0]
        time.sleep(1)
    pytest.fail(f"code location did not load within {timeout:.0f} s")


def stop_instigators(gql: GraphQL, repo: dict) -> None:
    """Stop the schedule and the sensors (declared RUNNING in code) so the daemon runs only our
    backfill: the inbox sensor would ingest the same days, the automation sensor build datasets."""
    for sensor in repo["sensors"]:
        data = gql(
            "mutation($id: String!) { stopSensor(id: $id) { __typename"
            " ... on StopSensorMutationResult { instigationState { status } } } }",
            {"id": sensor["id"]},
        )["stopSensor"]
        assert data["instigationState"]["status"] == "STOPPED", (sensor["name"], data)
    for schedule in repo["schedules"]:
        data = gql(
            "mutation($id: String!) { stopRunningSchedule(id: $id) { __typename"
            " ... on ScheduleStateResult { scheduleState { status } } } }",
            {"id": schedule["id"]},
        )["stopRunningSchedule"]
        assert data["scheduleState"]["status"] == "STOPPED", (schedule["name"], data)


LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PartitionSetNotFoundError { message }
    ... on PartitionKeysNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { invalidOutputName }
    ... on PythonError { message stack }
} }"""

BACKFILL = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
        status
        partitionStatuses { results { partitionName runId runStatus } }
        error { message }
    }
    ... on PythonError { message }
} }"""

MATERIALIZATIONS = """
query($path: [String!]!) { assetOrError(assetKey: {path: $path}) {
    __typename
    ... on Asset { assetMaterializations { partition runId } }
} }"""

TERMINAL_RUN = {"SUCCESS", "FAILURE", "CANCELED"}
DONE = {"COMPLETED", "COMPLETED_SUCCESS"}
FAILED = {"FAILED", "COMPLETED_FAILED", "CANCELED", "CANCELING", "FAILING"}


def wait_for_backfill(
    gql: GraphQL, backfill_id: str, daemon: Service, timeout: float = 300
) -> dict:
    """Poll until the backfill is done and every partition's run has finished."""
    deadline = time.monotonic() + timeout
    backfill: dict = {}
    while time.monotonic() < deadline:
        assert daemon.alive(), f"dagster-daemon exited:\n{daemon.tail()}"
        backfill = gql(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
        assert backfill["__typename"] == "PartitionBackfill", backfill
        assert backfill["status"] not in FAILED, backfill
        results = (backfill.get("partitionStatuses") or {}).get("results") or []
        finished = {r["partitionName"] for r in results if r["runStatus"] in TERMINAL_RUN}
        if backfill["status"] in DONE and finished >= set(DAYS):
            return backfill
        time.sleep(3)
    pytest.fail(
        f"backfill {backfill_id} not finished within {timeout:.0f} s: {backfill}\n"
        f"daemon log:\n{daemon.tail()}"
    )


def run_chromium(
    chromium: str, url: str, extra: list[str], timeout: float = 120
) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={WINDOW}",
                "--virtual-time-budget=20000",
                *extra,
                url,
            ],
            capture_output=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def backfill(stack) -> dict:
    """A partition backfill of ingest_job over both demo days, launched over GraphQL as the UI's
    "Launch backfill" dialog does, then run by the daemon; returns the finished backfill."""
    selector = {"repositoryName": stack.repo["name"], "repositoryLocationName": stack.location}
    partition_sets = stack.gql(
        """query($repo: RepositorySelector!) { partitionSetsOrError(
               repositorySelector: $repo, pipelineName: "ingest_job") {
             __typename ... on PartitionSets { results { name } } } }""",
        {"repo": selector},
    )["partitionSetsOrError"]
    assert [p["name"] for p in partition_sets["results"]] == ["ingest_job_partition_set"], (
        partition_sets
    )
    launched = stack.gql(
        LAUNCH_BACKFILL,
        {
            "params": {
                "selector": {
                    "partitionSetName": "ingest_job_partition_set",
                    "repositorySelector": selector,
                },
                "partitionNames": DAYS,
                "title": "integration test backfill",
                # One process per run, not one per step: on 2 cores each step process costs ~5 s of
                # imports, and the multiprocess default takes ~2 min a run instead of ~20 s.
                "runConfigData": {"execution": {"config": {"in_process": {}}}},
            }
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    # The daemon (not the webserver) submits backfill runs and dequeues them.
    daemon = stack.start(
        "daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")]
    )
    return wait_for_backfill(stack.gql, launched["backfillId"], daemon) | {
        "id": launched["backfillId"]
    }


RUNS = """
{ runsOrError { __typename ... on Runs { results {
    runId jobName status tags { key value }
} } } }"""


def test_partition_backfill_runs_on_the_daemon(stack, backfill):
    statuses = {
        r["partitionName"]: r["runStatus"] for r in backfill["partitionStatuses"]["results"]
    }
    assert statuses == {day: "SUCCESS" for day in DAYS}, backfill
    run_ids = {r["runId"] for r in backfill["partitionStatuses"]["results"]}

    # Exactly the backfill's runs: the stopped sensors and schedule launched nothing.
    runs = stack.gql(RUNS)["runsOrError"]["results"]
    assert {r["runId"] for r in runs} == run_ids, runs
    for run in runs:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert run["jobName"] == "ingest_job" and run["status"] == "SUCCESS"
        assert tags["dagster/backfill"] == backfill["id"]

    for asset in ("raw_messages", "rule_labels"):
        data = stack.gql(MATERIALIZATIONS, {"path": [asset]})["assetOrError"]
        assert data["__typename"] == "Asset", (asset, data)
        mats = data["assetMaterializations"]
        assert sorted(m["partition"] for m in mats) == DAYS, (asset, mats)
        assert {m["runId"] for m in mats} == run_ids
    lake = Path(stack.env["TRADEML_LAKE"])
    for asset in ("raw_messages", "rule_labels", "candles", "market_features", "social_posts"):
        for day in DAYS:
            assert (lake / "raw" / asset / f"date={day}.parquet").is_file(), (asset, day)


def test_lineage_page_renders_in_chromium(stack, backfill, chromium, artifact_dir):
    """The global asset lineage, rendered client-side: names in the DOM, and a screenshot kept."""
    nodes = stack.gql("{ assetNodes { assetKey { path } groupName } }")["assetNodes"]
    group_of = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes}
    assert {"ingest", "signals"} <= set(group_of.values()), group_of
    # Only the groups that hold the names looked for are expanded: with every group open the
    # graph outgrows the window (the sentiment and vision groups) and the UI culls or shrinks
    # the nodes off screen, which says nothing about whether lineage renders.
    groups = sorted({group_of[name] for name in ASSETS})
    group_ids = [f"global@global:{g}" for g in groups]
    group_ids += [f"{stack.repo['name']}@{stack.location}:{g}" for g in groups]
    url = stack.base + LINEAGE_PATH.format(groups=quote(",".join(group_ids), safe=""))

    dom = run_chromium(chromium, url, ["--dump-dom"])
    (artifact_dir / "lineage.html").write_bytes(dom.stdout)
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    html = dom.stdout.decode(errors="replace")
    assert "Global asset lineage" in html
    missing = sorted(set(ASSETS) - set(names_in_dom(html, ASSETS)))
    assert not missing, (
        f"{missing} not in the DOM of {url} (saved to {artifact_dir / 'lineage.html'})"
    )

    shot = artifact_dir / "lineage.png"
    shot.unlink(missing_ok=True)
    result = run_chromium(chromium, url, [f"--screenshot={shot}"])
    assert result.returncode == 0 and shot.is_file(), result.stderr.decode(errors="replace")[-2000:]
    assert shot.stat().st_size > 20_000  # a rendered graph, not a blank page
