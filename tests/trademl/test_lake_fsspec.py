"""The lake on fsspec roots: memory:// (an object store with no rename) and file:// URLs behave
like a local folder, writes land whole, and a slice of the graph writes the same lake on each."""

import uuid
from pathlib import Path

import pandas as pd
import pytest
from upath import UPath

from tests.lake_graph import assert_same_lake, lake_files, run_graph
from trademl.errors import InputError
from trademl.lake import (
    Lake,
    atomic_path,
    atomic_write_text,
    is_remote,
    lake_path,
    read_csv,
    read_parquet,
)
from trademl.registry import ModelRegistry, RegistryError
from trademl_resources import LakeResource


@pytest.fixture
def memory_root():
    root = f"memory://trademl-test-{uuid.uuid4().hex[:8]}/lake"
    yield root
    path = UPath(root)
    if path.exists():
        path.fs.rm(path.path, recursive=True)


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """Local staging and scratch under the test's own folder, so leftovers can be counted."""
    monkeypatch.setenv("TRADEML_SCRATCH", str(tmp_path / "scratch"))
    return tmp_path / "scratch"


def test_roots_local_file_url_and_fsspec(tmp_path, memory_root):
    assert Lake(tmp_path).root == tmp_path and not Lake(tmp_path).remote
    file_lake = Lake(f"file://{tmp_path}/lake")
    assert isinstance(file_lake.root, Path) and file_lake.root == tmp_path / "lake"
    mem = Lake(memory_root)
    assert mem.remote and is_remote(mem.root) and str(mem.root) == memory_root
    assert str(mem.raw("candles", "2026-11-01")) == (
        f"{memory_root}/raw/candles/date=2026-11-01.parquet"
    )
    # Work that needs a real folder stays under a local root, and goes to local disk otherwise.
    assert Lake(tmp_path).scratch("models", "_staging") == tmp_path / "models" / "_staging"
    assert not is_remote(mem.scratch("cache")) and mem.scratch("cache").name == "cache"


def test_unknown_protocol_and_missing_package_name_the_root():
    with pytest.raises(InputError, match=r"nosuch://x.*unknown storage protocol"):
        Lake("nosuch://x/lake")
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        with pytest.raises(InputError, match=r"gs://bucket/lake.*gcsfs"):
            LakeResource(root="gs://bucket/lake").lake()


def test_atomic_write_on_a_store_without_rename(memory_root, scratch):
    lake = Lake(memory_root)
    target = lake.export("classification_data.csv")
    atomic_write_text(target, "text,label,split\nold,NON_SIGNAL,train\n")
    with atomic_path(target) as tmp:
        # While the new file is written a reader still sees the whole old one: the temporary
        # file is on local disk, not in the store.
        assert not is_remote(tmp) and tmp.is_relative_to(scratch)
        tmp.write_text("text,label,split\nnew,SIGNAL_LONG,test\n")
        assert "old" in target.read_text()
    assert read_csv(target)["text"].tolist() == ["new"]
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("step failed")
    assert read_csv(target)["text"].tolist() == ["new"]
    # Nothing of either write is left on local disk or beside the target in the store.
    assert list((scratch / "staging").iterdir()) == []
    assert [p.name for p in target.parent.iterdir()] == ["classification_data.csv"]


def test_partitions_and_parquet_round_trip(memory_root, scratch):
    lake = Lake(memory_root)
    assert lake.partitions("raw", "candles") == []
    for day in ("2026-11-02", "2026-11-01"):
        with atomic_path(lake.raw("candles", day)) as tmp:
            pd.DataFrame({"day": [day], "close": [1.5]}).to_parquet(tmp, index=False)
    assert lake.partitions("raw", "candles") == ["2026-11-01", "2026-11-02"]
    assert read_parquet(lake.raw("candles", "2026-11-02"))["day"].tolist() == ["2026-11-02"]


def test_registry_refuses_an_object_store_root_and_says_what_to_set(tmp_path):
    with pytest.raises(RegistryError, match="TRADEML_MODELS"):
        ModelRegistry("s3://bucket/lake/models")
    assert ModelRegistry(f"file://{tmp_path}/models").root == tmp_path / "models"


def test_lake_path_keeps_a_upath(memory_root):
    path = UPath(memory_root) / "x"
    assert lake_path(path) is path
    assert lake_path(str(path)) == path


def test_graph_writes_the_same_lake_on_memory_and_file_urls(
    resources, tmp_path, memory_root, scratch
):
    """Ingest (2 days), the training files, the gate retrain and the drift report, once on a local
    folder and once each on memory:// and file://: the same files, the same tables."""
    local = str(tmp_path / "local")
    run_graph(resources, local, str(tmp_path / "models-local"), gate=True)
    run_graph(resources, memory_root, str(tmp_path / "models-mem"), gate=True)
    run_graph(resources, f"file://{tmp_path}/file-url", str(tmp_path / "models-file"), gate=False)

    expected, on_memory = lake_files(local), lake_files(memory_root)
    assert_same_lake(expected, on_memory)
    assert any(k.startswith("reports/onnx_gate/") and k.endswith(".png") for k in on_memory)
    assert any(k.startswith("reports/drift_report/") for k in on_memory)
    # The file:// run stopped before the gate: its lake is the ingest and export part of the local.
    ingest_and_exports = {
        k: v for k, v in expected.items() if k.startswith(("raw/", "quarantine/", "exports/"))
    }
    ingest_and_exports.pop("quarantine/gate_dataset/rows.parquet")
    assert_same_lake(ingest_and_exports, lake_files(str(tmp_path / "file-url")))
    assert list((scratch / "staging").iterdir()) == []


def test_a_url_lake_from_the_environment(monkeypatch, tmp_path, memory_root):
    """TRADEML_LAKE as a URL: the lake resource is on the store, the registry default under it is
    refused with what to set, and TRADEML_MODELS puts the registry on a file system."""
    from trademl_resources import default_resources

    monkeypatch.setenv("TRADEML_LAKE", memory_root)
    monkeypatch.delenv("TRADEML_MODELS", raising=False)
    res = default_resources()
    assert res["lake"].lake().remote
    assert res["registry"].root == f"{memory_root}/models"
    with pytest.raises(RegistryError, match="TRADEML_MODELS"):
        res["registry"].registry()
    monkeypatch.setenv("TRADEML_MODELS", str(tmp_path / "models"))
    assert default_resources()["registry"].registry().root == tmp_path / "models"
