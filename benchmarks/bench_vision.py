# ruff: noqa: T201  (a benchmark reports on stdout)
"""The LLaVA meme adapter on the CPU (tiny base): training seconds per step, and adapter
inference in images/s at batch 1 and 8, one run.

It draws ``--train`` + ``--eval`` synthetic line charts (green rising = bullish, red falling =
bearish, grey flat = neutral; bland captions), trains the adapter for ``--steps`` steps with the
default config (tiny base built from config, float32 LoRA on CPU, nothing downloaded), then times
``MemeAdapter.predict`` (mood + sarcasm: the prompt pass and the one-token KV-cache pass) and
``MemeAdapter.logits`` (the prompt pass only) on the held-out charts, and reports the held-out
accuracy. ``--json FILE`` also writes the figures.

    .venv/bin/python benchmarks/bench_vision.py
    .venv/bin/python benchmarks/bench_vision.py --steps 200 --eval 256 --json var/bench_vision.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from trademl.sentiment.labels import BEARISH, BULLISH, NEUTRAL, SENTIMENT_LABELS  # noqa: E402

_BLAND = ("look at this", "chart of the day", "what do you think", "btc 4h", "gm", "eth daily")
_COLOURS = {BULLISH: (30, 170, 60), BEARISH: (200, 40, 40), NEUTRAL: (128, 128, 128)}


def draw_chart(path: Path, label: str, rng: random.Random, size: int) -> str:
    from PIL import Image, ImageDraw

    shade = rng.randint(0, 40)
    img = Image.new("RGB", (size, size), (shade, shade, shade + 10))
    slope = {BULLISH: -1.0, BEARISH: 1.0, NEUTRAL: 0.0}[label]
    y0 = size / 2 + rng.uniform(-3, 3) * size / 32
    points = []
    for k in range(8):
        x = k * (size - 1) / 7
        y = y0 + slope * (x - size / 2) * 0.7 + rng.uniform(-2, 2) * size / 32
        points.append((x, min(max(y, 1), size - 2)))
    ImageDraw.Draw(img).line(points, fill=_COLOURS[label], width=max(2, size // 16))
    img.save(path)
    return str(path)


def chart_items(folder: Path, n: int, seed: int, size: int = 32) -> list[dict]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    items = []
    for i in range(n):
        label = SENTIMENT_LABELS[i % 3]
        items.append(
            {
                "image_path": draw_chart(folder / f"{seed}_{i}.png", label, rng, size),
                "caption": rng.choice(_BLAND),
                "label": label,
                "sarcastic": False,
            }
        )
    return items


def images_per_second(fn, items, batch_size: int, repeats: int) -> float:
    fn(items[: batch_size * 2], batch_size=batch_size)  # warm-up
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        fn(items, batch_size=batch_size)
        best = max(best, len(items) / (time.perf_counter() - started))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=120)
    parser.add_argument("--eval", type=int, default=96)
    parser.add_argument("--steps", type=int, default=None, help="default: AdapterConfig's")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: 1)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    from trademl.vision.adapter import AdapterConfig, train_adapter

    with tempfile.TemporaryDirectory(prefix="bench-vision-") as tmp:
        root = Path(tmp)
        train = chart_items(root / "train", args.train, seed=1)
        held_out = chart_items(root / "eval", args.eval, seed=2)
        cfg = AdapterConfig(batch_size=args.batch_size, cpu_threads=args.threads)
        if args.steps is not None:
            cfg.steps = args.steps
        started = time.perf_counter()
        result = train_adapter(train, root / "run", cfg)
        wall = time.perf_counter() - started
        adapter = result.adapter
        predictions = adapter.predict(held_out)
        hits = sum(p["label"] == it["label"] for p, it in zip(predictions, held_out, strict=True))
        calls = (("predict (mood + sarcasm)", adapter.predict), ("logits", adapter.logits))
        rows = [
            (name, bs, images_per_second(fn, held_out, bs, args.repeats))
            for name, fn in calls
            for bs in (1, 8)
        ]
        adapter_bytes = sum(p.stat().st_size for p in Path(result.adapter_dir).iterdir())

    figures = {
        "torch_threads": adapter.threads or torch.get_num_threads(),
        "mode": result.mode,
        "trainable_params": result.trainable_params,
        "total_params": result.total_params,
        "train_steps": result.steps,
        "train_batch_size": args.batch_size,
        "train_seconds": result.seconds,
        "train_seconds_per_step": result.seconds_per_step,
        "vision_warmup_seconds": result.warmup_seconds,
        "trained_in_full": result.trained_in_full,
        "train_wall_seconds_incl_build_and_save": round(wall, 2),
        "first_loss": round(result.losses[0], 4),
        "final_loss": round(result.losses[-1], 4),
        "held_out_accuracy": round(hits / len(held_out), 3),
        "adapter_dir_bytes": adapter_bytes,
        "peak_rss_mb": result.peak_memory_mb,
        "inference_images_per_s": {f"{n} @ batch {b}": round(v, 1) for n, b, v in rows},
    }
    print(f"tiny LLaVA adapter, CPU ({figures['torch_threads']} torch threads), {result.mode}")
    print(
        f"  training: {result.steps} steps x batch {args.batch_size}: {result.seconds:.2f} s "
        f"({result.seconds_per_step * 1000:.1f} ms/LoRA step); loss {figures['first_loss']} -> "
        f"{figures['final_loss']}; {result.trainable_params:,} trainable of "
        f"{result.total_params:,}"
    )
    print(
        f"  of which vision warm-up (stage 1): {result.warmup_seconds:.2f} s; trained in full "
        f"next to the LoRA: {', '.join(result.trained_in_full) or 'nothing'}"
    )
    print(f"  held-out accuracy on {len(held_out)} charts: {figures['held_out_accuracy']:.3f}")
    print(f"  adapter dir: {adapter_bytes:,} bytes; peak RSS {result.peak_memory_mb:.0f} MB")
    print(f"  {'inference':<28}{'batch':>6}{'images/s':>12}")
    for name, bs, value in rows:
        print(f"  {name:<28}{bs:>6}{value:>12.1f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
