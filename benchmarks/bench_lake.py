"""Lake benchmark: the same graph slice on a local folder, a file:// URL, memory:// and S3.

    .venv/bin/python benchmarks/bench_lake.py [--days 4] [--messages 20] [--gate]

Runs, in one process and one after another, ``ingest_job`` for every day of one demo inbox and
``datasets_job`` (with ``--gate`` also the gate retrain and the last day's drift report) against
each lake root, then checks that every root holds the same files and tables as the local folder
(so the figures are for the same work) and prints wall seconds per root and the ratio to local.

    local     a folder: pathlib, temporary sibling + os.replace
    file_url  the same as a file:// URL (also pathlib: the figure should match local)
    memory    fsspec's in-memory store: no rename, local temporary file + one put_file
    s3        s3fs against moto's S3 server on 127.0.0.1 (a real HTTP S3 API, no network latency:
              a real bucket adds one round trip per request, tens of ms in region)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
START = date(2026, 11, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--messages", type=int, default=20, help="messages a channel a day")
    parser.add_argument("--gate", action="store_true", help="also retrain the gate + drift")
    args = parser.parse_args()

    import boto3
    from moto.server import ThreadedMotoServer

    import tests.lake_graph as graph
    from trademl.demo import generate_demo_data
    from trademl_resources import (
        LLMResource,
        MarketSourcesResource,
        MessageSourcesResource,
        TrainingResource,
    )

    work = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    inbox = work / "inbox"
    generate_demo_data(
        inbox,
        seed=11,
        days=args.days,
        messages_per_channel_per_day=args.messages,
        start_date=START,
    )
    days = [(START + timedelta(days=i)).isoformat() for i in range(args.days)]
    graph.DAYS = tuple(days)
    resources = {
        "message_sources": MessageSourcesResource(
            inbox=str(inbox), sql_url=f"sqlite:///{inbox}/labeling.sqlite"
        ),
        "market_sources": MarketSourcesResource(root=str(inbox)),
        "llm": LLMResource(),
        "training": TrainingResource(),
    }

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        TRADEML_SCRATCH=str(work / "scratch"),
    )
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).create_bucket(Bucket=bucket)
    roots = {
        "local": str(work / "local"),
        "file_url": f"file://{work}/file-url",
        "memory": f"memory://bench-{uuid.uuid4().hex[:8]}/lake",
        "s3": f"s3://{bucket}/lake",
    }
    print(
        f"{len(days)} partitions ({days[0]}..{days[-1]}), {args.messages} messages a channel a "
        f"day; jobs: ingest x{len(days)}, datasets{', gate retrain, drift' if args.gate else ''}"
    )
    # One untimed run first, so imports and first-use caches do not land on whichever root is first.
    graph.run_graph(resources, str(work / "warmup"), str(work / "models-warmup"), gate=args.gate)
    seconds = {}
    for name, root in roots.items():
        start = time.perf_counter()
        graph.run_graph(resources, root, str(work / f"models-{name}"), gate=args.gate)
        seconds[name] = time.perf_counter() - start
        print(f"  {name:9s} {seconds[name]:7.1f} s", flush=True)
    expected = graph.lake_files(roots["local"])
    for name in ("file_url", "memory", "s3"):
        graph.assert_same_lake(expected, graph.lake_files(roots[name].replace("file://", "")))
    files = sum(1 for k in expected if not k.startswith("models/"))
    size = sum(len(v) for k, v in expected.items() if not k.startswith("models/"))
    print(f"lakes identical: {files} files, {size / 2**20:.1f} MiB each")
    print("| root | wall s | vs local |\n|---|---|---|")
    for name, value in seconds.items():
        print(f"| {name} | {value:.1f} | {value / seconds['local']:.2f}x |")
    server.stop()


if __name__ == "__main__":
    main()
