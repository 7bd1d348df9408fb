"""Dependency-free C and Go source for the fitted gate: one function, approve_proba(...) -> double.

Our own small emitter, not m2cgen: m2cgen 0.10.0 (2022, unmaintained) refuses every model we
ship on scikit-learn 1.9 (``NotImplementedError: Model 'sklearn_GradientBoostingClassifier' is not
supported``, the same for HistGradientBoosting and Pipeline), and tl2cgen needs Treelite and emits
C only. The emitter writes the fitted numbers as tables and a short loop over them, so the source
stays small for any grid setting, and it repeats scikit-learn's arithmetic step by step: the
scaler in double, the float32 cast GradientBoosting's trees compare in, leaf values summed in
stage order, then the logistic. Parity with ``predict_proba`` is within 1e-9 (tests compile both).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trademl.gate.runtime import FEATURES


@dataclass
class Tables:
    kind: str  # "trees" or "mlp"
    mean: np.ndarray
    scale: np.ndarray
    cast_float32: bool = False
    base: float = 0.0
    roots: list[int] | None = None
    feature: list[int] | None = None
    threshold: list[float] | None = None
    left: list[int] | None = None
    right: list[int] | None = None
    value: list[float] | None = None
    layers: list[tuple[np.ndarray, np.ndarray]] | None = None
    activation: str = "relu"
    value_scale: float = 1.0
    depth: int = 0


def tables_of(pipeline) -> Tables:
    """The numbers that define ``pipeline``'s probability, flattened for emission."""
    scaler, model = pipeline.named_steps["scaler"], pipeline.named_steps["model"]
    mean = scaler.mean_ if scaler.with_mean else np.zeros(3)
    scale = scaler.scale_ if scaler.with_std else np.ones(3)
    name = type(model).__name__
    t = Tables("trees", np.asarray(mean, float), np.asarray(scale, float))
    t.roots, t.feature, t.threshold, t.left, t.right, t.value = [], [], [], [], [], []
    if name == "GradientBoostingClassifier":
        if model.n_classes_ != 2:
            raise ValueError("native export supports a binary gate only")
        t.cast_float32 = True
        t.base = float(model._raw_predict_init(np.zeros((1, 3)))[0, 0])
        lr = float(model.learning_rate)
        for est in np.ravel(model.estimators_):
            tree = est.tree_
            off = len(t.feature)
            t.roots.append(off)
            for i in range(tree.node_count):
                leaf = tree.children_left[i] < 0
                t.feature.append(0 if leaf else int(tree.feature[i]))
                t.threshold.append(_LEAF if leaf else float(tree.threshold[i]))
                t.left.append(off + i if leaf else off + int(tree.children_left[i]))
                t.right.append(off + i if leaf else off + int(tree.children_right[i]))
                # scikit-learn adds learning_rate * leaf value per stage: keep both factors.
                t.value.append(float(tree.value[i].ravel()[0]) if leaf else 0.0)
        t.value_scale = lr
        t.depth = _max_depth(t)
        return t
    if name == "HistGradientBoostingClassifier":
        t.base = float(np.ravel(model._baseline_prediction)[0])
        for predictors in model._predictors:
            nodes = predictors[0].nodes
            off = len(t.feature)
            t.roots.append(off)
            for node in nodes:
                i = len(t.feature) - off
                leaf = bool(node["is_leaf"])
                t.feature.append(0 if leaf else int(node["feature_idx"]))
                t.threshold.append(_LEAF if leaf else float(node["num_threshold"]))
                t.left.append(off + i if leaf else off + int(node["left"]))
                t.right.append(off + i if leaf else off + int(node["right"]))
                t.value.append(float(node["value"]) if leaf else 0.0)
        t.value_scale = 1.0
        t.depth = _max_depth(t)
        return t
    if name == "MLPClassifier":
        if model.out_activation_ != "logistic":
            raise ValueError(f"native export: MLP output {model.out_activation_} is not logistic")
        if model.activation not in ("relu", "tanh", "logistic", "identity"):
            raise ValueError(f"native export: activation {model.activation} not supported")
        return Tables(
            "mlp",
            t.mean,
            t.scale,
            layers=[
                (np.asarray(w), np.asarray(b))
                for w, b in zip(model.coefs_, model.intercepts_, strict=True)
            ],
            activation=model.activation,
        )
    raise ValueError(f"native export: {name} is not supported (gbc, hist_gbc or mlp)")


#: A leaf is a node that sends every finite input back to itself: ``x <= DBL_MAX``, left = self.
#: So every tree takes the same number of steps, with no leaf test in the loop: the compiler
#: turns each step into a conditional move and the CPU overlaps consecutive trees.
_LEAF = float(np.finfo(np.float64).max)


def _max_depth(t: Tables) -> int:
    best = 0
    for root in t.roots:
        stack = [(root, 0)]
        while stack:
            i, d = stack.pop()
            if t.left[i] == i:
                best = max(best, d)
                continue
            stack += [(t.left[i], d + 1), (t.right[i], d + 1)]
    return best


def _nodes(t: Tables, per_line: int = 4, pair: str = "") -> str:
    items = [
        f"{{{_num(thr)}, {pair}{{{left}, {right}}}, {feat}}}"
        for thr, left, right, feat in zip(t.threshold, t.left, t.right, t.feature, strict=True)
    ]
    return ",\n    ".join(
        ", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)
    )


def _num(x: float) -> str:
    return repr(float(x)) if np.isfinite(x) else "0.0"


def _list(values, fmt=_num, per_line: int = 8) -> str:
    items = [fmt(v) for v in values]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n    ".join(lines)


def _header(version: str, lang: str) -> str:
    c = "//"
    return (
        f"{c} trademl onnx_gate {version}: generated by `trademl gate export --lang {lang}`.\n"
        f"{c} approve_proba(tick_ratio, depth_ratio, price_dist) = P(the trade reverts), as the\n"
        f"{c} scikit-learn pipeline computes it (parity 1e-9). No dependencies; do not edit.\n"
        f"{c} Build without -ffast-math: the float32 rounding and summation order are the model.\n"
    )


def emit_c(pipeline, version: str = "unversioned") -> str:
    """C99 source defining ``double approve_proba(double, double, double)``."""
    t = tables_of(pipeline)
    out = [_header(version, "c"), "#include <math.h>\n"]
    out.append(f"static const double GATE_MEAN[3] = {{{_list(t.mean)}}};")
    out.append(f"static const double GATE_SCALE[3] = {{{_list(t.scale)}}};")
    if t.kind == "trees":
        n, r = len(t.feature), len(t.roots)
        out += [
            "struct gate_node { double threshold; int child[2]; int feature; };",
            f"static const int GATE_ROOT[{r}] = {{\n    {_list(t.roots, str, 16)}}};",
            f"static const struct gate_node GATE_NODE[{n}] = {{\n    {_nodes(t)}}};",
            f"static const double GATE_VALUE[{n}] = {{\n    {_list(t.value)}}};",
            "",
            "double approve_proba(double tick_ratio, double depth_ratio, double price_dist) {",
            "    const double raw_x[3] = {tick_ratio, depth_ratio, price_dist};",
            "    double x[3];",
            "    for (int j = 0; j < 3; j++) {",
            "        double s = (raw_x[j] - GATE_MEAN[j]) / GATE_SCALE[j];",
            "        x[j] = (double)(float)s;" if t.cast_float32 else "        x[j] = s;",
            "    }",
            # Depth outer, trees inner: the trees' steps are independent, so they overlap.
            f"    int at[{r}];",
            f"    for (int k = 0; k < {r}; k++) at[k] = GATE_ROOT[k];",
            f"    for (int d = 0; d < {t.depth}; d++) {{",
            f"        for (int k = 0; k < {r}; k++) {{",
            "            const struct gate_node *node = &GATE_NODE[at[k]];",
            # Indexing by the comparison keeps the step branch-free (no mispredictions).
            "            at[k] = node->child[x[node->feature] > node->threshold];",
            "        }",
            "    }",
            f"    double raw = {_num(t.base)};",
            f"    for (int k = 0; k < {r}; k++) {{",
            f"        raw += {_num(t.value_scale)} * GATE_VALUE[at[k]];"
            if t.value_scale != 1.0
            else "        raw += GATE_VALUE[at[k]];",
            "    }",
            "    return 1.0 / (1.0 + exp(-raw));",
            "}",
        ]
        return "\n".join(out) + "\n"
    body = [
        "double approve_proba(double tick_ratio, double depth_ratio, double price_dist) {",
        "    const double raw_x[3] = {tick_ratio, depth_ratio, price_dist};",
        "    double a0[3];",
        "    for (int j = 0; j < 3; j++) a0[j] = (raw_x[j] - GATE_MEAN[j]) / GATE_SCALE[j];",
    ]
    prev = "a0"
    for k, (w, b) in enumerate(t.layers):
        n_in, n_out = w.shape
        out.append(f"static const double GATE_W{k}[{n_in * n_out}] = {{\n    {_list(w.ravel())}}};")
        out.append(f"static const double GATE_B{k}[{n_out}] = {{\n    {_list(b)}}};")
        last = k == len(t.layers) - 1
        body += [
            f"    double a{k + 1}[{n_out}];",
            f"    for (int o = 0; o < {n_out}; o++) {{",
            "        double s = 0.0;",
            f"        for (int i = 0; i < {n_in}; i++) s += {prev}[i] * GATE_W{k}[i * {n_out} + o];",
            f"        s += GATE_B{k}[o];",
            f"        a{k + 1}[o] = {'s' if last else _c_act(t.activation, 's')};",
            "    }",
        ]
        prev = f"a{k + 1}"
    body += [f"    return 1.0 / (1.0 + exp(-{prev}[0]));", "}"]
    return "\n".join(out + [""] + body) + "\n"


def _c_act(name: str, v: str) -> str:
    return {
        "relu": f"({v} > 0.0 ? {v} : 0.0)",
        "tanh": f"tanh({v})",
        "logistic": f"1.0 / (1.0 + exp(-{v}))",
        "identity": v,
    }[name]


def _go_act(name: str, v: str) -> str:
    return {
        "relu": f"math.Max({v}, 0)",
        "tanh": f"math.Tanh({v})",
        "logistic": f"1.0 / (1.0 + math.Exp(-{v}))",
        "identity": v,
    }[name]


def emit_go(pipeline, version: str = "unversioned", package: str = "gate") -> str:
    """Go source (package ``package``) defining ``func ApproveProba(float64, float64, float64) float64``."""
    t = tables_of(pipeline)
    out = [_header(version, "go").replace("approve_proba", "ApproveProba"), f"package {package}\n"]
    out.append('import "math"\n')
    out.append(f"var gateMean = [3]float64{{{_list(t.mean)}}}")
    out.append(f"var gateScale = [3]float64{{{_list(t.scale)}}}")
    sig = "func ApproveProba(tickRatio, depthRatio, priceDist float64) float64 {"
    if t.kind == "trees":
        n = len(t.feature)
        out += [
            "type gateNode struct {\n\tthreshold float64\n\tchild     [2]int32\n\tfeature   int32\n}\n",
            f"var gateRoot = []int32{{\n    {_list(t.roots, str, 16)},\n}}",
            f"var gateNodes = [{n}]gateNode{{\n    {_nodes(t, 3, '[2]int32')},\n}}",
            f"var gateValue = [{n}]float64{{\n    {_list(t.value)},\n}}",
            "",
            "// ApproveProba is approve_proba: P(the trade reverts) for one feature row.",
            sig,
            "\traw := [3]float64{tickRatio, depthRatio, priceDist}",
            "\tvar x [3]float64",
            "\tfor j := 0; j < 3; j++ {",
            "\t\ts := (raw[j] - gateMean[j]) / gateScale[j]",
            "\t\tx[j] = float64(float32(s))" if t.cast_float32 else "\t\tx[j] = s",
            "\t}",
            f"\tvar at [{len(t.roots)}]int32",
            "\tcopy(at[:], gateRoot)",
            f"\tfor d := 0; d < {t.depth}; d++ {{",
            "\t\tfor k := range at {",
            "\t\t\tnode := &gateNodes[at[k]]",
            "\t\t\tright := 0",
            "\t\t\tif x[node.feature] > node.threshold {",
            "\t\t\t\tright = 1",
            "\t\t\t}",
            "\t\t\tat[k] = node.child[right]",
            "\t\t}",
            "\t}",
            f"\tsum := {_num(t.base)}",
            "\tfor _, i := range at {",
            # A separate product keeps Go from fusing it into an FMA (scikit-learn rounds twice).
            f"\t\tstep := float64({_num(t.value_scale)} * gateValue[i])",
            "\t\tsum += step",
            "\t}",
            "\treturn 1.0 / (1.0 + math.Exp(-sum))",
            "}",
        ]
        return "\n".join(out) + "\n"
    body = [
        "// ApproveProba is approve_proba: P(the trade reverts) for one feature row.",
        sig,
        "\traw := [3]float64{tickRatio, depthRatio, priceDist}",
        "\ta0 := make([]float64, 3)",
        "\tfor j := 0; j < 3; j++ {",
        "\t\ta0[j] = (raw[j] - gateMean[j]) / gateScale[j]",
        "\t}",
    ]
    prev = "a0"
    for k, (w, b) in enumerate(t.layers):
        n_in, n_out = w.shape
        out.append(f"var gateW{k} = []float64{{\n    {_list(w.ravel())},\n}}")
        out.append(f"var gateB{k} = []float64{{\n    {_list(b)},\n}}")
        last = k == len(t.layers) - 1
        body += [
            f"\ta{k + 1} := make([]float64, {n_out})",
            f"\tfor o := 0; o < {n_out}; o++ {{",
            "\t\ts := 0.0",
            f"\t\tfor i := 0; i < {n_in}; i++ {{",
            f"\t\t\tp := float64({prev}[i] * gateW{k}[i*{n_out}+o])",
            "\t\t\ts += p",
            "\t\t}",
            f"\t\ts += gateB{k}[o]",
            f"\t\ta{k + 1}[o] = {'s' if last else _go_act(t.activation, 's')}",
            "\t}",
        ]
        prev = f"a{k + 1}"
    body += [f"\treturn 1.0 / (1.0 + math.Exp(-{prev}[0]))", "}"]
    return "\n".join(out + [""] + body) + "\n"


def write_export(pipeline, lang: str, out_dir: str | Path, version: str) -> Path:
    """Write ``gate.c`` (+ ``gate.h``) or ``gate.go`` under ``out_dir``; returns the source path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if lang == "c":
        (out / "gate.h").write_text(
            "#ifndef TRADEML_GATE_H\n#define TRADEML_GATE_H\n"
            f"/* trademl onnx_gate {version}; inputs in this order: {', '.join(FEATURES)} */\n"
            "double approve_proba(double tick_ratio, double depth_ratio, double price_dist);\n"
            "#endif\n"
        )
        path = out / "gate.c"
        path.write_text(emit_c(pipeline, version))
        return path
    if lang == "go":
        path = out / "gate.go"
        path.write_text(emit_go(pipeline, version))
        return path
    raise ValueError(f"--lang {lang!r}: choose c or go")
