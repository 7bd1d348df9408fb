"""The lake on a real S3-compatible server on 127.0.0.1 (moto's server, from PyPI), reached through
s3fs exactly as a desk's bucket would be: credentials and endpoint from the AWS_* environment."""

import uuid

import pytest

from tests.lake_graph import assert_same_lake, lake_files, run_graph
from trademl.lake import Lake, atomic_path, atomic_write_text, read_csv


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_server, monkeypatch, tmp_path):
    import boto3
    import s3fs

    env = {
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": "trademl-test",
        "AWS_SECRET_ACCESS_KEY": "trademl-test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TRADEML_SCRATCH": str(tmp_path / "scratch"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()  # a cached client would keep another endpoint
    name = f"trademl-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=name)
    yield name
    s3fs.S3FileSystem.clear_instance_cache()


def test_atomic_write_on_s3(bucket, tmp_path):
    lake = Lake(f"s3://{bucket}/lake")
    target = lake.export("classification_data.csv")
    atomic_write_text(target, "text,label,split\nold,NON_SIGNAL,train\n")
    with atomic_path(target) as tmp:
        tmp.write_text("text,label,split\nnew,SIGNAL_LONG,test\n")
        assert "old" in target.read_text()  # the store still has the whole old object
    assert read_csv(target)["text"].tolist() == ["new"]
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("step failed")
    assert read_csv(target)["text"].tolist() == ["new"]
    assert [p.name for p in target.parent.iterdir()] == ["classification_data.csv"]
    assert list((tmp_path / "scratch" / "staging").iterdir()) == []


def test_the_graph_on_s3_writes_what_it_writes_on_a_local_lake(resources, bucket, tmp_path):
    """Two ingest partitions, the training files, the gate retrain (reports and PNGs) and the
    drift report, once on a local folder and once on the bucket: the same files, the same tables,
    byte-identical exports."""
    run_graph(resources, str(tmp_path / "local"), str(tmp_path / "models-local"), gate=True)
    root = f"s3://{bucket}/lake"
    run_graph(resources, root, str(tmp_path / "models-s3"), gate=True)
    on_s3 = lake_files(root)
    assert_same_lake(lake_files(str(tmp_path / "local")), on_s3)
    assert {"exports/classification_data.csv", "exports/ner_data.jsonl"} <= set(on_s3)
    assert any(k.startswith("reports/onnx_gate/") and k.endswith(".png") for k in on_s3)
    assert Lake(root).partitions("raw", "raw_messages") == ["2026-11-01", "2026-11-02"]
    # The gate was registered on the file system the registry was given, not in the bucket.
    assert (tmp_path / "models-s3" / "onnx_gate" / "champion.json").is_file()
