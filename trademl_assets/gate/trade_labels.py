"""ai_trade_labels (LLM or triple-barrier labels of sampled candle points) and trade_label_model."""

import json
from dataclasses import asdict

import dagster as dg
import pandas as pd

from trademl.gate.ai_labels import SampleSettings, label_points
from trademl.gate.trade_labels import train_trade_label_model, write_report
from trademl.lake import Lake, atomic_path, atomic_write_text, read_parquet
from trademl_resources import LakeResource, LLMResource, ModelRegistryResource

LABELS_PATH = ("labels", "ai_trade_labels.parquet")
#: The sampling settings the labels were made with: trade_label_model scores with the same ones.
SETTINGS_PATH = ("labels", "ai_trade_labels.settings.json")


class TradeLabelsConfig(dg.Config):
    """Which candle points are labelled, and the barrier that labels them without an LLM."""

    points: int = 200
    days: int = 7  # newest candle partitions read
    lookback: int = 60
    horizon: int = 60
    vol_share: float = 0.5
    barrier_atr: float = 4.0
    prompt_candles: int = 20
    validation_retries: int = 2
    seed: int = 0

    def settings(self) -> SampleSettings:
        fields = ("points", "lookback", "horizon", "vol_share", "barrier_atr", "prompt_candles")
        extra = {"validation_retries": self.validation_retries, "seed": self.seed}
        return SampleSettings(**{f: getattr(self, f) for f in fields}, **extra)


def read_candles(lake: Lake, days: int) -> pd.DataFrame:
    parts = lake.partitions("raw", "candles")[-days:]
    if not parts:
        raise dg.Failure(
            f"no candles partitions under {lake.root / 'raw' / 'candles'}; ingest first"
        )
    return pd.concat([read_parquet(lake.raw("candles", p)) for p in parts], ignore_index=True)


def _endpoint(llm: LLMResource):
    if not llm.base_url:
        return None
    from trademl.llm.client import LLMEndpoint

    return LLMEndpoint(
        base_url=llm.base_url,
        model=llm.model,
        api_key_env=llm.api_key_env,
        timeout_s=llm.timeout_s,
        max_concurrency=llm.max_concurrency,
        max_retries=llm.max_retries,
        price_in_per_1k=llm.price_in_per_1k,
        price_out_per_1k=llm.price_out_per_1k,
    )


@dg.asset(group_name="gate", deps=["candles"], kinds={"parquet"})
def ai_trade_labels(
    context: dg.AssetExecutionContext,
    config: TradeLabelsConfig,
    lake: LakeResource,
    llm: LLMResource,
) -> dg.MaterializeResult:
    """Sampled candle points with target, stop_loss, confidence, recommendation and bias: from the
    LLM (validated, cached, costed) or, without one, the triple barrier on the realised path."""
    store = lake.lake()
    endpoint = _endpoint(llm)
    run = label_points(
        read_candles(store, config.days), config.settings(), endpoint, store.root / "cache" / "llm"
    )
    path = store.root.joinpath(*LABELS_PATH)
    with atomic_path(path) as tmp:
        run.labels.to_parquet(tmp, index=False)
    settings = {**asdict(config.settings()), "days": config.days}
    atomic_write_text(store.root.joinpath(*SETTINGS_PATH), json.dumps(settings, indent=2))
    quarantine = store.root / "quarantine" / "ai_trade_labels" / "invalid.jsonl"
    atomic_write_text(quarantine, "".join(json.dumps(r, default=str) + "\n" for r in run.invalid))
    if endpoint is None:
        context.log.info("no LLM endpoint configured (TRADEML_LLM_BASE_URL): triple-barrier labels")
    if run.invalid:
        context.log.warning(
            f"ai_trade_labels: {len(run.invalid)} of {run.stats['points']} answers invalid after "
            f"retries; kept aside in {quarantine}"
        )
    counts = run.labels["recommendation"].value_counts().to_dict()
    return dg.MaterializeResult(
        metadata={
            **{k: v for k, v in run.stats.items() if isinstance(v, int | float | str)},
            "labels": len(run.labels),
            "per_recommendation": {k: int(v) for k, v in counts.items()},
            "path": dg.MetadataValue.path(str(path)),
            "quarantine_path": dg.MetadataValue.path(str(quarantine)),
            "dagster/row_count": len(run.labels),
        }
    )


class TradeLabelModelConfig(dg.Config):
    """The chronological held-out share and the forests' seed (sampling settings come from the
    labels' own settings file, so the model is scored on the horizon and barrier they used)."""

    test_fraction: float = 0.3
    seed: int = 0


@dg.asset(group_name="gate", deps=["ai_trade_labels", "candles"], kinds={"scikit-learn"})
def trade_label_model(
    context: dg.AssetExecutionContext,
    config: TradeLabelModelConfig,
    lake: LakeResource,
    registry: ModelRegistryResource,
) -> dg.MaterializeResult:
    """A recommendation model (and target/stop in ATRs) trained on ai_trade_labels, scored on the
    realised path next to the naive next-close baseline; a registry version with its report."""
    import tempfile
    from pathlib import Path

    import joblib

    store = lake.lake()
    labels = read_parquet(store.root.joinpath(*LABELS_PATH))
    used = json.loads(store.root.joinpath(*SETTINGS_PATH).read_text())
    days = used.pop("days")
    model = train_trade_label_model(
        labels,
        read_candles(store, days),
        SampleSettings(**used),
        test_fraction=config.test_fraction,
        seed=config.seed,
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        joblib.dump(
            {
                "classifier": model.classifier,
                "target_atr": model.target_atr,
                "stop_atr": model.stop_atr,
            },
            folder / "model.joblib",
        )
        (folder / "metrics.json").write_text(json.dumps(model.metrics, indent=2))
        version = registry.registry().register(
            "trade_label_model",
            folder,
            {"metrics": model.metrics, "dagster_run_id": context.run.run_id},
        )
    markdown, png = write_report(store.reports("trade_label_model"), version, model)
    m = model.metrics
    return dg.MaterializeResult(
        metadata={
            "version": version,
            "label_source": m["label_source"],
            "n_train": m["n_train"],
            "n_test": m["n_test"],
            "macro_f1_vs_realised": m["model"]["macro_f1_vs_realised"],
            "accuracy_vs_realised": m["model"]["accuracy_vs_realised"],
            "pnl_atr_per_trade": m["model"]["pnl_atr_per_trade"],
            "naive_next_close_accuracy": m["naive_next_close"]["accuracy_vs_realised"],
            "naive_last_move_pnl_atr_per_trade": m["naive_last_move"]["pnl_atr_per_trade"],
            "beats_naive_next_close": m["beats_naive_next_close"],
            "beats_naive_last_move": m["beats_naive_last_move"],
            "metrics": m,
            "report": dg.MetadataValue.md(markdown),
            "confusion_png": dg.MetadataValue.path(str(png)),
        }
    )
