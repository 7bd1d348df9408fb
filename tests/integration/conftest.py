"""Fixtures for the integration tests: a small demo inbox, a throw-away PostgreSQL database,
Chromium, free ports and an artifact folder (``<repo>/test-artifacts/``, git-ignored).

Every fixture that needs an outside service or binary *skips* (never fails) when it is missing,
so ``make test`` still passes on a machine where apt could not install PostgreSQL or Chromium.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

PG_HOST = os.environ.get("TRADEML_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TRADEML_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TRADEML_TEST_PG_USER", "postgres")
PG_PASSWORD = os.environ.get("TRADEML_TEST_PG_PASSWORD", "")

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: Days of the shared demo inbox: two from 2026-11-01, ten messages a channel a day.
DEMO_DAYS = ("2026-11-01", "2026-11-02")


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def demo_inbox(tmp_path_factory) -> Path:
    """A small demo inbox (telegram/, discord/, labeling.sqlite, market/, candles/, social/)."""
    from trademl.demo import generate_demo_data

    inbox = tmp_path_factory.mktemp("inbox")
    generate_demo_data(inbox, seed=7, days=len(DEMO_DAYS), messages_per_channel_per_day=10)
    return inbox


@pytest.fixture
def artifact_dir(request) -> Path:
    """``<repo>/test-artifacts/<test name>/``: screenshots, DOM dumps, service logs."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
    folder = ARTIFACTS / safe
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def postgres_server():
    """Skip unless PostgreSQL answers on 127.0.0.1:5432 and psycopg2 is installed."""
    if not port_open(PG_HOST, PG_PORT):
        pytest.skip(f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT} (run `make services`)")
    psycopg2 = pytest.importorskip("psycopg2", reason="psycopg2 is not installed")
    try:
        psycopg2.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD, dbname="postgres"
        ).close()
    except psycopg2.OperationalError as exc:
        pytest.skip(f"cannot log in to PostgreSQL as {PG_USER!r}: {exc}".strip())
    return {"host": PG_HOST, "port": PG_PORT, "user": PG_USER, "password": PG_PASSWORD}


@pytest.fixture(scope="session")
def pg_connect(postgres_server):
    """A callable: an autocommit psycopg2 connection to database ``dbname`` on the test server."""
    return lambda dbname: _pg_connect(postgres_server, dbname)


def _pg_connect(server: dict, dbname: str):
    import psycopg2

    conn = psycopg2.connect(
        host=server["host"],
        port=server["port"],
        user=server["user"],
        password=server["password"],
        dbname=dbname,
    )
    conn.autocommit = True
    return conn


@pytest.fixture
def pg_database(postgres_server):
    """A fresh database ``trademl_it_<random>``, dropped (with its connections) at teardown."""
    name = f"trademl_it_{uuid.uuid4().hex[:10]}"
    admin = _pg_connect(postgres_server, "postgres")
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path to a Chromium binary (``$TRADEML_TEST_CHROMIUM`` if set), or skip."""
    override = os.environ.get("TRADEML_TEST_CHROMIUM")
    if override is not None:
        if Path(override).is_file() and os.access(override, os.X_OK):
            return override
        pytest.skip(f"TRADEML_TEST_CHROMIUM={override!r} is not an executable file")
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    pytest.skip("Chromium is not installed (`apt-get install -y chromium`)")
