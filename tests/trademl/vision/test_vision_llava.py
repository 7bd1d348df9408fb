"""The LLaVA meme adapter on the tiny base: QLoRA/LoRA choice, LoRA targets, train -> save ->
reload, what the adapter directory holds, learning from the image, unreadable images."""

from __future__ import annotations

import json
import random
import sys
import types
from pathlib import Path

import pytest

from trademl.errors import InputError
from trademl.sentiment.labels import BEARISH, BULLISH, NEUTRAL, SENTIMENT_LABELS

torch = pytest.importorskip("torch")

from trademl.vision.adapter import (  # noqa: E402
    AdapterConfig,
    _check_targets,
    lora_target_names,
    train_adapter,
)
from trademl.vision.llava import (  # noqa: E402
    LANGUAGE_ATTENTION,
    choose_quantization,
    load_adapter,
    load_base,
)
from trademl.vision.tiny_llava import TinyLlavaSpec, build_tiny_llava, spec_hash  # noqa: E402

# Captions that say nothing about the mood: the answer must come from the image.
_BLAND = ("look at this", "chart of the day", "what do you think", "btc 4h", "gm", "eth daily")
STEPS = 300
_COLOURS = {BULLISH: (30, 170, 60), BEARISH: (200, 40, 40), NEUTRAL: (128, 128, 128)}


def draw_chart(path: Path, label: str, rng: random.Random, size: int = 32) -> Path:
    """A line chart: green and rising (bullish), red and falling (bearish), grey and flat."""
    from PIL import Image, ImageDraw

    shade = rng.randint(0, 40)
    img = Image.new("RGB", (size, size), (shade, shade, shade + 10))
    draw = ImageDraw.Draw(img)
    slope = {BULLISH: -1.0, BEARISH: 1.0, NEUTRAL: 0.0}[label]
    y0 = size / 2 + rng.uniform(-3, 3)
    points = []
    for k in range(8):
        x = k * (size - 1) / 7
        y = y0 + slope * (x - size / 2) * 0.7 + rng.uniform(-2, 2)
        points.append((x, min(max(y, 1), size - 2)))
    draw.line(points, fill=_COLOURS[label], width=2)
    img.save(path)
    return path


def chart_items(folder: Path, n: int, seed: int, sarcasm: bool = True) -> list[dict]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    items = []
    for i in range(n):
        label = SENTIMENT_LABELS[i % 3]
        sarcastic = None if (sarcasm is False or i % 5 == 0) else (i % 7 == 0)
        items.append(
            {
                "image_path": str(draw_chart(folder / f"c{seed}_{i}.png", label, rng)),
                "caption": rng.choice(_BLAND) + (" lol 🚀" if sarcastic else ""),
                "label": label,
                "sarcastic": sarcastic,
            }
        )
    return items


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One CPU training run on synthetic charts, shared by the slow tests."""
    root = tmp_path_factory.mktemp("llava")
    train = chart_items(root / "train", 120, seed=1)
    held_out = chart_items(root / "held_out", 48, seed=2)
    steps: list[dict] = []
    cfg = AdapterConfig(steps=STEPS, batch_size=8, seed=0)
    result = train_adapter(train, root / "run", cfg, progress=steps.append)
    return {"root": root, "result": result, "held_out": held_out, "progress": steps}


def _fake_bnb(monkeypatch, devices, compiled=True):
    lib = types.SimpleNamespace(compiled_with_cuda=compiled)
    fake = types.SimpleNamespace(
        supported_torch_devices=set(devices), cextension=types.SimpleNamespace(lib=lib)
    )
    monkeypatch.setitem(sys.modules, "bitsandbytes", fake)


def test_no_cuda_means_float32_lora(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    q = choose_quantization(AdapterConfig())
    assert q["mode"] == "lora" and q["compute_dtype"] == "float32" and q["device"] == "cpu"
    assert "CUDA is not available" in q["reason"]
    with pytest.raises(RuntimeError, match="qlora"):
        choose_quantization("qlora")


@pytest.mark.parametrize("bf16, dtype", [(True, "bfloat16"), (False, "float16")])
def test_cuda_and_bnb_cuda_means_qlora(monkeypatch, bf16, dtype):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    _fake_bnb(monkeypatch, {"cpu", "cuda"})
    q = choose_quantization(AdapterConfig())
    assert (q["mode"], q["compute_dtype"], q["device"]) == ("qlora", dtype, "cuda")
    assert choose_quantization("lora")["mode"] == "lora"  # an explicit choice wins


@pytest.mark.parametrize(
    "devices, compiled, why",
    [({"cpu"}, True, "no CUDA backend"), ({"cpu", "cuda"}, False, "CPU library")],
)
def test_cuda_but_bnb_without_cuda_means_lora(monkeypatch, devices, compiled, why):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    _fake_bnb(monkeypatch, devices, compiled)
    q = choose_quantization(AdapterConfig())
    assert (q["mode"], q["compute_dtype"], q["device"]) == ("lora", "float32", "cuda")
    assert why in q["reason"]
    with pytest.raises(RuntimeError, match=why):
        choose_quantization("qlora")


def test_bnb_that_does_not_import_means_lora(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import raises ImportError
    q = choose_quantization("auto")
    assert q["mode"] == "lora" and "does not import" in q["reason"]


def test_tiny_build_is_deterministic_and_cached(tmp_path):
    spec = TinyLlavaSpec()
    a = build_tiny_llava(tmp_path / "a", spec, seed=0)
    b = build_tiny_llava(tmp_path / "b", spec, seed=0)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    stamp = (a / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_llava(a, spec, seed=0) == a  # same spec: reused, not rebuilt
    assert (a / "model.safetensors").stat().st_mtime_ns == stamp
    assert spec_hash(spec, 0) != spec_hash(spec, 1)
    model, processor = load_base(a)
    assert sum(p.numel() for p in model.parameters()) < 4_000_000
    assert "token_type_ids" not in processor.tokenizer("Caption: btc 🚀")
    ids = processor.tokenizer("moon🚀 bullish", add_special_tokens=False)["input_ids"]
    assert processor.tokenizer.unk_token_id not in ids


def test_lora_targets_only_the_language_model(tmp_path):
    from peft import LoraConfig, get_peft_model

    model, _ = load_base(build_tiny_llava(tmp_path / "base"))
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=LANGUAGE_ATTENTION))
    names = lora_target_names(peft_model)
    spec = TinyLlavaSpec()
    assert len(names) == 4 * spec.text_layers
    assert all("language_model" in n for n in names)
    assert not any("vision_tower" in n or "multi_modal_projector" in n for n in names)
    # A bare q_proj pattern would also adapt CLIP's attention: refused.
    clip_too = [n for n, _ in model.named_modules() if n.endswith("q_proj")]
    assert any("vision_tower" in n for n in clip_too)
    with pytest.raises(ValueError, match="beyond the language model"):
        _check_targets(clip_too, r".*q_proj")


@pytest.mark.parametrize("content", [None, b"not an image at all", b"\x89PNG\r\n\x1a\n\x00trunc"])
def test_unreadable_image_names_the_file(tmp_path, content):
    good = chart_items(tmp_path / "ok", 3, seed=5)
    bad = tmp_path / "broken.png"
    if content is not None:
        bad.write_bytes(content)
    items = good + [{"image_path": str(bad), "caption": "x", "label": BULLISH, "sarcastic": None}]
    with pytest.raises(InputError, match="broken.png"):
        train_adapter(items, tmp_path / "run", AdapterConfig(steps=1))
    assert not (tmp_path / "run").exists()  # failed before a base was built


def test_unknown_label_names_the_item(tmp_path):
    items = chart_items(tmp_path, 2, seed=6)
    items[1]["label"] = "moon"
    with pytest.raises(InputError, match="item 1"):
        train_adapter(items, tmp_path / "run", AdapterConfig(steps=1))


@pytest.mark.slow
def test_training_reports_progress_and_metadata(trained):
    result, progress = trained["result"], trained["progress"]
    assert [p["step"] for p in progress] == list(range(1, STEPS + 1))
    assert all(p["steps"] == STEPS and p["loss"] > 0 for p in progress)
    assert result.mode == "lora" and result.compute_dtype == "float32"
    assert 0 < result.trainable_params < result.total_params
    assert result.peak_memory_mb > 0 and result.peak_memory_kind == "cpu_rss_peak"
    assert result.seconds < 60 and result.seconds_per_step > 0
    assert result.base.startswith("tiny:")
    assert sum(result.losses[-10:]) < sum(result.losses[:10])
    json.dumps(result.metadata())


@pytest.mark.slow
def test_reload_gives_identical_logits(trained):
    result, held_out = trained["result"], trained["held_out"][:12]
    before = result.adapter.logits(held_out)
    again = load_adapter(result.adapter_dir)
    assert torch.allclose(before, again.logits(held_out), atol=1e-6)
    assert "tiny:" in again.describe()


@pytest.mark.slow
def test_reload_rebuilds_a_missing_tiny_base(trained, tmp_path):
    import shutil

    result, held_out = trained["result"], trained["held_out"][:6]
    moved = tmp_path / "adapter"
    shutil.copytree(result.adapter_dir, moved)
    meta_path = moved / "trademl_adapter.json"
    meta = json.loads(meta_path.read_text())
    meta["base_path"] = str(tmp_path / "gone")  # as on another machine
    meta_path.write_text(json.dumps(meta))
    rebuilt = load_adapter(moved)
    assert rebuilt.info["base_dir"] != str(Path(result.adapter_dir).parent / "tiny_base")
    assert torch.allclose(result.adapter.logits(held_out), rebuilt.logits(held_out), atol=1e-6)


@pytest.mark.slow
def test_adapter_dir_holds_no_base_weights(trained):
    from safetensors import safe_open

    adapter_dir = Path(trained["result"].adapter_dir)
    files = {p.name: p.stat().st_size for p in adapter_dir.iterdir()}
    assert "model.safetensors" not in files
    assert sum(files.values()) < 200_000, files
    with safe_open(str(adapter_dir / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
    # the language model only through its LoRA; the tiny base's vision tower and projector are
    # trained in full (peft modules_to_save) and saved as the adapter's own copies
    lora = [k for k in keys if "lora_" in k]
    assert lora and all("language_model" in k for k in lora)
    full = [k for k in keys if "lora_" not in k]
    assert full and all(".vision_tower." in k or ".multi_modal_projector." in k for k in full)
    assert not any("language_model" in k or "lm_head" in k for k in full)
    assert {m for m in ("vision_tower", "multi_modal_projector") if any(m in k for k in full)} == {
        "vision_tower",
        "multi_modal_projector",
    }
    assert trained["result"].trained_in_full == ["vision_tower", "multi_modal_projector"]
    base = Path(trained["result"].adapter.info["base_dir"]) / "model.safetensors"
    assert base.stat().st_size > 3 * files["adapter_model.safetensors"]


@pytest.mark.slow
def test_learns_the_chart_not_the_caption(trained):
    adapter, held_out = trained["result"].adapter, trained["held_out"]
    predictions = adapter.predict(held_out, batch_size=8)
    hits = sum(p["label"] == item["label"] for p, item in zip(predictions, held_out, strict=True))
    accuracy = hits / len(held_out)
    print(f"held-out accuracy on synthetic charts: {accuracy:.3f}")
    assert accuracy >= 0.75  # chance is 1/3; the captions carry no mood
    for p in predictions:
        assert abs(sum(p["probabilities"].values()) - 1) < 1e-5
        assert -1 <= p["score"] <= 1 and 0 <= p["sarcasm_probability"] <= 1
        assert p["score"] == pytest.approx(
            p["probabilities"][BULLISH] - p["probabilities"][BEARISH]
        )


@pytest.mark.slow
def test_predict_is_batch_independent_and_takes_images_and_captions(trained):
    adapter, held_out = trained["result"].adapter, trained["held_out"][:9]
    one = adapter.predict(held_out, batch_size=1)
    images = [item["image_path"] for item in held_out]
    captions = [item["caption"] for item in held_out]
    eight = adapter.predict((images, captions), batch_size=8)
    for a, b in zip(one, eight, strict=True):
        assert a["label"] == b["label"]
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
        assert a["sarcasm_probability"] == pytest.approx(b["sarcasm_probability"], abs=1e-5)


@pytest.mark.slow
def test_predict_on_a_corrupt_image_names_it(trained, tmp_path):
    bad = tmp_path / "meme.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(InputError, match="meme.jpg"):
        trained["result"].adapter.predict([{"image_path": str(bad), "caption": "gm"}])


def test_importing_the_package_loads_no_torch():
    import subprocess

    code = (
        "import sys, trademl.vision, trademl.vision.adapter, trademl.vision.llava; "
        "trademl.vision.AdapterConfig; "
        "print(sorted(m for m in ('torch', 'transformers', 'peft', 'dagster') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_qlora_code_path_runs_on_cpu_nf4(monkeypatch, tmp_path):
    """bitsandbytes 0.50 runs NF4 on the CPU: the QLoRA branch (4-bit load, kbit preparation,
    LoRA over Linear4bit, save, 4-bit reload) runs here before it meets a GPU."""
    import bitsandbytes as bnb

    import trademl.vision.adapter as adapter_module
    import trademl.vision.llava as llava_module

    forced = {"mode": "qlora", "compute_dtype": "float32", "device": "cpu", "reason": "test"}
    monkeypatch.setattr(adapter_module, "choose_quantization", lambda cfg: forced)
    monkeypatch.setattr(llava_module, "choose_quantization", lambda cfg: forced)
    items = chart_items(tmp_path / "img", 24, seed=7)
    result = train_adapter(items, tmp_path / "run", AdapterConfig(steps=6, vision_warmup_steps=20))
    assert result.mode == "qlora"
    model = result.adapter.model
    quantized = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(quantized) == 7 * TinyLlavaSpec().text_layers  # attention + MLP, not lm_head
    assert all("language_model" in n for n in quantized)
    assert all("language_model" in n for n in lora_target_names(model))
    reloaded = load_adapter(result.adapter_dir)
    assert reloaded.info["mode"] == "qlora"
    assert torch.allclose(result.adapter.logits(items[:4]), reloaded.logits(items[:4]), atol=1e-6)


def test_flipped_items_are_the_opposite_chart_without_the_caption(tmp_path):
    from PIL import Image

    from trademl.vision.adapter import flipped_items

    path = tmp_path / "up.png"
    img = Image.new("RGB", (4, 4), "black")
    img.putpixel((0, 0), (0, 200, 80))  # green, top-left
    img.save(path)
    items = [
        {"image_path": str(path), "caption": "moon", "label": "bullish", "sarcastic": False},
        {"image_path": str(path), "caption": "moon", "label": "bearish", "sarcastic": True},
        {"image_path": str(path), "caption": "zzz", "label": "neutral", "sarcastic": True},
        {"image_path": str(path), "caption": "?", "label": "bullish", "sarcastic": None},
    ]
    flipped = flipped_items(items)
    assert [f["label"] for f in flipped] == ["bearish", "bullish", "neutral", "bearish"]
    # the post's words and its sarcasm belong to the original picture
    assert [f["sarcastic"] for f in flipped] == [None] * 4
    assert [f["caption"] for f in flipped] == [""] * 4
    assert flipped[0]["image"].getpixel((0, 3)) == (200, 0, 80)  # bottom-left, red


def test_sarcasm_pairs_answer_the_flipped_chart_where_the_flag_is_known(tmp_path):
    from PIL import Image

    from trademl.vision.adapter import flipped_items, sarcasm_training_items

    path = tmp_path / "up.png"
    Image.new("RGB", (4, 4), "black").save(path)
    items = [
        {"image_path": str(path), "caption": "moon", "label": "bullish", "sarcastic": False},
        {"image_path": str(path), "caption": "moon lol", "label": "bearish", "sarcastic": True},
        {"image_path": str(path), "caption": "zzz", "label": "neutral", "sarcastic": True},
        {"image_path": str(path), "caption": "?", "label": "bullish", "sarcastic": None},
    ]
    known = flipped_items(items, "known")
    # a sincere bullish caption over the flipped (bearish) chart is the sarcastic pair; the
    # sarcastic one over the chart its words describe is sincere; a flat chart keeps its flag
    assert [f["sarcastic"] for f in known] == [True, False, True, None]
    assert [f["caption"] for f in known] == ["moon", "moon lol", "zzz", ""]
    assumed = flipped_items(items, "assume_sincere")
    assert assumed[3]["sarcastic"] is True and assumed[3]["caption"] == "?"
    cfg = AdapterConfig(sarcasm_pairs="known", sarcasm_repeat=3).resolved("tiny")
    out = sarcasm_training_items(items, cfg)
    flagged = sum(item["sarcastic"] is not None for item in items + known)  # 6
    assert len(out) == 8 + 2 * flagged
    with pytest.raises(ValueError, match="sarcasm_pairs"):
        AdapterConfig(sarcasm_pairs="all").resolved("tiny")
    assert AdapterConfig().resolved("tiny").sarcasm_pairs == "off"  # measured: no help


def test_a_real_base_keeps_lora_only_and_the_tiny_base_trains_its_tower():
    tiny, real = AdapterConfig().resolved("tiny"), AdapterConfig().resolved("local")
    assert tiny.train_vision_tower and tiny.train_projector and tiny.vision_warmup_steps > 0
    assert not (real.train_vision_tower or real.train_projector or real.flip_augment)
    assert real.vision_warmup_steps == 0 and real.caption_dropout == 0
    assert AdapterConfig(train_vision_tower=True).resolved("local").train_vision_tower


_MOODLESS = (
    "gm look this chart btc eth sol today week big small new old line candle price volume "
    "market time now soon here there"
)


def _direction_chart(path: Path, label: str, rng: random.Random) -> Path:
    """Grayscale: a line that rises (bullish), falls (bearish) or stays flat, at a random
    height, brightness and thickness. No colour, no caption: only the direction says it."""
    from PIL import Image, ImageDraw

    shade = rng.randint(0, 60)
    img = Image.new("RGB", (32, 32), (shade,) * 3)
    slope = {BULLISH: -0.6, BEARISH: 0.6, NEUTRAL: 0.0}[label]
    y0 = 16 + rng.uniform(-5, 5)
    points = [
        (x, min(max(y0 + slope * (x - 16) + rng.uniform(-1.5, 1.5), 1), 30))
        for x in range(2, 31, 4)
    ]
    grey = rng.randint(150, 255)
    ImageDraw.Draw(img).line(points, fill=(grey,) * 3, width=rng.randint(1, 3))
    img.save(path)
    return path


@pytest.mark.slow
def test_the_adapter_reads_the_chart_direction_from_the_image(tmp_path):
    """Fails when the image stops reaching the answer: grayscale charts (no colour cue) under
    moodless captions of random words that a model can memorise, chance 1/3. The LoRA-only
    recipe on 8-px patches (before the tower was trained) reached 0.69 here; this one 1.0."""
    words = _MOODLESS.split()
    rng = random.Random(3)
    items = []
    for i in range(150):
        label = SENTIMENT_LABELS[i % 3]
        path = _direction_chart(tmp_path / f"d{i}.png", label, rng)
        items.append(
            {
                "image_path": str(path),
                "caption": " ".join(rng.sample(words, 4)),
                "label": label,
                "sarcastic": None,
            }
        )
    train, held_out = items[:105], items[105:]
    cfg = AdapterConfig(steps=120, vision_warmup_steps=600, seed=0)
    result = train_adapter(train, tmp_path / "run", cfg)
    got = [p["label"] for p in result.adapter.predict(held_out, batch_size=16)]
    accuracy = sum(g == item["label"] for g, item in zip(got, held_out, strict=True)) / len(
        held_out
    )
    print(f"held-out accuracy on grayscale direction charts: {accuracy:.3f}")
    assert accuracy >= 0.85
