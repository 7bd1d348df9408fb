"""Gate latency and throughput, side by side, in one run.

    .venv/bin/python benchmarks/bench_gate.py [--model REGISTRY_OR_VERSION] [--calls 10000]

Single-row p50/p99 over ``--calls`` calls and 100k-row batch throughput for: scikit-learn
``predict_proba``, onnxruntime in-process (``trademl.gate.Gate``), the exported C function (timed
in a compiled loop), ``trademl gate serve`` over loopback (one keep-alive client, then 16
concurrent clients), and a fresh Python process per call (what bots that shell out pay).
Without ``--model`` it fits the desks' mid-grid gate (100 trees, depth 5) on a demo day.
Goals (issue 8): in-process ONNX p99 ≤ 50 µs and ≥ 50× scikit-learn at batch 1; native ≤ 1 µs a
row; server p99 ≤ 1 ms and ≥ 50× a process per call; ≥ 100k rows/s batched through the server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BENCH_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "gate.h"
static double now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
int main(int argc, char **argv) {
    int n = atoi(argv[1]), calls = atoi(argv[2]);
    double *x = malloc(sizeof(double) * 3 * n), *lat = malloc(sizeof(double) * calls);
    for (int i = 0; i < n; i++) if (scanf("%lf %lf %lf", &x[3*i], &x[3*i+1], &x[3*i+2]) != 3) return 1;
    volatile double sink = 0;
    for (int i = 0; i < calls; i++) {
        int r = i % n; double t0 = now_ns();
        sink += approve_proba(x[3*r], x[3*r+1], x[3*r+2]);
        lat[i] = now_ns() - t0;
    }
    qsort(lat, calls, sizeof(double), cmp);
    double t0 = now_ns();
    for (int i = 0; i < n; i++) sink += approve_proba(x[3*i], x[3*i+1], x[3*i+2]);
    double batch = now_ns() - t0;
    printf("%f %f %f\n", lat[calls / 2], lat[(int)(calls * 0.99)], batch);
    return sink < -1;
}
"""


def percentiles(samples_s: list[float]) -> tuple[float, float]:
    a = np.asarray(samples_s) * 1e6
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def time_calls(fn, rows: np.ndarray, calls: int) -> tuple[float, float]:
    lat = []
    for i in range(calls):
        row = rows[i % len(rows)]
        t0 = time.perf_counter()
        fn(row)
        lat.append(time.perf_counter() - t0)
    return percentiles(lat)


def time_batch(fn, rows: np.ndarray) -> float:
    t0 = time.perf_counter()
    fn(rows)
    return len(rows) / (time.perf_counter() - t0)


def demo_model(folder: Path) -> Path:
    """Fit the mid-grid gate on one demo day and export it to ``folder``."""
    import joblib
    import pandas as pd

    from trademl.demo.market import simulate
    from trademl.gate.dataset import build_gate_dataset, feature_matrix
    from trademl.gate.onnx_export import export_onnx
    from trademl.gate.training import make_pipeline

    path, feats = simulate("BTCUSDT", seed=7, start_date=date(2026, 11, 1), days=1)
    frame = pd.DataFrame(feats).assign(
        symbol="BTCUSDT", timestamp=pd.to_datetime(path.epoch_ms, unit="ms", utc=True)
    )
    table, _, _ = build_gate_dataset(frame)
    pipeline = make_pipeline("gbc").set_params(model__n_estimators=100, model__max_depth=5)
    pipeline.fit(feature_matrix(table), table["label"].to_numpy())
    export_onnx(pipeline, folder / "model.onnx")
    joblib.dump(pipeline, folder / "pipeline.joblib")
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trademl.gate.cli",
            "gate",
            "serve",
            "--port",
            str(port),
            "--model",
            str(model),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("gate server did not start")


def server_single(port: int, rows: np.ndarray, calls: int) -> tuple[float, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/json"}
    bodies = [json.dumps({"features": r.tolist()}).encode() for r in rows[: min(len(rows), 2000)]]
    lat = []
    for i in range(calls):
        t0 = time.perf_counter()
        conn.request("POST", "/v1/approve", body=bodies[i % len(bodies)], headers=headers)
        response = conn.getresponse()
        response.read()
        lat.append(time.perf_counter() - t0)
        assert response.status == 200
    conn.close()
    return percentiles(lat)


def _client(args) -> list[float]:
    port, bodies, calls = args
    conn = http.client.HTTPConnection("127.0.0.1", port)
    out = []
    for i in range(calls):
        t0 = time.perf_counter()
        conn.request("POST", "/v1/approve", body=bodies[i % len(bodies)])
        r = conn.getresponse()
        r.read()
        out.append(time.perf_counter() - t0)
    conn.close()
    return out


def server_concurrent(
    port: int, rows: np.ndarray, calls: int, clients: int = 16
) -> tuple[float, float, float]:
    """``clients`` client processes (not threads: the clients' GIL must not be what is measured)."""
    from multiprocessing import get_context

    bodies = [json.dumps({"features": r.tolist()}).encode() for r in rows[:500]]
    per = max(calls // clients, 1)
    with get_context("fork").Pool(clients) as pool:
        pool.map(_client, [(port, bodies, 5)] * clients)  # connect and warm up
        t0 = time.perf_counter()
        results = pool.map(_client, [(port, bodies, per)] * clients)
        wall = time.perf_counter() - t0
    lat = [x for r in results for x in r]
    p50, p99 = percentiles(lat)
    return p50, p99, len(lat) / wall


def server_batch(port: int, rows: np.ndarray) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    t0 = time.perf_counter()
    body = json.dumps({"rows": rows.tolist()}).encode()
    conn.request("POST", "/v1/approve/batch", body=body)
    response = conn.getresponse()
    answer = json.loads(response.read())
    elapsed = time.perf_counter() - t0
    assert response.status == 200 and len(answer["proba"]) == len(rows), answer.get("error")
    conn.close()
    return len(rows) / elapsed


def native(pipeline, rows: np.ndarray, calls: int, work: Path) -> tuple[float, float, float] | None:
    from trademl.gate.native import write_export

    cc = shutil.which("cc")
    if cc is None:
        return None
    write_export(pipeline, "c", work, "bench")
    (work / "bench.c").write_text(BENCH_C)
    exe = work / "bench"
    subprocess.run(
        [cc, "-O2", "-std=gnu99", "-o", exe, work / "gate.c", work / "bench.c", "-lm"], check=True
    )
    data = "\n".join(" ".join(repr(float(v)) for v in r) for r in rows)
    out = subprocess.run(
        [exe, str(len(rows)), str(calls)], input=data, capture_output=True, text=True, check=True
    )
    p50_ns, p99_ns, batch_ns = map(float, out.stdout.split())
    return p50_ns / 1e3, p99_ns / 1e3, len(rows) / (batch_ns / 1e9)


def process_per_call(model: Path, rows: np.ndarray, calls: int) -> tuple[float, float]:
    code = (
        "import sys; from trademl.gate import Gate; "
        "print(Gate.load(sys.argv[1]).predict_proba([float(v) for v in sys.argv[2:5]])[0])"
    )
    lat = []
    for i in range(calls):
        args = [sys.executable, "-c", code, str(model), *map(repr, rows[i].tolist())]
        t0 = time.perf_counter()
        subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
        lat.append(time.perf_counter() - t0)
    return percentiles(lat)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", help="registry root or onnx_gate version folder (default: fit one)"
    )
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--process-calls", type=int, default=30)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    import joblib

    from trademl.gate import Gate
    from trademl.gate.runtime import resolve_model_file

    work = Path(tempfile.mkdtemp(prefix="bench-gate-"))
    model_dir = Path(args.model) if args.model else demo_model(work / "model")
    model_file, version = resolve_model_file(model_dir)
    pipeline = joblib.load(model_file.parent / "pipeline.joblib")
    gate = Gate.load(model_file)
    rng = np.random.default_rng(0)
    rows = np.column_stack(
        [
            rng.uniform(0.2, 0.8, args.batch),
            rng.lognormal(0, 0.4, args.batch),
            rng.normal(0, 1.5, args.batch),
        ]
    )
    results: dict[str, dict] = {}
    sk = time_calls(lambda r: pipeline.predict_proba(r.reshape(1, -1)), rows, min(args.calls, 2000))
    results["scikit-learn predict_proba"] = {
        "p50_us": sk[0],
        "p99_us": sk[1],
        "rows_per_s": time_batch(pipeline.predict_proba, rows),
    }
    ox = time_calls(gate.predict_proba, rows, args.calls)
    results["onnxruntime in-process (Gate)"] = {
        "p50_us": ox[0],
        "p99_us": ox[1],
        "rows_per_s": time_batch(gate.predict_proba, rows),
    }
    nat = native(pipeline, rows, args.calls * 10, work / "c")
    if nat is not None:
        results["native C approve_proba"] = {
            "p50_us": nat[0],
            "p99_us": nat[1],
            "rows_per_s": nat[2],
        }
    proc, port = start_server(model_file.parent)
    try:
        seq = server_single(port, rows, args.calls)
        conc = server_concurrent(port, rows, args.calls)
        batch = server_batch(port, rows)
    finally:
        proc.terminate()
        proc.wait()
    results["server loopback, 1 client"] = {"p50_us": seq[0], "p99_us": seq[1], "rows_per_s": batch}
    results["server loopback, 16 clients"] = {
        "p50_us": conc[0],
        "p99_us": conc[1],
        "requests_per_s": conc[2],
    }
    pp = process_per_call(model_file.parent, rows, args.process_calls)
    results["fresh Python process per call"] = {"p50_us": pp[0], "p99_us": pp[1]}

    print(
        f"gate {version}; {os.cpu_count()} CPUs; single-row over {args.calls:,} calls "
        f"(scikit-learn 2,000, process {args.process_calls}); batch {args.batch:,} rows\n"
    )
    print("| path | p50 | p99 | batch throughput |")
    print("|---|---|---|---|")
    for name, r in results.items():
        through = (
            f"{r['rows_per_s']:,.0f} rows/s"
            if "rows_per_s" in r
            else f"{r['requests_per_s']:,.0f} requests/s"
            if "requests_per_s" in r
            else "-"
        )
        print(f"| {name} | {_us(r['p50_us'])} | {_us(r['p99_us'])} | {through} |")
    onnx_p99 = results["onnxruntime in-process (Gate)"]["p99_us"]
    speedup = sk[0] / ox[0]
    server_vs_proc = pp[0] / seq[0]
    print(
        f"\ngoals: ONNX p99 {onnx_p99:.1f} µs (≤ 50), {speedup:.0f}× scikit-learn at batch 1 (≥ 50); "
        + (f"native {nat[0] * 1000:.0f} ns a row (≤ 1 µs); " if nat else "")
        + f"server p99 {seq[1]:.0f} µs (≤ 1000), {server_vs_proc:.0f}× a process per call (≥ 50); "
        f"server batch {batch:,.0f} rows/s (≥ 100,000)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _us(value: float) -> str:
    return f"{value * 1000:.0f} ns" if value < 1 else f"{value:,.1f} µs"


if __name__ == "__main__":
    sys.exit(main())
