# ruff: noqa: T201  (a command-line check reports on stdout)
"""GPU proof of the meme adapter's QLoRA path, for a box with CUDA (nothing is downloaded).

1. tiny: the tiny LLaVA built from config, trained end to end with ``quantization="qlora"``
   (4-bit NF4, double quantisation, bf16/fp16 compute) on synthetic charts, saved, reloaded in
   4 bits, held-out accuracy and reload logit difference recorded.
2. 7b: a LLaVA at llava-1.5-7b dimensions (CLIP ViT-L/14-336 + Llama 7B, random weights built
   from config on the GPU in bfloat16, saved to ``--work``: ~14 GB of disk), loaded through the
   same ``train_adapter`` in 4 bits, trained ``--big-steps`` steps on 336 px synthetic charts.

For each: peak GPU memory (``torch.cuda.max_memory_allocated``, reset before the base loads),
seconds per step (median, the first step's CUDA warm-up left out), trainable parameters. The JSON
goes to ``--out`` and stdout. Without CUDA, or with a bitsandbytes that has no CUDA backend, it
says so, writes ``{"skipped": true, "reason": ...}`` and exits 0.

    .venv/bin/python scripts/gpu_qlora_proof.py --out "$OUT/gpu_qlora_proof.json"
    .venv/bin/python scripts/gpu_qlora_proof.py --skip-big --tiny-steps 60
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LABELS = ("bearish", "neutral", "bullish")
_COLOURS = {"bullish": (30, 170, 60), "bearish": (200, 40, 40), "neutral": (128, 128, 128)}
_BLAND = ("look at this", "chart of the day", "what do you think", "btc 4h", "gm")


def chart_items(folder: Path, n: int, seed: int, size: int) -> list[dict]:
    """Synthetic charts: green rising (bullish), red falling (bearish), grey flat (neutral)."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    items = []
    for i in range(n):
        label = LABELS[i % 3]
        shade = rng.randint(0, 40)
        img = Image.new("RGB", (size, size), (shade, shade, shade + 10))
        slope = {"bullish": -1.0, "bearish": 1.0, "neutral": 0.0}[label]
        y0 = size / 2 + rng.uniform(-3, 3) * size / 32
        points = [
            (x, min(max(y0 + slope * (x - size / 2) * 0.7, 1), size - 2))
            for x in (k * (size - 1) / 7 for k in range(8))
        ]
        ImageDraw.Draw(img).line(points, fill=_COLOURS[label], width=max(2, size // 16))
        path = folder / f"{seed}_{i}.png"
        img.save(path)
        items.append(
            {
                "image_path": str(path),
                "caption": rng.choice(_BLAND),
                "label": label,
                "sarcastic": False,
            }
        )
    return items


def step_seconds(progress: list[dict]) -> dict:
    cumulative = [p["seconds"] for p in progress]
    per_step = [b - a for a, b in zip([0.0, *cumulative], cumulative, strict=False)]
    steady = per_step[1:] or per_step
    return {
        "first_step_seconds": round(per_step[0], 4) if per_step else None,
        "seconds_per_step_median": round(statistics.median(steady), 4) if steady else None,
    }


def count_4bit(model) -> dict:
    import bitsandbytes as bnb

    quantized = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    return {
        "linear4bit_modules": len(quantized),
        "linear4bit_outside_language_model": sum("language_model" not in n for n in quantized),
    }


def run_tiny(work: Path, steps: int) -> dict:
    import torch

    from trademl.vision.adapter import AdapterConfig, train_adapter
    from trademl.vision.llava import load_adapter

    train = chart_items(work / "tiny_train", 96, seed=1, size=32)
    held_out = chart_items(work / "tiny_eval", 48, seed=2, size=32)
    progress: list[dict] = []
    cfg = AdapterConfig(steps=steps, quantization="qlora")
    result = train_adapter(train, work / "tiny", cfg, progress=progress.append)
    adapter = result.adapter
    predictions = adapter.predict(held_out)
    hits = sum(p["label"] == it["label"] for p, it in zip(predictions, held_out, strict=True))
    before = adapter.logits(held_out[:16])
    structure = count_4bit(adapter.model)
    del adapter, result.adapter
    torch.cuda.empty_cache()
    reloaded = load_adapter(result.adapter_dir, quantization="qlora")
    diff = (reloaded.logits(held_out[:16]) - before).abs().max().item()
    return {
        **result.metadata(),
        **step_seconds(progress),
        **structure,
        "held_out_accuracy": round(hits / len(held_out), 3),
        "reload_max_abs_logit_diff": diff,
        "reload_describe": reloaded.describe(),
    }


def run_big(work: Path, steps: int, batch_size: int, keep: bool) -> dict:
    import torch

    from trademl.vision.adapter import AdapterConfig, train_adapter
    from trademl.vision.tiny_llava import LLAVA_1_5_7B_DIMS, build_tiny_llava

    free_gb = shutil.disk_usage(work).free / 2**30
    if free_gb < 20:
        return {"skipped": True, "reason": f"{free_gb:.0f} GiB free under {work}; needs ~20"}
    started = time.perf_counter()
    base = build_tiny_llava(
        work / "llava7b", LLAVA_1_5_7B_DIMS, seed=0, dtype=torch.bfloat16, device="cuda"
    )
    build_seconds = time.perf_counter() - started
    torch.cuda.empty_cache()
    items = chart_items(work / "big_train", max(8, steps * batch_size), seed=3, size=336)
    progress: list[dict] = []
    cfg = AdapterConfig(
        base=str(base), steps=steps, batch_size=batch_size, quantization="qlora", max_length=32
    )
    started = time.perf_counter()
    result = train_adapter(items, work / "big", cfg, progress=progress.append)
    wall = time.perf_counter() - started
    out = {
        **result.metadata(),
        **step_seconds(progress),
        **count_4bit(result.adapter.model),
        "dims": "llava-1.5-7b (CLIP ViT-L/14-336 + Llama-7B), random weights",
        "build_and_save_seconds": round(build_seconds, 1),
        "load_train_save_wall_seconds": round(wall, 1),
        "gpu_memory_total_mb": round(torch.cuda.get_device_properties(0).total_memory / 2**20),
    }
    if not keep:
        shutil.rmtree(base, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny-steps", type=int, default=300)
    parser.add_argument("--big-steps", type=int, default=4)
    parser.add_argument("--big-batch", type=int, default=1)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the 7B-dimension base on disk")
    parser.add_argument("--work", type=Path, default=None, help="scratch dir (default: a temp dir)")
    default_out = Path(os.environ.get("OUT", REPO / "var")) / "gpu_qlora_proof.json"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args(argv)

    import torch

    report: dict = {"torch": torch.__version__}
    if not torch.cuda.is_available():
        report.update(skipped=True, reason="CUDA is not available: nothing to prove on this box")
    else:
        from trademl.vision.llava import choose_quantization

        q = choose_quantization("auto")
        report["gpu"] = torch.cuda.get_device_name(0)
        report["choice"] = q
        if q["mode"] != "qlora":
            report.update(skipped=True, reason=q["reason"])
    if not report.get("skipped"):
        work_ctx = tempfile.TemporaryDirectory(prefix="qlora-proof-") if args.work is None else None
        work = Path(work_ctx.name) if work_ctx else args.work
        work.mkdir(parents=True, exist_ok=True)
        try:
            report["tiny"] = run_tiny(work, args.tiny_steps)
            torch.cuda.empty_cache()
            if not args.skip_big:
                report["llava_7b_dims"] = run_big(work, args.big_steps, args.big_batch, args.keep)
        finally:
            if work_ctx:
                work_ctx.cleanup()
    text = json.dumps(report, indent=2, default=str)
    print(text if not report.get("skipped") else f"skipped: {report['reason']}\n{text}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
