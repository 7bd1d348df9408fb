"""The gate's evaluation report: Markdown under reports/onnx_gate/ with ROC, calibration and importance PNGs."""

from __future__ import annotations

from pathlib import Path

from trademl.charts import bars_png, curves_png
from trademl.lake import Lake, atomic_write_text


def _fmt(v) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def gate_report(
    lake: Lake,
    version: str,
    metrics: dict,
    training: dict,
    importance: dict[str, float],
    champion: dict | None,
    deltas: dict,
) -> tuple[str, dict[str, Path]]:
    """Write ``reports/onnx_gate/<version>.md`` and its PNGs; return (markdown, pngs)."""
    folder = lake.reports("onnx_gate")
    curves = metrics.get("_curves", {})
    fpr, tpr = curves.get("roc", ([], []))
    mean_p, frac = curves.get("calibration", ([], []))
    pngs = {
        "roc": curves_png(
            {"gate": (fpr, tpr), "chance": ([0, 1], [0, 1])},
            folder / f"{version}-roc.png",
            f"onnx_gate ROC (AUC {metrics['auc']:.3f})",
            x_label="false positive rate",
            y_label="true positive rate",
        ),
        "calibration": curves_png(
            {"gate": (mean_p, frac), "perfect": ([0, 1], [0, 1])},
            folder / f"{version}-calibration.png",
            "onnx_gate calibration",
            x_label="predicted probability",
            y_label="observed frequency",
        ),
        "importance": bars_png(
            importance, folder / f"{version}-importance.png", "feature importance"
        ),
    }
    verdict = (
        "**The gate has learned nothing measurable**: the AUC interval covers 0.5."
        if metrics["learned_nothing"]
        else "The AUC interval excludes 0.5: the gate ranks trades better than chance."
    )
    bt = metrics["backtest"]
    lines = [
        f"# onnx_gate {version}",
        "",
        verdict,
        "",
        "| metric | test split | purged CV (train) |",
        "|---|---|---|",
        f"| AUC-ROC | {metrics['auc']:.4f} [{metrics['auc_low']:.4f}, {metrics['auc_high']:.4f}] | "
        f"{training['cv_auc']:.4f} ± {training['cv_auc_std']:.4f} |",
        f"| F1 @ {metrics['threshold']} | {metrics['f1']:.4f} | |",
        f"| precision / recall | {metrics['precision']:.4f} / {metrics['recall']:.4f} | |",
        f"| approval rate | {metrics['approval_rate']:.4f} | |",
        f"| highest probability | {metrics['max_proba']:.4f} | |",
        f"| best F1 at any threshold (diagnostic, picked on test) | "
        f"{metrics['best_f1_on_test']:.4f} at {metrics['best_f1_threshold']:.3f} | |",
        f"| positive ratio | {metrics['positive_ratio']:.4f} | |",
        f"| rows | {metrics['n_test']:,} | {training['n_train']:,} |",
        "",
        f"Best of {training['n_candidates']} grid settings: `{training['best_params']}` "
        f"({training['estimator']}, {training['train_seconds']:.1f} s).",
        "",
        f"## Walk-forward backtest on the test period (cost {bt['cost_bps']} bp a trade)",
        "",
        "| strategy | trades | win rate | profit factor | Sharpe (ann.) | max drawdown | total return |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("gated", "ungated", "heuristic"):
        s = bt[name]
        lines.append(
            f"| {name} | {s['trades']:,} | {s['win_rate']:.3f} | {_fmt(s['profit_factor'])} | "
            f"{s['sharpe']:.2f} | {s['max_drawdown']:.4f} | {s['total_return']:.4f} |"
        )
    dsr = bt["gated"].get("deflated_sharpe")
    lines += [
        "",
        f"Deflated Sharpe ratio of the gated strategy for {bt['n_trials']} settings tried: "
        f"{_fmt(dsr)} (probability that its true Sharpe beats the best of that many lucky tries).",
        "",
        "## Feature importance",
        "",
        *[f"- {k}: {v:.3f}" for k, v in importance.items()],
        "",
        "## Against the champion",
        "",
    ]
    if champion is None:
        lines.append("No champion yet: this is the first gate.")
    else:
        lines.append(
            f"Champion {champion['version']} on the same test rows; deltas (challenger − champion):"
        )
        lines += [f"- {k}: {_fmt(v)}" for k, v in deltas.items()]
    lines += ["", *[f"![{k}]({p.name})" for k, p in pngs.items()], ""]
    markdown = "\n".join(lines)
    atomic_write_text(folder / f"{version}.md", markdown)
    return markdown, pngs
