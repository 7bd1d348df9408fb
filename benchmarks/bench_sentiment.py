# ruff: noqa: T201  (a benchmark reports on stdout)
"""Crowd sentiment serving: VADER, SetFit on torch, SetFit as ONNX INT8, and the deployed
ensemble, posts/s at batch 1 and 64, and torch-vs-INT8 agreement, one run.

First it trains a SetFit model with the default config on generated, varied forum posts
(``--train`` of them; or takes ``--model DIR``, a saved SetFit directory), exports it
(``export_sentiment_onnx``) and runs the parity gate (``sentiment_parity``) on ``--eval``
held-out posts, which decides the INT8 scheme. Then, on the same held-out posts:

- ``VADER``: ``vader_compound``;
- ``SetFit torch``: ``load_setfit(...).predict_proba``;
- ``SetFit ONNX fp32`` / ``SetFit ONNX INT8``: ``OnnxSentiment`` (INT8 as the gate left it);
- ``ensemble``: ``DeployedSentiment.predict`` on a temporary registry holding the export, i.e.
  the bot's whole path (VADER + ONNX INT8 + routing + answer dicts).

Batch 1 is one call per post (the bot's latency case), batch 64 one call per 64 posts.
Goals: INT8 / torch >= 3x posts/s at batch 1; INT8 agrees with torch on >= 99.5 % of posts.

Then every INT8 scheme of the ladder (``SENTIMENT_INT8_SCHEMES``), each quantized on its own
whether or not the gate reached it, beside fp32: class agreement with torch on the held-out
posts (flips, and how many of them were near-ties: torch top-2 margin < 0.02), MB on disk and
ms a post at batch 1 (``--no-schemes`` skips this table).

``--demo`` takes the demo's own posts instead of generated ones: the forum posts and labels
``make demo`` generates (seed 7), split by ``build_sentiment_dataset`` as ``sentiment_dataset``
does; SetFit trains on the train split (as a first ``sentiment_model`` run does) and the
held-out posts are the test split (161 posts), the parity set of ``sentiment_model_onnx``
before its top-up.

    .venv/bin/python benchmarks/bench_sentiment.py
    .venv/bin/python benchmarks/bench_sentiment.py --demo
    .venv/bin/python benchmarks/bench_sentiment.py --model var/lake/models/.../setfit --eval 2000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from trademl.sentiment.labels import BEARISH, BULLISH, NEUTRAL, SENTIMENT_LABELS  # noqa: E402

RATIO_GOAL, AGREEMENT_GOAL = 3.0, 0.995

_COINS = ("BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "LINK", "AVAX", "PEPE", "ARB", "$BTC", "eth")
_OPENERS = ("", "", "", "ok so ", "honestly ", "guys ", "update: ", "lol ", "gm, ", "fwiw ")
_TAILS = ("", "", "", " imo", " nfa", " 🚀", " 📉", " lol", "!!", " tbh", " #crypto", " 🤔")
_PHRASES = {
    BULLISH: (
        "{c} breaking out, loading more",
        "long {c} here, target {n}k",
        "{c} to the moon, huge buy wall",
        "bought the dip on {c}, very bullish",
        "{c} looks strong, higher highs all week",
        "not selling my {c}, this is going way higher",
        "{c} is sending, wagmi",
        "accumulating {c} below {n}, easy money",
        "{c} reclaimed support, next leg up",
        "{c} pump incoming, volume exploding",
        "love this {c} chart, bulls in control",
        "{c} golden cross on the daily",
        "added another {n}% to my {c} bag",
    ),
    BEARISH: (
        "{c} dumping hard, get out",
        "shorting {c}, chart looks weak",
        "{c} is going to crash to {n}k",
        "sold all my {c}, bearish",
        "{c} rejected again, lower lows",
        "great, another -{n}% day on {c}",
        "{c} holders getting rekt",
        "{c} lost support, ngmi",
        "this {c} rally is a trap, taking profit",
        "{c} breaking down, stop loss hit",
        "{c} looks terrible, bears in control",
        "death cross on {c}, careful",
        "down {n}% on {c}, worst trade ever",
    ),
    NEUTRAL: (
        "what exchange lists {c}?",
        "{c} sideways today",
        "anyone holding {c} over the weekend?",
        "{c} volume at {n}k",
        "news on {c} at 3pm",
        "how do I stake {c}?",
        "{c} unlock scheduled for next week",
        "is the {c} wallet update out yet",
        "{c} chart for reference, no position",
        "which {c} pair has the lowest fees",
        "{c} moved {n} coins between wallets",
        "anyone using {c} for payments?",
        "{c} ama tonight at {n}:00 utc",
    ),
}


def make_posts(n: int, seed: int) -> tuple[list[str], list[str]]:
    """``n`` varied posts with their labels, classes balanced, shuffled."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = SENTIMENT_LABELS[i % 3]
        body = rng.choice(_PHRASES[label]).format(c=rng.choice(_COINS), n=rng.randint(2, 99))
        text = rng.choice(_OPENERS) + body + rng.choice(_TAILS)
        texts.append(text.upper() if rng.random() < 0.05 else text)
        labels.append(label)
    order = list(range(n))
    rng.shuffle(order)
    return [texts[i] for i in order], [labels[i] for i in order]


def rate(fn: Callable[[list[str]], object], texts: Sequence[str], batch: int) -> float:
    """Posts per second of ``fn`` over ``texts`` in calls of ``batch`` (after one warm-up)."""
    fn(list(texts[:batch]))
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        fn(list(texts[i : i + batch]))
    return len(texts) / (time.perf_counter() - start)


def accuracy(pred: Sequence[str], gold: Sequence[str]) -> float:
    return float(np.mean([p == g for p, g in zip(pred, gold, strict=True)]))


def demo_posts(work: Path) -> tuple[list[str], list[str], list[str], list[str], list[str]]:
    """``(train texts, train labels, test texts, test labels, other texts)`` of the demo's
    sentiment dataset; the other texts are the validation and unlabelled posts (neither
    trained on nor in the parity set of 161)."""
    from datetime import date

    from trademl.demo.labeling_store import write_labeling_store
    from trademl.demo.memes import write_memes
    from trademl.demo.social import read_posts, write_social_posts
    from trademl.ingest.market import ingest_social_posts, read_social_posts
    from trademl.lake import Lake
    from trademl.sentiment.dataset import (
        build_sentiment_dataset,
        load_posts,
        read_sentiment_labels,
        split_of,
    )

    data, start = work / "demo_data", date(2026, 11, 1)  # generate_demo_data's defaults
    posts_file, store = data / "social" / "posts.jsonl", data / "labeling.sqlite"
    memes = write_memes(data, seed=7)
    write_social_posts(posts_file, seed=7, start_date=start, days=4, memes=memes)
    write_labeling_store(store, seed=7, start_date=start, days=4, posts=read_posts(posts_file))
    lake = Lake(work / "lake")
    ingest_social_posts(read_social_posts([posts_file]), lake)
    human, _ = read_sentiment_labels(f"sqlite:///{store}")
    table, _ = build_sentiment_dataset(load_posts(lake), human, None)
    train, test = split_of(table, "train"), split_of(table, "test")
    return (
        train["text"].tolist(),
        train["label"].tolist(),
        test["text"].tolist(),
        test["label"].tolist(),
        split_of(table, ("validation", "unlabelled"))["text"].tolist(),
    )


def ms_per_post(model, texts: Sequence[str], rounds: int = 3) -> tuple[float, float]:
    """``(wall, CPU)`` milliseconds a post at batch 1, the best of ``rounds`` passes over
    ``texts`` (after a warm-up of 5 posts). CPU time (this process's) is what other work on a
    busy machine disturbs least: the sessions run one intra-op thread on <= 2 cores."""
    for text in texts[:5]:
        model.predict_proba([text], 1)
    wall, cpu = [], []
    for _ in range(rounds):
        start, cpu_start = time.perf_counter(), time.process_time()
        for text in texts:
            model.predict_proba([text], 1)
        wall.append(1000 * (time.perf_counter() - start) / len(texts))
        cpu.append(1000 * (time.process_time() - cpu_start) / len(texts))
    return min(wall), min(cpu)


def scheme_table(onnx_dir: Path, ref, texts, calibration, timed, other=None) -> list[dict]:
    """fp32 and every INT8 scheme of the ladder, each quantized on its own (scratch copies of
    the export): agreement with ``ref`` on ``texts``, flips, near-tie flips, MB, ms/post, and
    with ``other`` = (texts, torch probabilities) the agreement on those (``other_agreement``)."""
    from trademl.sentiment.onnx import (
        NEAR_TIE_MARGIN,
        SENSITIVE,
        SENTIMENT_INT8_SCHEMES,
        quantize_sentiment_int8,
    )
    from trademl.sentiment.runtime import (
        METADATA_FILE,
        ONNX_FP32_FILE,
        ONNX_INT8_FILE,
        OnnxSentiment,
    )

    top2 = np.sort(ref, axis=1)[:, -2:]
    margins = top2[:, 1] - top2[:, 0]
    scratch = onnx_dir.parent / "schemes"
    rows = []
    for scheme in ("fp32", *SENTIMENT_INT8_SCHEMES):
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(onnx_dir, scratch, ignore=shutil.ignore_patterns(ONNX_INT8_FILE))
        row: dict = {"scheme": scheme}
        if scheme == "fp32":
            graph = scratch / ONNX_FP32_FILE
        elif scheme == SENSITIVE and not calibration:
            rows.append({**row, "skipped": "no calibration texts"})
            continue
        else:
            t0 = time.perf_counter()
            info = quantize_sentiment_int8(scratch, scheme, calibration)
            row["quantize_s"] = round(time.perf_counter() - t0, 1)
            if "excluded" in info:
                row["fp32_nodes"] = len(info["excluded"])
            if "passed" in info:
                row["calibration_passed"] = info["passed"]
            meta_file = scratch / METADATA_FILE
            meta = json.loads(meta_file.read_text())
            meta["int8_fallback_margin"] = info.get("fallback_margin")
            meta_file.write_text(json.dumps(meta))
            graph = scratch / ONNX_INT8_FILE
        # as served: the -fp32-ties graphs with their fallback (the others have none)
        model = OnnxSentiment(scratch, prefer_int8=scheme != "fp32")
        probs = model.predict_proba(texts)
        flipped = ref.argmax(1) != probs.argmax(1)
        row.update(
            agreement=float(np.mean(~flipped)),
            flips=int(flipped.sum()),
            near_tie_flips=int(np.sum(flipped & (margins < NEAR_TIE_MARGIN))),
            max_abs_prob_diff=float(np.abs(probs - ref).max()),
            mb=graph.stat().st_size / 2**20,
        )
        row["ms_per_post"], row["cpu_ms_per_post"] = ms_per_post(model, timed)
        if model.fallback_margin is not None:
            row["fallback_margin"] = model.fallback_margin
            row["fallback_share"] = model.rows_fallback / max(1, model.rows_run)
        if other is not None:
            other_probs = model.predict_proba(other[0])
            row["other_agreement"] = float(np.mean(other_probs.argmax(1) == other[1].argmax(1)))
            row["other_flips"] = int(np.sum(other_probs.argmax(1) != other[1].argmax(1)))
        rows.append(row)
    shutil.rmtree(scratch, ignore_errors=True)
    return rows


def print_scheme_table(rows: list[dict], n: int, near_ties: int, min_margin: float) -> None:
    fp32 = next(r for r in rows if r["scheme"] == "fp32")
    print(
        f"\nINT8 schemes beside fp32 on the {n} held-out posts ({near_ties} near-ties: torch "
        f"top-2 margin < 0.02; smallest {min_margin:.4f}); one flip costs {1 / n:.4f}:"
    )
    other = any("other_agreement" in r for r in rows)
    print(
        f"{'scheme':<20} {'agreement':>9} {'flips':>5} {'near-tie':>8} {'max|dp|':>8} "
        f"{'MB':>6} {'ms/post':>8} {'CPU ms':>7} {'vs fp32':>8}  gate"
        + ("  other posts" if other else "")
    )
    for r in rows:
        if "skipped" in r:
            print(f"{r['scheme']:<20} skipped: {r['skipped']}")
            continue
        gate = (
            ""
            if r["scheme"] == "fp32"
            else ("pass" if r["agreement"] >= AGREEMENT_GOAL else "FAIL")
        )
        if "other_agreement" in r:
            gate += f"  {r['other_agreement']:.4f} ({r['other_flips']} flips)"
        if "fp32_nodes" in r:
            gate += f"; {r['fp32_nodes']} nodes fp32"
        if r.get("calibration_passed") is False:
            gate += "; failed on calibration (the ladder would not try it)"
        if "fallback_share" in r:
            gate += f"; fp32 answered {r['fallback_share']:.1%} (margin {r['fallback_margin']:.3f})"
        print(
            f"{r['scheme']:<20} {r['agreement']:>9.4f} {r['flips']:>5} {r['near_tie_flips']:>8} "
            f"{r['max_abs_prob_diff']:>8.4f} {r['mb']:>6.1f} {r['ms_per_post']:>8.2f} "
            f"{r['cpu_ms_per_post']:>7.2f} "
            f"{fp32['cpu_ms_per_post'] / r['cpu_ms_per_post']:>7.2f}x  {gate}"
        )
    print(
        "(ms/post: wall, batch 1, best of 3 passes; vs fp32: by CPU ms; MB: the INT8 file "
        "(the -fp32-ties schemes also load the fp32 graph)"
        + (
            "; other posts: the demo's validation and unlabelled posts, in neither training "
            "nor the parity set: how each scheme does beyond the gate's posts)"
            if other
            else ")"
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a saved SetFit dir (skip training)")
    parser.add_argument("--train", type=int, default=400, help="generated training posts")
    parser.add_argument("--eval", type=int, default=1000, help="held-out posts (parity, rates)")
    parser.add_argument("--n1", type=int, default=300, help="posts timed at batch 1")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--demo", action="store_true", help="the demo's posts and test split")
    parser.add_argument("--no-schemes", action="store_true", help="skip the INT8 scheme table")
    args = parser.parse_args(argv)

    from trademl.registry import ModelRegistry
    from trademl.sentiment.ensemble import ensemble
    from trademl.sentiment.onnx import export_sentiment_onnx, sentiment_parity
    from trademl.sentiment.runtime import MODEL_NAME, ONNX_DIR, DeployedSentiment, OnnxSentiment
    from trademl.sentiment.setfit_model import SetFitConfig, load_setfit, train_setfit
    from trademl.sentiment.vader import vader_compound, vader_labels

    with tempfile.TemporaryDirectory(prefix="bench_sentiment-") as tmp:
        work = Path(tmp)
        other_texts = None
        if args.demo:
            texts, labels, eval_texts, eval_labels, other_texts = demo_posts(work)
            print(
                f"demo posts: {len(texts)} train, {len(eval_texts)} held out (the test split), "
                f"{len(other_texts)} others (validation, unlabelled)"
            )
        else:
            texts, labels = make_posts(args.train, args.seed)
            eval_texts, eval_labels = make_posts(args.eval, args.seed + 1)
        if args.model:
            setfit_dir = Path(args.model)
            print(f"model: {setfit_dir} (given)")
        else:
            setfit_dir = work / "setfit"
            result = train_setfit(texts, labels, setfit_dir, SetFitConfig())
            print(
                f"trained SetFit (default config: {result.steps} steps) on {result.n_train} "
                f"{'demo' if args.demo else 'generated'} posts in {result.seconds:.1f} s wall, {result.cpu_seconds:.1f} s CPU"
            )
        version_dir = work / "version"
        onnx_dir = version_dir / ONNX_DIR
        t0 = time.perf_counter()
        meta = export_sentiment_onnx(setfit_dir, onnx_dir)
        print(
            f"exported in {time.perf_counter() - t0:.1f} s: fp32 {meta['fp32_bytes'] / 2**20:.0f} MB"
            f", INT8 {meta['int8_bytes'] / 2**20:.0f} MB"
        )
        kept_full = work / "model.int8.full.onnx"
        shutil.copy2(onnx_dir / "model.int8.onnx", kept_full)
        parity = sentiment_parity(setfit_dir, onnx_dir, eval_texts)
        attempts = ", ".join(
            f"{a['scheme']} {a['agreement']:.4f}"
            if "agreement" in a
            else f"{a['scheme']} " + ("failed on calibration" if "info" in a else a["skipped"])
            for a in parity["attempts"]
        )
        print(
            f"parity on {parity['n']} held-out posts: fp32 {parity['fp32_agreement']:.4f} "
            f"(max |dp| {parity['fp32_max_abs_prob_diff']:.1e}); INT8 attempts: {attempts}; "
            f"shipped scheme: {parity['int8_scheme']}"
        )
        int8_note = ""
        if parity["int8_scheme"] is None:  # time the full-scheme graph anyway, and say so
            shutil.copy2(kept_full, onnx_dir / "model.int8.onnx")
            int8_note = " (failed the gate: not shipped)"

        registry = ModelRegistry(work / "models")
        version = registry.register(MODEL_NAME, version_dir)
        registry.promote(MODEL_NAME, version)
        deployed = DeployedSentiment(work / "models")
        torch_model = load_setfit(setfit_dir)
        fp32 = OnnxSentiment(onnx_dir, prefer_int8=False)
        int8 = OnnxSentiment(onnx_dir, prefer_int8=True)
        print(f"deployed: {deployed.name}; onnxruntime and torch on their default threads\n")

        ref = torch_model.predict_proba(eval_texts)
        int8_probs = int8.predict_proba(eval_texts)
        compound = vader_compound(eval_texts)
        ens = ensemble(compound, int8_probs, deployed.config)
        agreement = float(np.mean(ref.argmax(1) == int8_probs.argmax(1)))
        quality = {
            "VADER": accuracy(vader_labels(compound), eval_labels),
            "SetFit torch": accuracy([SENTIMENT_LABELS[i] for i in ref.argmax(1)], eval_labels),
            "SetFit ONNX fp32": accuracy(
                [SENTIMENT_LABELS[i] for i in fp32.predict_proba(eval_texts).argmax(1)],
                eval_labels,
            ),
            "SetFit ONNX INT8": accuracy(
                [SENTIMENT_LABELS[i] for i in int8_probs.argmax(1)], eval_labels
            ),
            "ensemble": accuracy(ens.labels, eval_labels),
        }
        runners = {
            "VADER": vader_compound,
            "SetFit torch": torch_model.predict_proba,
            "SetFit ONNX fp32": fp32.predict_proba,
            "SetFit ONNX INT8": int8.predict_proba,
            "ensemble": deployed.predict,
        }
        one = eval_texts[: args.n1]
        rows = {name: (rate(fn, one, 1), rate(fn, eval_texts, 64)) for name, fn in runners.items()}

        print(f"{'path':<20} {'posts/s b=1':>12} {'posts/s b=64':>13} {'accuracy':>9}")
        for name, (r1, r64) in rows.items():
            label = name + (int8_note if name == "SetFit ONNX INT8" else "")
            print(f"{label:<20} {r1:>12,.0f} {r64:>13,.0f} {quality[name]:>9.3f}")
        print(
            f"(batch 1 over {len(one)} posts, batch 64 over {len(eval_texts)}; accuracy against "
            "the generator's labels; ensemble routing: "
            + ", ".join(f"{k} {v}" for k, v in ens.routing_counts().items())
            + ")"
        )
        ratio1 = rows["SetFit ONNX INT8"][0] / rows["SetFit torch"][0]
        ratio64 = rows["SetFit ONNX INT8"][1] / rows["SetFit torch"][1]
        print()
        print(f"INT8 / torch at batch 1: {ratio1:.1f}x (goal >= {RATIO_GOAL:.0f}x: "
              f"{'met' if ratio1 >= RATIO_GOAL else 'NOT met'}); at batch 64: {ratio64:.1f}x")  # fmt: skip
        print(
            f"torch vs INT8 class agreement: {agreement:.4f} on {len(eval_texts)} posts (goal >= "
            f"{AGREEMENT_GOAL:.3f}: {'met' if agreement >= AGREEMENT_GOAL else 'NOT met'})"
        )
        load = os.getloadavg()
        print(
            f"load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on "
            f"{os.cpu_count()} cores (other work on the machine slows every row)"
        )
        schemes = []
        if not args.no_schemes:
            from trademl.sentiment.setfit_model import read_calibration_texts

            other = None
            if other_texts:
                other = (other_texts, torch_model.predict_proba(other_texts))
            schemes = scheme_table(
                onnx_dir, ref, eval_texts, read_calibration_texts(setfit_dir), one, other
            )
            print_scheme_table(schemes, len(eval_texts), parity["near_ties"], parity["min_margin"])
        print(
            json.dumps(
                {"parity": parity, "rates": rows, "accuracy": quality, "schemes": schemes},
                default=float,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
