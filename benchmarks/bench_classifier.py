# ruff: noqa: T201  (a benchmark reports on stdout)
"""Signal classifier throughput: torch fp32 vs onnxruntime fp32 vs onnxruntime INT8, one run.

Reports messages/second at batch 1 and batch 64 over the same texts, and each backend's
agreement with torch. Goal: INT8 >= 4x torch fp32 at batch 1 with >= 99.5% agreement.

    .venv/bin/python benchmarks/bench_classifier.py                      # trains a quick model
    .venv/bin/python benchmarks/bench_classifier.py --model-dir var/lake/models/signal_classifier/v3
    .venv/bin/python benchmarks/bench_classifier.py --data var/lake/exports/classification_data.csv

Without ``--model-dir`` it fine-tunes MiniLM on ``--data`` (or on synthetic messages) first.
Texts: the test split of ``--data`` if given, else synthetic messages, plus the real signals
in ``../shared/data/real_signals/signals.jsonl`` when that file exists.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REAL_SIGNALS = REPO.parent / "shared" / "data" / "real_signals" / "signals.jsonl"


def _synthetic(n: int, seed: int) -> pd.DataFrame:
    path = REPO / "tests" / "trademl" / "test_text_classifier.py"
    spec = importlib.util.spec_from_file_location("_tc_data", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_synthetic_messages(n, seed)


def _texts(data: pd.DataFrame | None, n: int) -> list[str]:
    real = []
    if REAL_SIGNALS.exists():
        real = [json.loads(line)["text"] for line in REAL_SIGNALS.read_text().splitlines() if line]
    if data is not None:
        texts = list(data.loc[data["split"] == "test", "text"])
    else:
        texts = list(_synthetic(max(n - len(real), 0), seed=2024)["text"])
    return (real + texts)[:n]


def _throughput(clf, texts: list[str], batch_size: int, min_seconds: float) -> float:
    """Messages/second; repeats whole passes until ``min_seconds`` elapsed (best pass wins)."""
    clf.predict(texts[: max(batch_size, 8)], batch_size=batch_size)  # warm-up
    rates, spent = [], 0.0
    while spent < min_seconds or len(rates) < 2:
        start = time.perf_counter()
        if batch_size == 1:
            for t in texts:
                clf.predict([t], batch_size=1)
        else:
            clf.predict(texts, batch_size=batch_size)
        elapsed = time.perf_counter() - start
        rates.append(len(texts) / elapsed)
        spent += elapsed
    return max(rates) if len(rates) < 3 else statistics.median(sorted(rates)[-3:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, help="trained HF directory (skips training)")
    parser.add_argument("--data", type=Path, help="classification_data.csv (train + bench texts)")
    parser.add_argument("--work-dir", type=Path, help="where to put the quick model and ONNX files")
    parser.add_argument("--n-texts", type=int, default=512)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads and onnxruntime intra-op threads (same for all)",
    )
    parser.add_argument("--min-seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--per-tensor", action="store_true", help="INT8 with per-tensor scales")
    args = parser.parse_args(argv)

    from trademl.models.classifier_runtime import load_classifier
    from trademl.models.onnx_export import export_onnx

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench_classifier_"))
    data = pd.read_csv(args.data) if args.data else None
    model_dir = args.model_dir
    if model_dir is None:
        from trademl.models.text_classifier import TextClassifierConfig, train_text_classifier

        train_df = data if data is not None else _synthetic(2000, seed=1)
        cfg = TextClassifierConfig(epochs=2, batch_size=32, lr=1e-4, max_train_examples=2000)
        result = train_text_classifier(
            train_df,
            work / "hf",
            cfg,
            progress=lambda e: print(
                f"  epoch {e['epoch']}: loss {e['train_loss']:.3f} "
                f"val macro-F1 {e['val_macro_f1']:.3f} ({e['seconds']:.0f} s)",
                flush=True,
            ),
        )
        model_dir = result.output_dir
        print(
            f"trained {model_dir} on {result.n_train} messages in {result.seconds:.0f} s: "
            f"test accuracy {result.metrics['accuracy']:.3f}, "
            f"macro-F1 {result.metrics['macro_f1']:.3f}"
        )

    export = export_onnx(model_dir, work / "onnx", per_channel=not args.per_tensor)
    print(
        f"exported in {export.seconds:.0f} s: fp32 {export.fp32_bytes / 1e6:.1f} MB, "
        f"int8 {export.int8_bytes / 1e6:.1f} MB"
    )

    texts = _texts(data, args.n_texts)
    backends = [
        load_classifier(model_dir, num_threads=args.threads),
        load_classifier(export.fp32_path, intra_op_num_threads=args.threads),
        load_classifier(export.int8_path, intra_op_num_threads=args.threads),
    ]
    reference = backends[0].predict_logits(texts).argmax(1)
    rows = []
    for clf in backends:
        agreement = float(np.mean(clf.predict_logits(texts).argmax(1) == reference))
        b1 = _throughput(clf, texts, 1, args.min_seconds)
        b64 = _throughput(clf, texts, 64, args.min_seconds)
        rows.append((clf.name, b1, b64, agreement))

    torch_b1, torch_b64 = rows[0][1], rows[0][2]
    print(f"\n{len(texts)} texts, {args.threads} threads, CPUs: {os.cpu_count()}")
    print(
        f"{'backend':<12} {'msg/s b1':>9} {'ms/msg b1':>10} {'msg/s b64':>10} "
        f"{'x torch b1':>10} {'x torch b64':>11} {'agree':>7}"
    )
    for name, b1, b64, agreement in rows:
        print(
            f"{name:<12} {b1:9.0f} {1000 / b1:10.2f} {b64:10.0f} {b1 / torch_b1:10.2f} "
            f"{b64 / torch_b64:11.2f} {agreement:7.4f}"
        )
    int8 = rows[2]
    goal = int8[1] / torch_b1 >= 4 and int8[3] >= 0.995
    verdict = "met" if goal else "NOT met"
    print(f"\ngoal INT8 >= 4x torch at batch 1 with >= 99.5% agreement: {verdict}")


if __name__ == "__main__":
    main()
