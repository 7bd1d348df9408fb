"""The NER extractor as ONNX: fp32, and INT8 where it agrees with torch, for torch-free serving."""

import shutil
from pathlib import Path

import dagster as dg

from trademl.models.ner import _replace_dir
from trademl.models.ner_onnx import MIN_ENTITY_AGREEMENT, build_ner_onnx
from trademl.signals.ner_rows import load_ner_rows
from trademl_resources import LakeResource

#: Below this many held-out messages a handful of near-tie flips would decide the INT8 gate, so the
#: parity set is topped up with validation rows (also held out from training); the metadata says so.
MIN_PARITY_MESSAGES = 400


def ner_parity_texts(lake: LakeResource) -> tuple[list[str], str]:
    """The test split of ner_data.jsonl, topped up with validation rows to MIN_PARITY_MESSAGES."""
    rows = load_ner_rows(lake.lake().export("ner_data.jsonl"))
    texts = [r["text"] for r in rows if r.get("split") == "test"]
    if len(texts) >= MIN_PARITY_MESSAGES:
        return texts, "test"
    validation = [r["text"] for r in rows if r.get("split") == "validation"]
    return texts + validation[: MIN_PARITY_MESSAGES - len(texts)], "test+validation"


@dg.asset(group_name="signals", kinds={"onnx"})
def ner_extractor_onnx(
    context: dg.AssetExecutionContext, ner_extractor: dict, lake: LakeResource
) -> dict:
    """The NER extractor as ONNX fp32 + INT8 (dynamic quantization), INT8 kept only where its
    entities agree with torch's on >= 99 % of the held-out messages' entities; `trademl predict`
    serves INT8, else fp32, else torch."""
    version_dir = Path(ner_extractor["path"])
    tmp = version_dir / ".onnx-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    texts, parity_set = ner_parity_texts(lake)
    try:
        result = build_ner_onnx(version_dir / "hf", tmp, texts)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    parity = result.parity
    final = version_dir / "onnx"
    _replace_dir(tmp, final)  # a reader sees the old export or the new one, whole
    if result.served != "onnx-int8":
        context.log.warning(
            f"ner_extractor_onnx: no INT8 scheme reached {MIN_ENTITY_AGREEMENT} entity agreement "
            f"with torch ({result.attempts}); serving fp32"
        )
    context.add_output_metadata(
        {
            "version": ner_extractor["version"],
            "served": result.served,
            "int8_scheme": result.int8_scheme or "none",
            "parity_set": parity_set,
            "parity_n": parity.n,
            "parity_entities": parity.torch_entities,
            "fp32_agreement": parity.fp32_agreement,
            "int8_agreement": parity.int8_agreement if result.int8_scheme else None,
            "int8_attempts": dg.MetadataValue.json(result.attempts),
            "min_entity_agreement": MIN_ENTITY_AGREEMENT,
            "fp32_mb": round(result.fp32_bytes / 2**20, 1),
            "int8_mb": round(result.int8_bytes / 2**20, 1) if result.int8_bytes else None,
            "export_seconds": round(result.seconds, 1),
        }
    )
    return {**ner_extractor, "onnx": str(final), "served": result.served}
