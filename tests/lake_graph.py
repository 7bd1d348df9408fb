"""Run a slice of the graph against one lake root and read back what it wrote, so a lake on
``memory://``, ``file://`` or S3 can be compared file by file with the same run on a local folder."""

from __future__ import annotations

import io
import re

import dagster as dg
import pandas as pd

from trademl.lake import Lake
from trademl_jobs.definitions import build_definitions
from trademl_resources import LakeResource, ModelRegistryResource

DAYS = ("2026-11-01", "2026-11-02")
#: The gate's quick sub-grid (as in tests/assets/test_gate_assets.py): seconds, not minutes.
GATE_SMALL = {
    "ops": {
        "onnx_gate": {"config": {"search_max_rows": 6000, "n_splits": 3}},
        "gate_eval_report": {"config": {"bootstrap": 50}},
    }
}


def run_graph(resources: dict, lake_root: str, models_root: str, *, gate: bool) -> None:
    """Ingest both demo days, export the training files and (``gate``) retrain the gate and run
    the day's drift report, all in process on ``lake_root`` with the registry on ``models_root``."""
    resources = {
        **resources,
        "lake": LakeResource(root=lake_root),
        "registry": ModelRegistryResource(root=models_root),
    }
    defs = build_definitions(resources)
    instance = dg.DagsterInstance.ephemeral()
    jobs = [("ingest_job", day, None) for day in DAYS] + [("datasets_job", None, None)]
    if gate:
        jobs += [("gate_retrain_job", None, GATE_SMALL), ("monitoring_job", DAYS[1], None)]
    for name, partition, run_config in jobs:
        result = defs.resolve_job_def(name).execute_in_process(
            instance=instance, partition_key=partition, run_config=run_config, raise_on_error=False
        )
        failures = [e.message for e in result.all_events if e.is_failure]
        assert result.success, (name, failures)


def lake_files(root: str) -> dict[str, bytes]:
    """Every file under the lake root (relative POSIX path -> bytes), through the lake's own path
    type, so the same function reads a local folder and an object store."""
    base = Lake(root).root
    out = {}
    for path in base.rglob("*"):
        if path.is_file():
            out[path.relative_to(base).as_posix()] = path.read_bytes()
    return out


def table(data: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(data))


def unversioned(name: str) -> str:
    """A report's file name without its model version (a timestamp that differs per run)."""
    return re.sub(r"\d{8}T\d{6,12}Z-[0-9a-f]{8}", "<version>", name)


def assert_same_lake(expected: dict[str, bytes], got: dict[str, bytes]) -> None:
    """The same files (model versions aside), equal tables and byte-identical exports.

    The local lake's ``models/`` (the registry and the training scratch) is left out: a remote
    lake keeps its scratch on local disk and its registry on a file system.
    """
    expected = {k: v for k, v in expected.items() if not k.startswith("models/")}
    assert {unversioned(k) for k in got} == {unversioned(k) for k in expected}
    for name, data in expected.items():
        if name.endswith(".parquet") and name.startswith(("raw/", "quarantine/", "datasets/")):
            pd.testing.assert_frame_equal(table(got[name]), table(data), obj=name)
        elif name.startswith(("exports/", "labels/")) or name.endswith(".jsonl"):
            assert got[name] == data, name
