"""`make demo`: materialize the whole asset graph on the embedded instance and print the headlines.

Runs land in $DAGSTER_HOME like any other run, so `make ui` shows them afterwards.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd

from trademl.errors import TradeMLError
from trademl.ingest.inbox import days_in_files
from trademl.signals.datasets import text_key
from trademl.signals.evaluation import load_gold, score_signals
from trademl.signals.extractors import get_extractor
from trademl_jobs.definitions import defs
from trademl_resources import trademl_home

#: Console logs at INFO: warnings and per-epoch training lines; step-level events stay in the UI.
RUN_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def _partitions_with_data() -> list[str]:
    sources = defs.resources["message_sources"].sources()
    return sorted(days_in_files((k, p) for k, paths in sources.files().items() for p in paths))


def run_demo() -> int:
    instance = dg.DagsterInstance.get()
    home = trademl_home()
    started = time.monotonic()
    days = _partitions_with_data()
    ingest = defs.resolve_job_def("ingest_job")
    for day in days:
        t0 = time.monotonic()
        result = ingest.execute_in_process(
            instance=instance, partition_key=day, raise_on_error=False, run_config=RUN_LOGS
        )
        print(
            f"ingest_job {day}: {'ok' if result.success else 'FAILED'} ({time.monotonic() - t0:.1f} s)"
        )
        if not result.success:
            return 1
    job_seconds = {}
    for job_name in (
        "datasets_job",
        "retrain_job",
        "gate_retrain_job",
        "sentiment_retrain_job",
        "sentiment_monitoring_job",
        "vision_retrain_job",
    ):
        t0 = time.monotonic()
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, raise_on_error=False, run_config=RUN_LOGS
        )
        job_seconds[job_name] = time.monotonic() - t0
        print(f"{job_name}: {'ok' if result.success else 'FAILED'} ({job_seconds[job_name]:.1f} s)")
        if not result.success:
            return 1

    # Drift of every day against the gate's training data (the last demo day is another regime).
    t0 = time.monotonic()
    monitoring = defs.resolve_job_def("monitoring_job")
    for day in days:
        result = monitoring.execute_in_process(
            instance=instance, partition_key=day, raise_on_error=False, run_config=RUN_LOGS
        )
        if not result.success:
            print(f"monitoring_job {day}: FAILED")
            return 1
    job_seconds["monitoring_job"] = time.monotonic() - t0
    print(f"monitoring_job: ok, {len(days)} days ({job_seconds['monitoring_job']:.1f} s)")
    t0 = time.monotonic()
    result = defs.resolve_job_def("trade_labels_job").execute_in_process(
        instance=instance, raise_on_error=False, run_config=RUN_LOGS
    )
    job_seconds["trade_labels_job"] = time.monotonic() - t0
    print(
        f"trade_labels_job: {'ok' if result.success else 'FAILED'} ({job_seconds['trade_labels_job']:.1f} s)"
    )
    if not result.success:
        return 1

    print_headlines(home, instance.root_directory, time.monotonic() - started)
    print_signal_training(instance)
    print_gold_headlines()
    print_gate_headlines(instance, job_seconds["gate_retrain_job"])
    print_drift_and_trade_labels(instance, days)
    print_sentiment_headlines(
        instance, job_seconds["sentiment_retrain_job"] + job_seconds["sentiment_monitoring_job"]
    )
    print_vision_headlines(instance, job_seconds["vision_retrain_job"])
    print("\nsee it in the UI: make ui  (http://127.0.0.1:3000)")
    return 0


def print_headlines(home: Path, runs_dir: str, seconds: float) -> None:
    """Where everything is, and how the deployed models and the rules score on held-out messages."""
    lake, inbox = home / "lake", home / "demo_data"
    print(f"\nwhole graph materialized in {seconds:.0f} s; runs are in {runs_dir}")
    print(f"lake:      {lake.resolve()}")
    print(f"exports:   {(lake / 'exports').resolve()}")
    print(f"quarantine:{(lake / 'quarantine').resolve()}")
    print(f"models:    {(lake / 'models').resolve()}  (trademl models list)")
    print(f"reports:   {(lake / 'reports').resolve()}")
    queue = lake / "labels" / "review_queue.jsonl"
    if queue.exists():
        n = sum(1 for _ in queue.open(encoding="utf-8"))
        print(
            f"to label:  {queue.resolve()}  ({n} messages where parser and model disagree or the model is unsure)"
        )
    # Score on the held-out test split only: the models trained on the rest of the answer file.
    exported = pd.read_csv(lake / "exports" / "classification_data.csv", keep_default_na=False)
    held_out = {text_key(t) for t in exported.loc[exported["split"] == "test", "text"]}
    gold = [g for g in load_gold(inbox / "answers.jsonl") if text_key(g["text"]) in held_out]
    for kind in ("rules", "model", "auto"):
        try:
            extractor = get_extractor(kind)
        except TradeMLError as exc:
            print(f"{kind:>6}: {exc}")
            continue
        m = score_signals(gold, extractor.predict([g["text"] for g in gold]))
        print(
            f"{kind:>6} on the held-out demo test split ({m['n']} messages): "
            f"accuracy {m['classification']['accuracy']:.3f}, macro-F1 {m['classification']['macro_f1']:.3f}, "
            f"field micro-F1 {m['extraction']['micro_f1']:.3f}  [{extractor.name}]"
        )


#: Gold files the demo scores the deployed models on, beyond its own test split: the desk's gold set
#: ($TRADEML_GOLD, which the Makefile points at tests/data/channel_styles.jsonl) and, when the
#: checkout has it beside it, the shared file of real channel messages (measurement only).
REAL_SIGNALS = Path(__file__).resolve().parents[1].parent / "shared/data/real_signals/signals.jsonl"
GOAL_MODEL_MACRO_F1 = 0.85


def gold_files() -> list[Path]:
    import os

    from trademl.signals.model_reports import split_gold_paths

    named = [Path(p) for p in split_gold_paths(os.environ.get("TRADEML_GOLD"))]
    default = Path(__file__).resolve().parents[1] / "tests/data/channel_styles.jsonl"
    files = named or ([default] if default.exists() else [])
    if REAL_SIGNALS.exists() and REAL_SIGNALS not in files:
        files.append(REAL_SIGNALS)
    return files


def print_gold_headlines() -> None:
    """Each mode on each gold file: the classifier alone must reach the goal macro-F1, and auto
    must be at least as good as the rules (issue 9's measure; macro over the file's classes)."""
    extractors = {}
    for kind in ("rules", "model", "auto"):
        try:
            extractors[kind] = get_extractor(kind)
        except TradeMLError as exc:
            print(f"{kind:>6}: {exc}")
    for path in gold_files():
        gold = [g for g in load_gold(path) if g.get("label")]
        scores = {}
        for kind, extractor in extractors.items():
            m = score_signals(gold, extractor.predict([g["text"] for g in gold]))
            scores[kind] = m["classification"]["macro_f1"]
            print(
                f"{kind:>6} on {path.name} ({m['classification']['n']} messages): "
                f"accuracy {m['classification']['accuracy']:.3f}, macro-F1 {scores[kind]:.3f}, "
                f"field micro-F1 {m['extraction']['micro_f1']:.3f}"
            )
        if "model" in scores and "rules" in scores and "auto" in scores:
            ok_model = scores["model"] >= GOAL_MODEL_MACRO_F1
            ok_auto = scores["auto"] >= scores["rules"]
            print(
                f"  goal on {path.name}: model alone >= {GOAL_MODEL_MACRO_F1}: "
                f"{'met' if ok_model else 'NOT met'}; auto >= rules: {'met' if ok_auto else 'NOT met'}"
            )


def print_signal_training(instance: dg.DagsterInstance) -> None:
    """The signal models' share of the demo budget (issue 9: at most 6 minutes on 2 cores)."""
    c = _metadata(instance, "signal_classifier")
    n = _metadata(instance, "ner_extractor")
    if c and n:
        total = c["train_seconds"] + n["train_seconds"]
        print(
            f"\nsignal models trained in {total:.0f} s (classifier {c['train_seconds']:.0f} s on "
            f"{c['n_train']:,} messages, {c.get('n_augmented', 0):,} of them counterfactual "
            f"rewrites, best epoch {c['best_epoch']}; NER {n['train_seconds']:.0f} s, best epoch "
            f"{n['best_epoch']})"
        )


def print_gate_headlines(instance: dg.DagsterInstance, job_seconds: float) -> None:
    """The trade gate's figures on its held-out (latest 20 %) test period, from its report."""
    event = instance.get_latest_materialization_event(dg.AssetKey("gate_eval_report"))
    trained = instance.get_latest_materialization_event(dg.AssetKey("onnx_gate"))
    if event is None or trained is None:
        print("gate: no evaluation report materialized")
        return
    m = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    t = {k: v.value for k, v in trained.asset_materialization.metadata.items()}
    verdict = (
        "learned nothing measurable (interval covers 0.5)"
        if m["learned_nothing"]
        else "better than chance"
    )
    print(
        f"\ngate {m['version']}: AUC {m['auc']:.3f} [{m['auc_low']:.3f}, {m['auc_high']:.3f}] ({verdict}), "
        f"F1@0.65 {m['f1']:.3f}, approval rate {m['approval_rate']:.3f}, purged-CV AUC {m['cv_auc']:.3f}; "
        f"trained in {t['train_seconds']:.1f} s (gate_retrain_job {job_seconds:.0f} s)"
    )
    print(
        f"  highest probability {m['max_proba']:.3f}; best F1 at any threshold "
        f"{m['best_f1_on_test']:.3f} at {m['best_f1_threshold']:.3f} (diagnostic, picked on test)"
    )
    bt = m["backtest"]
    for name in ("gated", "ungated", "heuristic"):
        s = bt[name]
        print(
            f"  backtest {name:>9}: {s['trades']:5d} trades, win rate {s['win_rate']:.3f}, "
            f"profit factor {s['profit_factor'] or float('nan'):.2f}, Sharpe {s['sharpe']:.2f}, "
            f"max drawdown {s['max_drawdown']:.4f}"
        )
    dsr = m.get("deflated_sharpe")
    print(
        f"  deflated Sharpe (for {t['n_candidates']} settings tried): {'n/a' if dsr is None else f'{dsr:.3f}'}"
    )
    print("  serve it: trademl gate serve   export it: trademl gate export --lang go")


def _metadata(instance: dg.DagsterInstance, key: str, partition: str | None = None) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(key), asset_partitions=[partition] if partition else None
        ),
        limit=1,
    ).records
    if not records:
        return {}
    mat = records[0].asset_materialization
    return {k: v.value for k, v in mat.metadata.items()}


def print_drift_and_trade_labels(instance: dg.DagsterInstance, days: list[str]) -> None:
    """drift_score per day (above 1: beyond the reference's own noise) and the trade-label model."""
    scores = []
    for day in days:
        m = _metadata(instance, "drift_report", day)
        score = m.get("drift_score")
        scores.append(f"{day} {score:.2f}" if isinstance(score, int | float) else f"{day} n/a")
    print("\ndrift_score by day (> 1 requests a gate retrain): " + ", ".join(scores))
    t = _metadata(instance, "trade_label_model")
    labels = _metadata(instance, "ai_trade_labels")
    if t:
        print(
            f"trade_label_model on {t['n_test']} later points ({t['label_source']} labels, "
            f"{labels.get('labels', '?')} points): macro-F1 vs realised {t['macro_f1_vs_realised']:.3f}, "
            f"P&L {t['pnl_atr_per_trade']:+.2f} ATR a trade (last-move baseline "
            f"{t['naive_last_move_pnl_atr_per_trade']:+.2f}); beats both baselines: "
            f"{bool(t['beats_naive_next_close'] and t['beats_naive_last_move'])}"
        )


def print_sentiment_headlines(instance: dg.DagsterInstance, job_seconds: float) -> None:
    """VADER alone, SetFit alone and the ensemble on the held-out posts (issue 10's measure: the
    ensemble must beat both on macro-F1), the INT8 parity, the queue and the drift check."""
    r = _metadata(instance, "sentiment_eval_report")
    m = _metadata(instance, "sentiment_model")
    o = _metadata(instance, "sentiment_model_onnx")
    q = _metadata(instance, "active_learning_queue")
    d = _metadata(instance, "sentiment_drift")
    if not r:
        print("\nsentiment: no evaluation report")
        return
    print(
        f"\nsentiment on {r['n_test']} held-out posts (macro-F1): VADER {r['vader_macro_f1']:.3f}, "
        f"SetFit {r['setfit_macro_f1']:.3f}, ensemble {r['ensemble_macro_f1']:.3f} "
        f"(beats both: {r['ensemble_beats_both']}; routing {r['routing']}; served "
        f"{r['served_form']})"
    )
    print(
        f"  trained in {m.get('train_seconds', 0):.0f} s on {m.get('n_train')} posts; INT8 agrees "
        f"with torch on {o.get('int8_agreement')} of {o.get('parity_n')} test posts; "
        f"{m.get('pseudo_labels_written')} pseudo-labels (accuracy on labelled posts at the same "
        f"threshold {m.get('pseudo_label_accuracy_on_labelled')}); sentiment jobs {job_seconds:.0f} s"
    )
    print(
        f"  active learning: {q.get('queued')} posts queued from {q.get('pool')} unlabelled "
        f"({q.get('clusters')} clusters); ADWIN on {d.get('n')} newly labelled posts: drift "
        f"{d.get('drift_detected')} (error rate {d.get('error_rate')})"
    )
    print('  ask it: trademl sentiment "BTC to the moon, loading more"')


def print_vision_headlines(instance: dg.DagsterInstance, job_seconds: float) -> None:
    """The meme adapter's held-out accuracy next to the caption-only baseline and the majority
    class (issue 11's measure), the fusion, and how the adapter was trained."""
    a = _metadata(instance, "llava_meme_adapter")
    r = _metadata(instance, "llava_meme_adapter_eval_report")
    f = _metadata(instance, "meme_sentiment")
    if not a:
        print("\nmemes: no adapter")
        return
    print(
        f"\nmeme adapter on {a['n_test']} held-out imaged posts (accuracy): adapter "
        f"{a['heldout_accuracy']}, caption-only baseline {a['caption_only_accuracy']}, majority "
        f"{a['majority_accuracy']} (beats both: {a['beats_caption_only_and_majority']})"
    )
    if r:
        print(
            f"  macro-F1: adapter {r.get('adapter_macro_f1')}, fusion {r.get('fusion_macro_f1')}, "
            f"text model on the caption {r.get('text_model_macro_f1')}; sarcasm precision "
            f"{r.get('sarcasm_precision')} recall {r.get('sarcasm_recall')} "
            f"({r.get('sarcasm_known')} posts with a known flag)"
        )
    print(
        f"  {a['mode']} on {a['base']} ({a['device']}): {a['steps']} steps in "
        f"{a['train_seconds']:.1f} s, {a['trainable_params']:,} trainable parameters, peak "
        f"{a['peak_memory_mb']:.0f} MB; meme_sentiment: {f.get('posts')} posts, "
        f"{f.get('with_image')} with an image, {f.get('sarcastic')} flagged sarcastic; vision job "
        f"{job_seconds:.0f} s"
    )
    print('  ask it: trademl meme var/demo_data/memes/<file>.png --text "to the moon"')


if __name__ == "__main__":
    sys.exit(run_demo())
