# ruff: noqa: T201  (a benchmark reports on stdout)
"""Batch serving: `trademl predict --jsonl` over 50,000 mixed messages, before and after, one run.

Builds 50,000 demo-style messages (the demo's channel generators: signals, chatter, updates and
set-ups without a side, in the demo's mix, plus one bad line in every 1,000 as an order marker),
then runs the real CLI as a subprocess on them:

- ``before``: the NER extractor through torch (``TRADEML_NER_BACKEND=torch``), or with
  ``--baseline-rev REV`` the ``trademl`` package of that git revision (``git archive``: the
  checkout is not touched);
- ``after``: the default serving path (ONNX INT8 NER where it passed its parity check);
- ``after-10k``: the same over the first 10,000 lines, to show that memory does not grow with
  the file.

For each: wall time, messages/s, the child's peak RSS (``wait4``), whether torch was imported
(``-X importtime``); then the ratio, and checks that every run answered one line per input line
in order (the marker lines come back as ``{"line": N, "error": ...}`` at line N) and how often
before and after agree.

Models come from a registry (``--models``, default ``$TRADEML_HOME/lake/models``, read only): the
champions of signal_classifier and ner_extractor are copied into a temporary registry, and an NER
version without ``onnx/`` gets one there (``build_ner_onnx`` with the held-out rows of
``lake/exports/ner_data.jsonl``). Without deployed models it says how to get them (``make demo``).

    .venv/bin/python benchmarks/bench_serving.py
    .venv/bin/python benchmarks/bench_serving.py --n 2000 --baseline-rev a1d4ecb
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from trademl.registry import ModelRegistry, default_models_root  # noqa: E402

NAMES = ("signal_classifier", "ner_extractor")
MARKER_EVERY = 1000
GOAL = 500.0


def build_messages(n: int, seed: int) -> list[str]:
    """``n`` texts from the demo's channel generators, interleaved in posting order."""
    from trademl.demo.channels import CHANNELS, channel_messages

    per_day = 40
    days = max(1, -(-n // (per_day * len(CHANNELS))) + 1)
    messages = []
    for channel in CHANNELS:
        messages += channel_messages(
            channel, seed=seed, start_date=date(2026, 1, 1), days=days, per_day=per_day, defects={}
        )
    messages.sort(key=lambda m: m.when)
    texts = [m.body.plain() for m in messages if m.kind != "service"]
    texts = [t for t in texts if t.strip()]
    if len(texts) < n:
        raise SystemExit(f"bench_serving: the generators gave {len(texts)} messages, not {n}")
    return texts[:n]


def write_input(texts: list[str], path: Path) -> list[int]:
    """JSON Lines of ``texts`` with a bad line (no ``text``) every MARKER_EVERY lines; returns
    the line numbers of the bad lines."""
    markers = []
    with path.open("w", encoding="utf-8") as fh:
        for i, text in enumerate(texts, start=1):
            if i % MARKER_EVERY == 0:
                markers.append(i)
                fh.write(json.dumps({"marker": i}) + "\n")
            else:
                fh.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    return markers


def copy_champions(source: Path, target: Path) -> dict[str, str]:
    """The champion version of each model in NAMES, copied into a registry at ``target``."""
    registry = ModelRegistry(source)
    copied = {}
    for name in NAMES:
        champion = registry.champion(name) if (source / name).exists() else None
        if champion is None:
            continue
        shutil.copytree(champion.path, target / name / "versions" / champion.version)
        shutil.copy2(source / name / "champion.json", target / name / "champion.json")
        copied[name] = champion.version
    return copied


def ensure_ner_onnx(registry_root: Path, lake: Path) -> str:
    """The ONNX form of the copied NER champion (built in the copy when the version lacks one)."""
    registry = ModelRegistry(registry_root)
    version = registry.champion("ner_extractor")
    onnx = version.path / "onnx"
    if (onnx / "model.onnx").exists():
        meta = json.loads((onnx / "trademl_ner.json").read_text()).get("onnx", {})
        return f"deployed ({meta.get('served', '?')}, scheme {meta.get('int8_scheme')})"
    from trademl.models.ner_onnx import build_ner_onnx

    rows_file = lake / "exports" / "ner_data.jsonl"
    if rows_file.exists():
        rows = [json.loads(line) for line in rows_file.open() if line.strip()]
        texts = [r["text"] for r in rows if r.get("split") == "test"]
        texts += [r["text"] for r in rows if r.get("split") == "validation"]
        texts, where = texts[: max(400, sum(r.get("split") == "test" for r in rows))], "held out"
    else:
        texts, where = build_messages(400, seed=99), "generated"
    print(f"exporting the NER champion to ONNX in the copy (parity on {len(texts)} {where} rows)")
    result = build_ner_onnx(version.path / "hf", onnx, texts)
    return f"built here: {result.served}, scheme {result.int8_scheme}, attempts " + ", ".join(
        f"{a['scheme']} {a['entity_agreement']:.4f}" for a in result.attempts
    )


@dataclass
class Run:
    name: str
    lines: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    status: int
    torch_imported: bool
    out_path: Path

    @property
    def rate(self) -> float:
        return self.lines / self.seconds

    @property
    def cpu_rate(self) -> float:
        """Messages per CPU-second of the child: what one free core would answer."""
        return self.lines / self.cpu_seconds


def run_cli(
    name: str,
    input_path: Path,
    lines: int,
    models: Path,
    work: Path,
    *,
    env_extra: dict[str, str] | None = None,
    code_dir: Path | None = None,
    extra_args: list[str] | None = None,
) -> Run:
    out_path = work / f"{name}.out.jsonl"
    err_path = work / f"{name}.err"
    env = {**os.environ, **(env_extra or {})}
    cwd = code_dir or REPO
    env["PYTHONPATH"] = str(cwd)
    cmd = [sys.executable, "-X", "importtime", "-m", "trademl.cli", "predict"]
    cmd += ["--jsonl", str(input_path), "--models", str(models), *(extra_args or [])]
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    errors = err_path.read_text(errors="replace")
    torch = any(
        line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == "torch"
        for line in errors.splitlines()
    )
    problems = [
        line for line in errors.splitlines() if not line.startswith("import time:") and line
    ]
    unexpected = [line for line in problems if "marker" not in line and ": no " not in line]
    if proc.returncode not in (0, 1) or any("Traceback" in line for line in unexpected):
        print("\n".join(problems[-20:]))
        raise SystemExit(f"bench_serving: {name} failed (exit {proc.returncode})")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(name, lines, seconds, cpu, usage.ru_maxrss / 1024, proc.returncode, torch, out_path)


def check_lines(run: Run, lines: int, markers: list[int]) -> str:
    """One answer per line, in order: the marker lines' errors sit at their own line numbers."""
    count, misplaced = 0, []
    with run.out_path.open(encoding="utf-8") as fh:
        for count, line in enumerate(fh, start=1):
            answer = json.loads(line)
            is_marker = count % MARKER_EVERY == 0
            if is_marker != ("error" in answer) or (is_marker and answer.get("line") != count):
                misplaced.append(count)
    expected_status = 1 if [m for m in markers if m <= lines] else 0
    ok = count == lines and not misplaced and run.status == expected_status
    detail = f"{count} lines out for {lines} in, {len(misplaced)} out of place"
    return ("ok: " if ok else "FAILED: ") + detail


def agreement(a: Path, b: Path) -> tuple[float, float, int]:
    """Shares of lines where two runs give the same label, and the same label and entities."""
    same_label = same_all = n = 0
    with a.open(encoding="utf-8") as fa, b.open(encoding="utf-8") as fb:
        for la, lb in zip(fa, fb, strict=False):
            x, y = json.loads(la), json.loads(lb)
            if "error" in x:
                continue
            n += 1
            same_label += x["label"] == y.get("label")
            same_all += x["label"] == y.get("label") and x["entities"] == y.get("entities")
    return same_label / max(n, 1), same_all / max(n, 1), n


def archived_code(rev: str, work: Path) -> Path:
    """The ``trademl`` package of git revision ``rev``, unpacked under ``work`` (read only on the
    checkout: ``git archive``)."""
    data = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", rev, "trademl"],
        capture_output=True,
        check=True,
    ).stdout
    target = work / f"code-{rev}"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(target, filter="data")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="registry to copy the champions from")
    parser.add_argument("--n", type=int, default=50_000, help="messages (default 50,000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=None, help="predict --batch-size")
    parser.add_argument("--threads", type=int, default=None, help="predict --threads")
    parser.add_argument(
        "--baseline-rev", default=None, help="run `before` with the trademl code of this git rev"
    )
    parser.add_argument("--skip-before", action="store_true", help="only the after runs")
    args = parser.parse_args(argv)

    source = Path(args.models) if args.models else default_models_root()
    with tempfile.TemporaryDirectory(prefix="bench_serving-") as tmp:
        work = Path(tmp)
        models = work / "models"
        copied = copy_champions(source, models)
        if "signal_classifier" not in copied or "ner_extractor" not in copied:
            print(
                f"bench_serving: {source} has no deployed signal_classifier and ner_extractor "
                f"(found: {', '.join(copied) or 'none'}). Train and deploy them with `make demo` "
                "(or name a registry with --models)."
            )
            return 2
        print(f"models: {', '.join(f'{k}@{v}' for k, v in copied.items())} (copied from {source})")
        print(f"NER ONNX: {ensure_ner_onnx(models, source.parent)}")
        t0 = time.perf_counter()
        texts = build_messages(args.n, args.seed)
        input_path = work / "in.jsonl"
        markers = write_input(texts, input_path)
        small = min(10_000, args.n)
        small_path = work / "in-10k.jsonl"
        with input_path.open("rb") as src, small_path.open("wb") as dst:
            for i, line in enumerate(src):
                if i >= small:
                    break
                dst.write(line)
        print(
            f"input: {args.n:,} messages ({len(markers)} marker lines, {len(set(texts)):,} "
            f"distinct texts), {input_path.stat().st_size / 2**20:.1f} MB, built in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        extra = []
        if args.batch_size:
            extra += ["--batch-size", str(args.batch_size)]
        if args.threads:
            extra += ["--threads", str(args.threads)]

        runs: list[Run] = []
        if not args.skip_before:
            if args.baseline_rev:
                code = archived_code(args.baseline_rev, work)
                before = run_cli(
                    f"before@{args.baseline_rev}", input_path, args.n, models, work, code_dir=code
                )
            else:
                env = {"TRADEML_NER_BACKEND": "torch"}
                before = run_cli(
                    "before(torch NER)", input_path, args.n, models, work, env_extra=env,
                    extra_args=extra,
                )  # fmt: skip
            runs.append(before)
        env = {"TRADEML_NER_BACKEND": ""}
        after = run_cli("after", input_path, args.n, models, work, env_extra=env, extra_args=extra)
        runs.append(after)
        after_small = run_cli(
            "after-10k", small_path, small, models, work, env_extra=env, extra_args=extra
        )
        runs.append(after_small)

        print()
        print(
            f"{'run':<24} {'lines':>8} {'wall s':>8} {'msgs/s':>8} {'CPU s':>8} "
            f"{'msgs/CPU-s':>10} {'peak RSS MB':>12}  torch"
        )
        for r in runs:
            print(
                f"{r.name:<24} {r.lines:>8,} {r.seconds:>8.1f} {r.rate:>8.0f} {r.cpu_seconds:>8.1f} "
                f"{r.cpu_rate:>10.0f} {r.peak_rss_mb:>12.0f}  {'yes' if r.torch_imported else 'no'}"
            )
        load = os.getloadavg()
        print(
            f"load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on "
            f"{os.cpu_count()} cores (other work on the machine slows the wall figures; "
            "msgs/CPU-s does not depend on it)"
        )
        print()
        if not args.skip_before:
            print(f"after / before: {after.rate / before.rate:.1f}x messages/s")
            label, everything, n = agreement(before.out_path, after.out_path)
            print(
                f"before vs after on {n:,} answers: same label {label:.4f}, "
                f"same label and entities {everything:.4f}"
            )
        print(
            f"peak RSS: {after_small.peak_rss_mb:.0f} MB for {small:,} lines, "
            f"{after.peak_rss_mb:.0f} MB for {args.n:,}"
        )
        for r in runs:
            print(f"line check {r.name}: {check_lines(r, r.lines, markers)}")
        verdict = "met" if after.rate >= GOAL else "NOT met"
        print(f"goal >= {GOAL:.0f} messages/s on {os.cpu_count()} cores: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
