"""LLM labelling throughput: sequential vs concurrent requests, and a cached re-run.

Runs against the local fake OpenAI-compatible server with a fixed model latency, so the figures
measure the client (concurrency, connection reuse, cache), not a provider.

    python -m benchmarks.bench_labeling [--messages 64] [--latency 0.5] [--concurrency 16]

Goal: concurrent >= 10x sequential; the cached re-run makes zero calls.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from trademl.llm import LLMEndpoint, LLMLabeler
from trademl.llm.fake_server import FakeLLMServer

_PAIRS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "EURUSD", "GBPUSD", "XRP/USDT", "GOLD", "AUDUSD")


def sample_messages(n: int) -> list[dict[str, str]]:
    """``n`` distinct messages: long and short calls, with some chatter mixed in."""
    out = []
    for i in range(n):
        pair = _PAIRS[i % len(_PAIRS)]
        base = 100 + 7 * i
        if i % 5 == 4:
            text = f"#{i} anyone watching {pair.split('/')[0]} today? quiet market"
        elif i % 2:
            text = f"#{i} {pair} SHORT entry {base} TP1 {base - 5} TP2 {base - 9} SL {base + 4}"
        else:
            text = f"#{i} {pair} LONG entry {base} TP1 {base + 5} TP2 {base + 9} SL {base - 4} 5x"
        out.append({"message_id": str(i), "text": text})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.5, help="fake model latency, seconds")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    msgs = sample_messages(args.messages)

    with FakeLLMServer(latency_s=args.latency) as srv, tempfile.TemporaryDirectory() as cache:

        def labeler(concurrency: int, cache_dir: str | None) -> LLMLabeler:
            return LLMLabeler(
                LLMEndpoint(
                    base_url=srv.base_url,
                    model="fake",
                    api_key_env=None,
                    max_concurrency=concurrency,
                    price_in_per_1k=0.00015,
                    price_out_per_1k=0.0006,
                ),
                cache_dir=cache_dir,
            )

        runs = {
            "sequential (1)": labeler(1, None).label(msgs),
            f"concurrent ({args.concurrency})": labeler(args.concurrency, cache).label(msgs),
            f"cached re-run ({args.concurrency})": labeler(args.concurrency, cache).label(msgs),
        }

    print(f"{args.messages} messages, fake model latency {args.latency * 1000:.0f} ms")
    print(
        f"{'run':<24}{'elapsed s':>10}{'labels/s':>10}{'calls':>7}{'hits':>6}{'labels':>8}"
        f"{'cost $':>10}"
    )
    for name, run in runs.items():
        s = run.stats
        rate = len(msgs) / s["elapsed_s"] if s["elapsed_s"] else float("inf")
        print(
            f"{name:<24}{s['elapsed_s']:>10.2f}{rate:>10.1f}{s['calls_made']:>7}"
            f"{s['cache_hits']:>6}{len(run.labels):>8}{s['estimated_cost_usd']:>10.5f}"
        )
    seq, conc, cached = runs.values()
    ratio = seq.stats["elapsed_s"] / conc.stats["elapsed_s"]
    print(f"concurrent / sequential speed-up: {ratio:.1f}x (goal >= 10x)")
    ok = ratio >= 10 and cached.stats["calls_made"] == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
