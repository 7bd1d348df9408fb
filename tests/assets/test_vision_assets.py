"""The vision half of the graph on the demo inbox: meme_dataset (a corrupt image quarantined with
its reason, the rest kept) → llava_meme_adapter (LoRA on CPU, the registry holding the adapter
and never the base) → its report (baselines, adapter, fusion, sarcasm) → champion →
meme_sentiment over every post; a retrain compared against the champion, `trademl models
rollback llava_meme_adapter`, `trademl meme` on the deployed adapter, and the blocking check."""

import json
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from trademl.cli import main
from trademl.registry import ModelRegistry
from trademl.sentiment.labels import SENTIMENT_LABELS
from trademl.vision.evaluation import PROMOTION_KEYS
from trademl.vision.runtime import DeployedMeme
from trademl_assets.vision.reports import llava_meme_adapter_not_worse_than_champion
from trademl_jobs.definitions import build_definitions
from trademl_resources import (
    MarketSourcesResource,
    MessageSourcesResource,
    ModelRegistryResource,
)

pytestmark = pytest.mark.slow

SENTIMENT = {
    "ops": {
        "sentiment_model": {"config": {"max_steps": 16}},
        "sentiment_model_onnx": {"config": {"min_agreement": 0.5, "min_parity_posts": 50}},
        "active_learning_queue": {"config": {"n": 5}},
    }
}


def _meta(result, asset):
    return {
        k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()
    }


def _run(defs, job, instance, **kwargs):
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, raise_on_error=False, **kwargs
    )


def _corrupt_one_labelled_meme(inbox: Path) -> str:
    """Truncate the image of the first rated post that has one; its post id."""
    for line in (inbox / "social" / "posts.jsonl").read_text().splitlines():
        post = json.loads(line)
        if post.get("image") and post.get("rating") in (1, 2, 3):
            path = inbox / post["image"]
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])
            return str(post["post_id"])
    raise AssertionError("no rated post with an image in the demo inbox")


def test_vision_graph_trains_evaluates_serves_rolls_back(demo_inbox, resources, tmp_path, capsys):
    inbox = tmp_path / "inbox"
    shutil.copytree(demo_inbox, inbox)
    broken = _corrupt_one_labelled_meme(inbox)
    resources = {
        **resources,
        "message_sources": MessageSourcesResource(
            inbox=str(inbox), sql_url=f"sqlite:///{inbox}/labeling.sqlite"
        ),
        "market_sources": MarketSourcesResource(root=str(inbox)),
        # two adapters differ by their seed: a wide margin lets the retrain through the blocking
        # check (the check itself is tested on constructed reports below)
        "registry": ModelRegistryResource(root=resources["registry"].root, promotion_margin=1.0),
    }
    defs = build_definitions(resources)
    models = Path(resources["registry"].root)
    lake = Path(resources["lake"].root)
    with dg.instance_for_test() as instance:
        for day in ("2026-11-01", "2026-11-02"):
            assert _run(defs, "ingest_job", instance, partition_key=day).success
        assert _run(defs, "sentiment_retrain_job", instance, run_config=SENTIMENT).success
        first = _run(defs, "vision_retrain_job", instance)
        assert first.success

        data = _meta(first, "meme_dataset")
        assert data["quarantined"] == 1 and data["quarantined_per_reason"] == {"truncated image": 1}
        quarantined = [
            json.loads(x) for x in (lake / "quarantine/meme_images/rejected.jsonl").open()
        ]
        assert [q["post_id"] for q in quarantined] == [broken]
        assert data["items"] > 50 and data["per_split"]["test"] > 0

        adapter = _meta(first, "llava_meme_adapter")
        assert adapter["mode"] == "lora" and adapter["device"] == "cpu"
        assert adapter["base"].startswith("tiny:")
        assert 0 < adapter["trainable_params"] < adapter["total_params"]
        assert adapter["peak_memory_mb"] > 0 and adapter["seconds_per_step"] > 0
        # the three figures side by side, on the same test posts (whether the tiny base beats
        # the caption-only baseline is the open goal of issue 11, not asserted here)
        for key in ("heldout_accuracy", "caption_only_accuracy", "majority_accuracy"):
            assert 0.0 <= adapter[key] <= 1.0, key
        assert adapter["beats_caption_only_and_majority"] == (
            adapter["heldout_accuracy"] > adapter["caption_only_accuracy"]
            and adapter["heldout_accuracy"] > adapter["majority_accuracy"]
        )
        version = adapter["version"]
        stored = models / "llava_meme_adapter" / "versions" / version
        names = {p.relative_to(stored).as_posix() for p in stored.rglob("*") if p.is_file()}
        assert "adapter/adapter_model.safetensors" in names and "fusion.json" in names
        assert not any(
            "tiny_base" in n or n.endswith("model.safetensors") and "adapter/" not in n
            for n in names
        )

        report = _meta(first, "llava_meme_adapter_eval_report")
        for row in ("| caption_only |", "| text_model |", "| adapter |", "| fusion |"):
            assert row in report["report"]
        assert Path(report["adapter_confusion_png"]).is_file()
        assert report["champion"] == "none"
        assert report["fusion_beats_text_model"] == (
            report["fusion_macro_f1"] >= report["text_model_macro_f1"]
        )
        assert ModelRegistry(models).champion("llava_meme_adapter").version == version

        fused = _meta(first, "meme_sentiment")
        table = pd.read_parquet(fused["path"])
        assert len(table) == fused["posts"] and set(table["label"]) <= set(SENTIMENT_LABELS)
        assert fused["images_rejected"] == 1
        row = table.set_index("post_id").loc[broken]
        assert row["image_score"] is None or pd.isna(row["image_score"])
        assert "image rejected (truncated image)" in row["note"]
        plain = table[table["image_score"].isna()]
        assert (plain["note"].str.contains("no image|image rejected")).all()

        # a retrain (another seed) is scored against the champion on the same test split
        second = _run(
            defs,
            "vision_retrain_job",
            instance,
            run_config={
                "ops": {
                    "llava_meme_adapter": {
                        "config": {"seed": 1, "steps": 120, "vision_warmup_steps": 600}
                    }
                }
            },
        )
        assert second.success
        report2 = _meta(second, "llava_meme_adapter_eval_report")
        assert report2["champion"] == version and set(report2["deltas"]) == set(PROMOTION_KEYS)
        second_version = _meta(second, "llava_meme_adapter")["version"]
        assert ModelRegistry(models).champion("llava_meme_adapter").version == second_version

    # served without Dagster, then rolled back
    capsys.readouterr()
    image = next((inbox / "memes").glob("*.png"))
    assert main(["meme", str(image), "--text", "to the moon", "--models", str(models)]) == 0
    captured = capsys.readouterr()
    answer = json.loads(captured.out)
    assert answer["model"] == f"llava_meme_adapter:{second_version}"
    assert answer["base"].startswith("tiny:") and "tiny:" in captured.err
    assert answer["image"]["label"] in SENTIMENT_LABELS
    assert 0.0 <= answer["sarcasm_probability"] <= 1.0
    assert main(["models", "rollback", "llava_meme_adapter", "--models", str(models)]) == 0
    assert ModelRegistry(models).champion("llava_meme_adapter").version == version
    served = DeployedMeme(models)
    assert served.name == f"llava_meme_adapter:{version}"
    again = served.predict([str(image), None], ["to the moon", "no picture here"])
    assert again[0]["image"] is not None and again[1]["image"] is None
    assert "no image" in again[1]["note"]


def _report(deltas, champion="v1"):
    return {"version": "v2", "champion": champion, "deltas": deltas}


@pytest.mark.parametrize(
    ("deltas", "champion", "passed"),
    [
        ({}, None, True),
        ({"adapter.macro_f1": -0.005, "fusion.macro_f1": 0.02}, "v1", True),
        ({"adapter.macro_f1": -0.05, "fusion.macro_f1": 0.0}, "v1", False),
        ({"adapter.macro_f1": 0.01, "fusion.macro_f1": -0.2}, "v1", False),
    ],
)
def test_not_worse_check_blocks_a_worse_adapter(deltas, champion, passed, tmp_path):
    registry = ModelRegistryResource(root=str(tmp_path), promotion_margin=0.01)
    result = llava_meme_adapter_not_worse_than_champion(
        llava_meme_adapter_eval_report=_report(deltas, champion), registry=registry
    )
    assert result.passed is passed
    assert result.severity == dg.AssetCheckSeverity.ERROR
