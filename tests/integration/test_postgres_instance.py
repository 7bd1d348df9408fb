"""trademl on the production storage: a Dagster instance in PostgreSQL
(deploy/dagster.postgres.yaml) and messages read from a PostgreSQL table.

Needs PostgreSQL on 127.0.0.1:5432 (trust auth, user ``postgres``); skips without it.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import closing
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-11-01"

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_instance(tmp_path, monkeypatch, postgres_server, pg_database):
    """A DagsterInstance whose run, event-log and schedule storage live in a fresh PostgreSQL
    database, configured as production is: deploy/dagster.postgres.yaml plus TRADEML_PG_* vars."""
    from dagster import DagsterInstance

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("TRADEML_PG_USER", postgres_server["user"])
    monkeypatch.setenv("TRADEML_PG_PASSWORD", postgres_server["password"])
    monkeypatch.setenv("TRADEML_PG_HOST", postgres_server["host"])
    monkeypatch.setenv("TRADEML_PG_PORT", str(postgres_server["port"]))
    monkeypatch.setenv("TRADEML_PG_DB", pg_database)
    instance = DagsterInstance.from_config(str(home))
    try:
        yield instance
    finally:
        instance.dispose()


def test_jobs_run_on_a_postgres_instance(
    pg_instance, pg_database, pg_connect, demo_inbox, tmp_path, monkeypatch
):
    from dagster import AssetKey

    from trademl_jobs.definitions import build_definitions
    from trademl_resources import (
        LakeResource,
        MarketSourcesResource,
        MessageSourcesResource,
        default_resources,
    )

    # The instance really is the PostgreSQL one the deploy file describes.
    assert type(pg_instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(pg_instance.event_log_storage).__name__ == "PostgresEventLogStorage"

    lake = tmp_path / "lake"
    # Every other resource (model registry, LLM, training, ...) as the environment builds it, but
    # under tmp: only lake and sources are set explicitly.
    for name in [k for k in os.environ if k.startswith("TRADEML_")]:
        if not name.startswith("TRADEML_PG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRADEML_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("TRADEML_LAKE", str(lake))
    monkeypatch.setenv("TRADEML_INBOX", str(demo_inbox))
    defs = build_definitions(
        {
            **default_resources(),
            "lake": LakeResource(root=str(lake)),
            "message_sources": MessageSourcesResource(
                inbox=str(demo_inbox), sql_url=f"sqlite:///{demo_inbox}/labeling.sqlite"
            ),
            "market_sources": MarketSourcesResource(root=str(demo_inbox)),
        }
    )
    ingest = defs.resolve_job_def("ingest_job").execute_in_process(
        partition_key=DAY, instance=pg_instance
    )
    assert ingest.success
    datasets = defs.resolve_job_def("datasets_job").execute_in_process(instance=pg_instance)
    assert datasets.success

    assert (lake / "raw" / "raw_messages" / f"date={DAY}.parquet").is_file()
    assert (lake / "raw" / "rule_labels" / f"date={DAY}.parquet").is_file()
    assert (lake / "exports" / "classification_data.csv").is_file()

    # What Dagster wrote, read straight from PostgreSQL.
    with closing(pg_connect(pg_database)) as conn, conn.cursor() as cur:
        cur.execute("SELECT run_id, pipeline_name, status FROM runs ORDER BY create_timestamp")
        runs = cur.fetchall()
        cur.execute(
            "SELECT asset_key, partition, run_id FROM event_logs"
            " WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
        )
        materializations = cur.fetchall()
    assert [(r[0], r[1], r[2]) for r in runs] == [
        (ingest.run_id, "ingest_job", "SUCCESS"),
        (datasets.run_id, "datasets_job", "SUCCESS"),
    ]
    by_asset = {}
    for asset_key, partition, run_id in materializations:
        by_asset.setdefault(tuple(json.loads(asset_key)), []).append((partition, run_id))
    assert by_asset[("raw_messages",)] == [(DAY, ingest.run_id)]
    assert by_asset[("rule_labels",)] == [(DAY, ingest.run_id)]
    assert by_asset[("classification_dataset",)] == [(None, datasets.run_id)]

    # And Dagster reads it back through the same storage.
    latest = pg_instance.get_latest_materialization_event(AssetKey("rule_labels"))
    assert latest is not None and latest.run_id == ingest.run_id


def test_read_messages_from_a_postgres_table(postgres_server, pg_database, pg_connect):
    from trademl.ingest.messages import Message, read_sql_messages
    from trademl.ingest.records import Quarantined

    with closing(pg_connect(pg_database)) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE messages"
            " (message_id TEXT PRIMARY KEY, date TEXT, text TEXT, channel TEXT)"
        )
        cur.executemany(
            "INSERT INTO messages VALUES (%s, %s, %s, %s)",
            [
                ("1", "2026-11-01T09:30:00", "LONG BTCUSDT entry 62000 TP 63000 SL 61000", "desk"),
                ("2", "2026-11-01T10:00:00Z", "ETH looks weak, no trade", None),
                ("3", "not a date", "SHORT ETHUSDT 2400", "desk"),
                ("4", "2026-11-02T08:00:00", "   ", "desk"),
                ("5", "1793523600", "TP1 hit", "desk"),
            ],
        )

    s = postgres_server
    password = f":{s['password']}" if s["password"] else ""
    url = f"postgresql+psycopg2://{s['user']}{password}@{s['host']}:{s['port']}/{pg_database}"
    rows = list(read_sql_messages(url, "messages"))

    messages = [r for r in rows if isinstance(r, Message)]
    bad = {r.row_id: r for r in rows if isinstance(r, Quarantined)}
    assert sorted(m.message_id for m in messages) == ["1", "2", "5"]
    by_id = {m.message_id: m for m in messages}
    assert by_id["1"].source == "sql" and by_id["1"].channel == "desk"
    assert by_id["2"].channel == "messages"  # no channel: the table's name
    assert by_id["1"].text.startswith("LONG BTCUSDT")
    assert set(bad) == {"3", "4"}
    assert bad["3"].reason == "unparseable date" and bad["3"].date is None
    assert bad["4"].reason == "no text" and bad["4"].date == "2026-11-02"
    assert all(pg_database in r.origin and r.origin.endswith("#messages") for r in bad.values())
