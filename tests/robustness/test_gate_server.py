"""`trademl gate serve` joins the hostile-input suite: any request bodies in, one JSON answer each.

The shared :func:`line_contract_tests` judges lines by a ``text`` field (the message commands); a
gate request is ``{"features": [3 numbers], "threshold"?: number}``, so this module runs the same
property (one answer per body, in order, ``{"line": N, "error": ...}`` for a bad one, exit status
1 iff a body was bad) with the gate's own rule for which bodies are good.
"""

from __future__ import annotations

import http.client
import json
import math
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.robustness.contracts import BAD_LINES, NASTY_BYTES, SETTINGS, LineContract
from trademl.gate.onnx_export import export_onnx
from trademl.gate.server import GateServer
from trademl.gate.training import make_pipeline

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)
GOOD_BODY = st.builds(
    lambda f, t: json.dumps({"features": f, **({} if t is None else {"threshold": t})}).encode(),
    st.lists(st.one_of(finite, st.integers(-1000, 1000)), min_size=3, max_size=3),
    st.one_of(st.none(), st.floats(0, 1)),
)
GATE_BAD = st.sampled_from(
    [
        b'{"features": [1, 2]}',
        b'{"features": [1, 2, 3, 4]}',
        b'{"features": [1, NaN, 3]}',
        b'{"features": [Infinity, 0, 0]}',
        b'{"features": [1, 2, 1e999]}',
        b'{"features": [true, 0, 0]}',
        b'{"features": ["1", 0, 0]}',
        b'{"features": null}',
        b'{"features": {"tick_ratio": 1}}',
        b'{"features": [1, 2, 3], "threshold": NaN}',
        b'{"features": [1, 2, 3], "threshold": [0.5]}',
        b'{"rows": [[1, 2, 3]]}',
    ]
)


@st.composite
def mutated_good(draw) -> bytes:
    body = bytearray(draw(GOOD_BODY))
    at = draw(st.integers(0, len(body)))
    body[at:at] = draw(st.sampled_from(NASTY_BYTES))
    return bytes(body)


def is_good(body: bytes) -> bool:
    """The gate's rule, written independently of the server."""
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    if not isinstance(value, dict) or not isinstance(value.get("features"), list):
        return False

    def number(v) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        try:
            return math.isfinite(float(v))
        except OverflowError:
            return False

    feats = value["features"]
    return len(feats) == 3 and all(map(number, feats)) and number(value.get("threshold", 0.65))


_SERVER: dict = {}


def _server() -> GateServer:
    if "srv" not in _SERVER:
        folder = Path(tempfile.mkdtemp(prefix="gate-robust-"))
        rng = np.random.default_rng(0)
        x = rng.normal(size=(400, 3))
        pipeline = (
            make_pipeline("gbc")
            .set_params(model__n_estimators=10)
            .fit(x, (x[:, 0] > 0).astype(int))
        )
        export_onnx(pipeline, folder / "model.onnx")
        srv = GateServer(folder, "127.0.0.1", 0, max_body=4096)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        _SERVER["srv"] = srv
    return _SERVER["srv"]


def run_server(data: bytes) -> tuple[list[str], int]:
    """Each line of ``data`` as one POST /v1/approve body, over one keep-alive connection."""
    srv = _server()
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    out, bad = [], False
    try:
        for number, line in enumerate(data.split(b"\n")[:-1], start=1):
            conn.request(
                "POST", "/v1/approve", body=line, headers={"Content-Type": "application/json"}
            )
            response = conn.getresponse()
            answer = json.loads(response.read())
            if response.status != 200:
                bad = True
                answer = {"line": number, "error": answer["error"], "status": response.status}
            out.append(json.dumps(answer))
    finally:
        conn.close()
    return out, 1 if bad else 0


CONTRACT = LineContract("gate_server", run_server, good_line=GOOD_BODY)


@settings(SETTINGS, max_examples=60)
@given(
    lines=st.lists(
        st.one_of(CONTRACT.good_line, GATE_BAD, BAD_LINES, mutated_good()), min_size=1, max_size=12
    )
)
def test_gate_server_one_answer_per_body(lines):
    lines = [line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines]
    out, status = CONTRACT.run(b"\n".join(lines) + b"\n")
    assert len(out) == len(lines), f"{len(lines)} bodies in, {len(out)} answers out"
    any_bad = False
    for number, (line, answer) in enumerate(zip(lines, out, strict=True), start=1):
        obj = json.loads(answer)
        assert isinstance(obj, dict)
        if is_good(line):
            assert "error" not in obj, f"body {number} {line!r} refused: {obj}"
            assert 0.0 <= obj["proba"] <= 1.0 and isinstance(obj["approve"], bool)
        else:
            assert obj.get("line") == number and 400 <= obj["status"] < 500, (line, obj)
            any_bad = True
    assert status == (1 if any_bad else 0)


def test_oversized_body_is_refused_and_the_server_keeps_serving():
    out, status = run_server(b'{"features": [' + b"1," * 5000 + b"1]}\n")
    assert status == 1 and json.loads(out[0])["status"] == 413
    out, status = run_server(b'{"features": [0.5, 1.0, 0.1]}\n')
    assert status == 0


@pytest.fixture(scope="module", autouse=True)
def _stop_server():
    yield
    srv = _SERVER.pop("srv", None)
    if srv is not None:
        srv.shutdown()
        srv.server_close()
