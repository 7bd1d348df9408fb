"""`trademl predict --jsonl` under the line contract: one JSON answer per input line, in order.

Rules only (an empty model registry, or ``--mode rules``), so each example is a fast in-process
call of ``cli.main``; every ``--mode`` keeps the contract.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.robustness.contracts import BAD_LINES, SETTINGS, LineContract, line_contract_tests
from trademl.cli import main


def _run_predict(
    data: bytes, batch_size: int, stdin: bool = False, mode: str | None = None
) -> tuple[list[str], int]:
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"  # exists and is empty: only the rule parser answers
        models.mkdir()
        path = Path(tmp) / "in.jsonl"
        path.write_bytes(data)
        argv = ["predict", "--models", str(models), "--batch-size", str(batch_size)]
        argv += ["--mode", mode] if mode else []
        out, err = io.StringIO(), io.StringIO()
        with contextlib.ExitStack() as stack:
            stack.enter_context(contextlib.redirect_stdout(out))
            stack.enter_context(contextlib.redirect_stderr(err))
            if stdin:
                fake = types.SimpleNamespace(buffer=io.BytesIO(data))
                stack.enter_context(_swap_stdin(fake))
                status = main([*argv, "--jsonl", "-"])
            else:
                status = main([*argv, "--jsonl", str(path)])
    assert "Traceback" not in err.getvalue()
    text = out.getvalue()
    assert text == "" or text.endswith("\n")
    return text.split("\n")[:-1], status  # not splitlines(): U+2028 may sit inside a JSON line


@contextlib.contextmanager
def _swap_stdin(replacement):
    saved = sys.stdin
    sys.stdin = replacement
    try:
        yield
    finally:
        sys.stdin = saved


CONTRACTS = [
    LineContract("predict-batch-1", lambda data: _run_predict(data, 1)),
    LineContract("predict-batch-3-stdin", lambda data: _run_predict(data, 3, stdin=True)),
    LineContract("predict-batch-64", lambda data: _run_predict(data, 64)),
    LineContract("predict-rules-batch-2", lambda data: _run_predict(data, 2, mode="rules")),
    LineContract(
        "predict-model-batch-4-stdin", lambda data: _run_predict(data, 4, True, mode="model")
    ),
]
test_one_answer_per_line = line_contract_tests(CONTRACTS, max_examples=60)

COINS = ("BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "LINK", "AVAX")


@settings(SETTINGS, max_examples=100)
@given(
    lines=st.lists(st.one_of(st.sampled_from(COINS), BAD_LINES), min_size=1, max_size=15),
    batch_size=st.integers(1, 5),
    mode=st.sampled_from(["auto", "model", "rules"]),
)
def test_answers_keep_input_order(lines, batch_size, mode):
    """Good lines name different coins: their answers come back in the order they went in."""
    data = b"".join(
        (json.dumps({"text": f"Long {x}USDT 10 tp 12 sl 9"}).encode() if isinstance(x, str) else x)
        + b"\n"
        for x in lines
    )
    out, status = _run_predict(data, batch_size, mode=mode)
    answers = [json.loads(line) for line in out]
    assert len(answers) == len(lines)
    for number, (line, answer) in enumerate(zip(lines, answers, strict=True), start=1):
        if isinstance(line, str):
            assert answer["entities"]["pair"] == f"{line}USDT", (number, answer)
            assert answer["side_source"] == "stated", (number, answer)
        elif "error" in answer:
            assert answer["line"] == number
    assert status == (1 if any("error" in a for a in answers) else 0)


def test_the_installed_command_streams_and_exits_1_on_a_bad_line(tmp_path):
    """Once through a real process: stdin in, stdout/stderr/exit status out, no traceback."""
    (tmp_path / "models").mkdir()
    data = b'{"text": "Long BTCUSDT 10 tp 12 sl 9"}\n\xff\n\n{"text": "gm"}'
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-m", "trademl.cli", "predict", "--jsonl", "-"]
        + ["--models", str(tmp_path / "models")],
        input=data,
        capture_output=True,
        env=env,
        timeout=60,
    )
    answers = [json.loads(line) for line in proc.stdout.decode().split("\n")[:-1]]
    assert proc.returncode == 1
    assert [a.get("line") for a in answers] == [None, 2, 3, None]
    assert answers[0]["entities"]["pair"] == "BTCUSDT" and answers[3]["label"] == "NON_SIGNAL"
    err = proc.stderr.decode()
    assert "<stdin>:2: not UTF-8" in err and "<stdin>:3: empty line" in err
    assert "Traceback" not in err
