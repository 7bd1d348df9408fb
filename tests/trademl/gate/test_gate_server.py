"""`trademl gate serve` on loopback: right answers, bad requests, a champion swap under load."""

import http.client
import json
import threading
import time

import numpy as np
import pytest

from trademl.gate.runtime import Gate
from trademl.gate.server import GateServer


@pytest.fixture
def server(gate_registry):
    root, registry, version = gate_registry
    srv = GateServer(root, "127.0.0.1", 0, reload_interval_s=0.05, max_body=200_000)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv, registry, version
    srv.shutdown()
    srv.server_close()


def call(conn, method, path, body=None, headers=None):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers=headers or {})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def connect(srv):
    return http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)


def test_answers_match_the_runtime_on_one_keep_alive_connection(server, gate_registry, rows):
    srv, _, version = server
    gate = Gate.load(gate_registry[0])
    x, _ = rows(20, seed=8)
    conn = connect(srv)
    status, health = call(conn, "GET", "/health")
    assert status == 200 and health["model"] == version and health["status"] == "ok"
    for row in x[:10]:
        status, answer = call(conn, "POST", "/v1/approve", {"features": row.tolist()})
        assert status == 200 and answer["model"] == version
        assert answer["proba"] == pytest.approx(gate.predict_proba(row)[0], abs=1e-12)
        assert answer["approve"] == (answer["proba"] >= 0.65)
    status, answer = call(
        conn, "POST", "/v1/approve", {"features": x[0].tolist(), "threshold": 0.0}
    )
    assert answer["approve"] is True
    status, batch = call(conn, "POST", "/v1/approve/batch", {"rows": x.tolist(), "threshold": 0.5})
    assert status == 200 and len(batch["proba"]) == 20
    np.testing.assert_allclose(batch["proba"], gate.predict_proba(x), atol=1e-12)
    assert batch["approve"] == [p >= 0.5 for p in batch["proba"]]
    conn.close()


BAD = [
    (b"not json", 400, "not JSON"),
    (b"\xff\xfe{}", 400, "not UTF-8"),
    (b"[1, 2, 3]", 422, "JSON object"),
    (b'{"features": [1, 2]}', 422, "3 numbers"),
    (b'{"features": [1, 2, 3, 4]}', 422, "3 numbers"),
    (b'{"features": [1, NaN, 3]}', 422, "depth_ratio is not a finite"),
    (b'{"features": [1, 2, Infinity]}', 422, "price_dist is not a finite"),
    (b'{"features": [1, "2", 3]}', 422, "must be a number"),
    (b'{"features": [true, 2, 3]}', 422, "must be a number"),
    (b'{"features": [1, 2, 1e999]}', 422, "not a finite"),
    (b'{"features": [1, 2, 3], "threshold": "high"}', 422, "threshold"),
    (b'{"rows": [[1, 2, 3]]}', 422, 'missing "features"'),
]


def test_bad_requests_get_a_4xx_and_the_connection_carries_on(server):
    srv, _, version = server
    conn = connect(srv)
    for body, status, message in BAD:
        got, answer = call(conn, "POST", "/v1/approve", body)
        assert got == status and message in answer["error"], (body, answer)
    got, answer = call(conn, "POST", "/v1/approve/batch", {"rows": [[1, 2, 3], [1, 2]]})
    assert got == 422 and "rows[1]" in answer["error"]
    got, answer = call(conn, "POST", "/v1/nope", {"features": [1, 2, 3]})
    assert got == 404
    got, answer = call(conn, "DELETE", "/v1/approve")
    assert got == 405
    # Still the same connection, still serving.
    got, answer = call(conn, "POST", "/v1/approve", {"features": [0.5, 1.0, 0.2]})
    assert got == 200 and answer["model"] == version
    conn.close()
    # Oversized body: refused unread; the server closes that connection and keeps serving others.
    big = connect(srv)
    got, answer = call(big, "POST", "/v1/approve", b"x" * 300_000)
    assert got == 413 and "at most 200,000" in answer["error"]
    big.close()
    fresh = connect(srv)
    assert call(fresh, "GET", "/health")[0] == 200
    fresh.close()


def _hammer(srv, stop, results, errors):
    conn = connect(srv)
    try:
        while not stop.is_set():
            try:
                status, answer = call(conn, "POST", "/v1/approve", {"features": [0.6, 1.3, -0.4]})
            except Exception as exc:  # a failed request is what this test counts
                errors.append(repr(exc))
                conn.close()
                conn = connect(srv)
                continue
            if status != 200:
                errors.append(answer)
            else:
                results.append(answer["model"])
    finally:
        conn.close()


def test_champion_swap_under_load_fails_no_request(server, tmp_path, make_fitted):
    import joblib

    from trademl.gate.onnx_export import export_onnx

    srv, registry, old = server
    folder = tmp_path / "v2"
    folder.mkdir()
    challenger = make_fitted("gbc", seed=1, model__n_estimators=40)
    export_onnx(challenger, folder / "model.onnx")
    joblib.dump(challenger, folder / "pipeline.joblib")
    new = registry.register("onnx_gate", folder)
    stop, results, errors = threading.Event(), [], []
    clients = [
        threading.Thread(target=_hammer, args=(srv, stop, results, errors)) for _ in range(6)
    ]
    for c in clients:
        c.start()
    time.sleep(0.4)
    registry.promote("onnx_gate", new)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (not results or results[-1] != new):
        time.sleep(0.05)
    time.sleep(0.3)
    stop.set()
    for c in clients:
        c.join()
    assert errors == []
    assert old in results and new in results
    first_new = results.index(new)
    assert len(results) > 200 and results[-1] == new
    assert first_new > 0
