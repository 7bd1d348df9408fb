"""ONNX parity (a stump model included), what quantization does, and native C and Go parity at 1e-9."""

import os
import shutil
import subprocess

import numpy as np
import pytest

from trademl.gate.native import write_export
from trademl.gate.onnx_export import export_onnx, onnx_proba, parity, quantization_effect

ESTIMATORS = ["gbc", "hist_gbc", "mlp"]


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_onnx_parity(tmp_path, make_fitted, rows, estimator):
    pipeline = make_fitted(estimator)
    x, _ = rows(5000, seed=9)
    before = pipeline.predict_proba(x)[:, 1]
    path = export_onnx(pipeline, tmp_path / "model.onnx")
    # Flooring thresholds to float32 changes nothing scikit-learn answers on float32 features.
    np.testing.assert_array_equal(pipeline.predict_proba(x)[:, 1], before)
    result = parity(pipeline, path, x)
    assert result.passed and result.max_abs_diff <= 1e-5, result


def test_onnx_parity_on_a_stump_model(tmp_path, make_fitted):
    """Leaf-only trees (constant features): onnxruntime must still apply the sigmoid."""
    from trademl.gate.training import make_pipeline

    x = np.ones((200, 3))
    y = np.r_[np.ones(60), np.zeros(140)].astype(int)
    pipeline = make_pipeline("gbc").set_params(model__n_estimators=5).fit(x, y)
    path = export_onnx(pipeline, tmp_path / "model.onnx")
    p = onnx_proba(path, x[:3])
    np.testing.assert_allclose(p, 0.3, atol=1e-6)  # the prior, through the logistic
    assert parity(pipeline, path, x).passed


def test_quantization_is_measured_not_claimed(tmp_path, make_fitted, rows):
    x, _ = rows(500, seed=1)
    trees = quantization_effect(export_onnx(make_fitted("gbc"), tmp_path / "gbc" / "model.onnx"), x)
    assert trees["graph_changed"] is False and trees["max_abs_proba_diff"] == 0.0
    assert "nothing" in trees["what_it_did"]
    assert not (tmp_path / "gbc" / "model.int8.onnx").exists()
    mlp = quantization_effect(export_onnx(make_fitted("mlp"), tmp_path / "mlp" / "model.onnx"), x)
    assert mlp["graph_changed"] is True and "MatMulInteger" in " ".join(mlp["ops_after"])
    assert (tmp_path / "mlp" / "model.int8.onnx").exists()


MAIN_C = """#include <stdio.h>
#include "gate.h"
int main(void) {
    double a, b, c;
    while (scanf("%lf %lf %lf", &a, &b, &c) == 3) printf("%.17g\\n", approve_proba(a, b, c));
    return 0;
}
"""

MAIN_GO = """package main

import (
\t"bufio"
\t"fmt"
\t"os"
)

func main() {
\tin := bufio.NewReader(os.Stdin)
\tout := bufio.NewWriter(os.Stdout)
\tdefer out.Flush()
\tfor {
\t\tvar a, b, c float64
\t\tif _, err := fmt.Fscan(in, &a, &b, &c); err != nil {
\t\t\treturn
\t\t}
\t\tfmt.Fprintf(out, "%.17g\\n", ApproveProba(a, b, c))
\t}
}
"""


def _input(x: np.ndarray) -> str:
    return "\n".join(" ".join(repr(float(v)) for v in row) for row in x) + "\n"


def go_binary() -> str | None:
    found = shutil.which("go")
    if found:
        return found
    for candidate in ("/usr/lib/go/bin/go", "/usr/local/go/bin/go"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_native_c_parity(tmp_path, make_fitted, rows, estimator):
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (cc) on PATH: install gcc to run the native C parity test")
    pipeline = make_fitted(estimator)
    x, _ = rows(3000, seed=4)
    write_export(pipeline, "c", tmp_path, "test")
    (tmp_path / "main.c").write_text(MAIN_C)
    exe = tmp_path / "gate"
    subprocess.run(
        [
            cc,
            "-O2",
            "-std=c99",
            "-ffp-contract=off",
            "-o",
            exe,
            tmp_path / "gate.c",
            tmp_path / "main.c",
            "-lm",
        ],
        check=True,
    )
    out = subprocess.run([exe], input=_input(x), capture_output=True, text=True, check=True)
    native = np.array(out.stdout.split(), dtype=float)
    assert np.abs(native - pipeline.predict_proba(x)[:, 1]).max() <= 1e-9


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_native_go_parity(tmp_path, make_fitted, rows, estimator):
    go = go_binary()
    if go is None:
        pytest.skip(
            "Go toolchain not found: run scripts/ensure_services.sh as root (apt golang-go)"
        )
    pipeline = make_fitted(estimator)
    x, _ = rows(3000, seed=4)
    source = write_export(pipeline, "go", tmp_path, "test").read_text()
    (tmp_path / "gate.go").write_text(source.replace("package gate", "package main", 1))
    (tmp_path / "main.go").write_text(MAIN_GO)
    (tmp_path / "go.mod").write_text("module gatecheck\n\ngo 1.19\n")
    env = {
        **os.environ,
        "GOCACHE": str(tmp_path / ".gocache"),
        "GOPATH": str(tmp_path / ".gopath"),
        "GOFLAGS": "-mod=mod",
        "GO111MODULE": "on",
    }
    out = subprocess.run(
        [go, "run", "."], cwd=tmp_path, input=_input(x), capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    native = np.array(out.stdout.split(), dtype=float)
    assert np.abs(native - pipeline.predict_proba(x)[:, 1]).max() <= 1e-9
