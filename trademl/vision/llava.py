"""The meme task on a LLaVA: the prompt, the answer words, the QLoRA/LoRA choice, loading a base,
and :class:`MemeAdapter`, the trained adapter that answers mood and sarcasm for image + caption.

The model is asked ``USER: <image>\\nCaption: ...\\nMood? Sarcastic? ASSISTANT:`` and trained to
answer ``bullish yes`` (mood word, then yes/no). Prediction never generates free text: it reads the
next-token logits over the three mood words, then, with the most likely mood fed back through the
KV cache, the logits of ``no``/``yes``. Training (``trademl.vision.adapter``) and prediction share
this module's encoding, so they cannot drift apart.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trademl.errors import InputError
from trademl.sentiment.labels import SENTIMENT_LABELS, check_label
from trademl.vision.tiny_llava import IMAGE_TOKEN

#: Versioned with the answer parser below; an adapter stores the prompt it was trained with.
PROMPT = "USER: " + IMAGE_TOKEN + "\nCaption: {caption}\nMood? Sarcastic? ASSISTANT:"
SARCASM_WORDS = ("no", "yes")
ADAPTER_META = "trademl_adapter.json"
#: LoRA goes on the language model's attention only, never on CLIP's q/k/v projections (a tiny
#: base trains its random tower in full instead: AdapterConfig.train_vision_tower).
LANGUAGE_ATTENTION = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj)"
#: Kept in full precision under 4-bit loading. transformers 5 matches these from the start of the
#: module name, so the "model." prefix is needed.
QLORA_SKIP_MODULES = ["model.vision_tower", "model.multi_modal_projector", "lm_head"]


def choose_quantization(cfg: Any = "auto") -> dict[str, str]:
    """QLoRA (4-bit NF4) or plain LoRA, and why: ``{mode, reason, compute_dtype, device}``.

    ``cfg`` is an AdapterConfig or its ``quantization`` string ("auto", "qlora", "lora"). QLoRA
    only with CUDA and a bitsandbytes that loaded its CUDA library; compute in bfloat16 where the
    GPU supports it, else float16. Without them, float32 LoRA (on the GPU if there is one).
    "qlora" where it cannot run is an error, not a silent fallback.
    """
    import torch

    requested = getattr(cfg, "quantization", cfg) or "auto"
    if requested not in ("auto", "qlora", "lora"):
        raise ValueError(f"quantization={requested!r}: expected 'auto', 'qlora' or 'lora'")
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    lora = {"mode": "lora", "compute_dtype": "float32", "device": device}
    if requested == "lora":
        return {**lora, "reason": "plain LoRA requested (quantization='lora')"}
    if not cuda:
        why = "CUDA is not available"
    else:
        ok, why = _bnb_cuda_backend()
        if ok:
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
            return {
                "mode": "qlora",
                "compute_dtype": dtype,
                "device": "cuda",
                "reason": f"CUDA and bitsandbytes' CUDA backend available: 4-bit NF4, {dtype} compute",
            }
    if requested == "qlora":
        raise RuntimeError(f"quantization='qlora' cannot run here: {why}; use 'auto' or 'lora'")
    return {**lora, "reason": f"{why}: float32 LoRA on {device}"}


def _bnb_cuda_backend() -> tuple[bool, str]:
    try:
        import bitsandbytes as bnb
    except Exception as exc:  # ImportError, or a native-library error raised at import
        return False, f"bitsandbytes does not import ({exc.__class__.__name__}: {exc})"
    if "cuda" not in getattr(bnb, "supported_torch_devices", ()):
        return False, "bitsandbytes has no CUDA backend"
    # bitsandbytes 0.50 lists "cuda" statically; whether it loaded a CUDA binary is on its lib.
    lib = getattr(getattr(bnb, "cextension", None), "lib", None)
    if lib is not None and getattr(lib, "compiled_with_cuda", True) is False:
        return False, "bitsandbytes loaded its CPU library (no CUDA binary for this runtime)"
    return True, "ok"


def load_base(path: str | os.PathLike[str], quantization: Mapping[str, str] | None = None):
    """``(model, processor)`` of the LLaVA directory at ``path``, as ``choose_quantization`` said:
    4-bit NF4 with double quantisation on CUDA for "qlora", float32 otherwise."""
    import torch
    from transformers import LlavaForConditionalGeneration

    from trademl.models.hf import quiet_transformers
    from trademl.vision.tiny_llava import load_processor

    path = Path(path)
    if not (path / "config.json").is_file():
        raise InputError(
            str(path),
            "not a LLaVA directory (no config.json)",
            "put a LLaVA such as llava-hf/llava-1.5-7b-hf on disk and configure its path; "
            "nothing is downloaded at run time",
        )
    q = dict(quantization or {"mode": "lora", "compute_dtype": "float32", "device": "cpu"})
    processor = load_processor(path)
    with quiet_transformers():
        if q["mode"] == "qlora":
            from transformers import BitsAndBytesConfig

            dtype = getattr(torch, q["compute_dtype"])
            bnb = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=dtype,
                llm_int8_skip_modules=QLORA_SKIP_MODULES,
            )
            device = q.get("device", "cuda")
            model = LlavaForConditionalGeneration.from_pretrained(
                path,
                quantization_config=bnb,
                dtype=dtype,
                device_map={"": 0 if device == "cuda" else device},
            )
        else:
            model = LlavaForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
            model.to(q.get("device", "cpu"))
    return model, processor


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run with ``n`` intra-op threads (None: leave torch's setting), then restore it."""
    import torch

    if not n:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cpu_threads_for(base_kind: str, device: str, requested: int | None = None) -> int | None:
    """Threads for a CPU run: ``requested``, else 1 for the tiny base, whose matrices are too
    small to split: on a 2-core box with another job running, two threads made a training step
    30x slower than one (400 ms against 12 ms)."""
    if requested:
        return requested
    return 1 if (base_kind == "tiny" and device == "cpu") else None


def open_image(path: str | os.PathLike[str]):
    """The image at ``path`` as RGB, or InputError naming the file and what is wrong with it."""
    from PIL import Image, UnidentifiedImageError

    hint = "quarantine it in meme_dataset or replace the file"
    try:
        with Image.open(path) as im:
            im.load()  # decode now: a truncated file fails here, not deep inside the processor
            return im.convert("RGB")
    except FileNotFoundError:
        raise InputError(str(path), "image file not found", hint) from None
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        SyntaxError,
        ValueError,
    ) as exc:
        raise InputError(
            str(path), f"not a readable image ({exc.__class__.__name__}: {exc})", hint
        ) from exc


def clean_caption(caption: Any) -> str:
    """One line, every emoji and symbol spaced out, as at training time (None -> "")."""
    from trademl.signals.tokenize import word_tokens

    if not isinstance(caption, str):
        return ""
    return " ".join(token for token, _, _ in word_tokens(caption))


@dataclass
class Encoded:
    """One post, ready for the model: prompt (+ answer) ids, answer mask, pixel values."""

    input_ids: list[int]
    labels: list[int]  # -100 on the prompt; the answer ids on the answer
    pixel_values: Any  # torch.Tensor (3, H, W)
    prompt_length: int


class TaskEncoder:
    """Turns (image, caption[, label, sarcastic]) into token ids with the base's processor."""

    def __init__(self, processor, prompt: str = PROMPT, max_length: int = 48):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.prompt = prompt
        self.max_length = max_length
        self.pad_id = self.tokenizer.pad_token_id
        self.image_id = self.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        reference = self._prompt_text("chart", 1)
        self.label_ids = {lab: self._continuation(reference, f" {lab}") for lab in SENTIMENT_LABELS}
        self.sarcasm_ids = {}
        for lab, ids in self.label_ids.items():
            no, yes = (
                self._continuation(reference, f" {lab} {w}")[len(ids) :] for w in SARCASM_WORDS
            )
            self.sarcasm_ids[lab] = (no[0], yes[0])
        self.label_first = [self.label_ids[lab][0] for lab in SENTIMENT_LABELS]
        if len(set(self.label_first)) != len(SENTIMENT_LABELS) or any(
            no == yes for no, yes in self.sarcasm_ids.values()
        ):
            raise ValueError(
                "the tokenizer does not tell the answer words apart by their first token"
            )

    def _prompt_text(self, caption: str, n_image_tokens: int) -> str:
        text = self.prompt.format(caption=caption)
        return text.replace(IMAGE_TOKEN, IMAGE_TOKEN * n_image_tokens, 1)

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text)["input_ids"]

    def _continuation(self, prompt_text: str, answer: str) -> list[int]:
        prompt_ids = self._ids(prompt_text)
        full = self._ids(prompt_text + answer)
        if full[: len(prompt_ids)] != prompt_ids or len(full) == len(prompt_ids):
            raise ValueError(f"answer {answer!r} does not tokenize as a continuation of the prompt")
        return full[len(prompt_ids) :]

    def _caption(self, caption: Any) -> str:
        text = clean_caption(caption)
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        if len(offsets) > self.max_length:
            text = text[: offsets[self.max_length - 1][1]]
        return text

    def pixel_values(self, images: Sequence[Any]):
        """Pixel values of PIL images or image paths, stacked: (n, 3, H, W)."""
        pil = [open_image(im) if isinstance(im, str | os.PathLike) else im for im in images]
        return self.processor.image_processor(pil, return_tensors="pt")["pixel_values"]

    def _n_image_tokens(self, pixel_values) -> int:
        p = self.processor
        h, w = pixel_values.shape[-2:]
        n = (h // p.patch_size) * (w // p.patch_size) + p.num_additional_image_tokens
        return n - (1 if p.vision_feature_select_strategy == "default" else 0)

    def encode(self, images: Sequence[Any], captions: Sequence[Any], answers=None) -> list[Encoded]:
        """Encode posts; ``answers`` (label, sarcastic-or-None) pairs add the training target."""
        return self.encode_pixels(self.pixel_values(images), captions, answers)

    def encode_pixels(self, pixels, captions: Sequence[Any], answers=None) -> list[Encoded]:
        """:meth:`encode` on pixel values already made by :meth:`pixel_values`."""
        n_image = self._n_image_tokens(pixels)
        rows = []
        for i, caption in enumerate(captions):
            text = self._prompt_text(self._caption(caption), n_image)
            prompt_ids = self._ids(text)
            ids, labels = list(prompt_ids), [-100] * len(prompt_ids)
            if answers is not None:
                label, sarcastic = answers[i]
                answer = f" {label}"
                if sarcastic is not None:
                    answer += f" {SARCASM_WORDS[int(bool(sarcastic))]}"
                answer_ids = self._continuation(text, answer)
                ids += answer_ids
                labels += answer_ids
            rows.append(Encoded(ids, labels, pixels[i], len(prompt_ids)))
        return rows

    def collate(self, rows: Sequence[Encoded], device="cpu") -> dict[str, Any]:
        """Right-padded batch tensors (+ ``lengths``); right padding never leaves a query row
        fully masked, so a post's logits do not depend on its batch."""
        import torch

        width = max(len(r.input_ids) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r.input_ids)] = torch.tensor(r.input_ids)
            labels[i, : len(r.labels)] = torch.tensor(r.labels)
            mask[i, : len(r.input_ids)] = 1
        pixels = torch.stack([r.pixel_values for r in rows])
        return {
            "input_ids": ids.to(device),
            "attention_mask": mask.to(device),
            "labels": labels.to(device),
            # float32: CLIP casts pixels to its own weights' dtype (float32 or the compute dtype)
            "pixel_values": pixels.to(device),
            "lengths": mask.sum(1).to(device),
        }


def split_items(items: Any, captions: Sequence[Any] | None = None) -> tuple[list, list]:
    """(images, captions) from item dicts ({image_path or image, caption}) or (images, captions)."""
    if captions is not None:
        images = list(items)
    elif isinstance(items, tuple) and len(items) == 2 and not isinstance(items[0], Mapping):
        images, captions = list(items[0]), list(items[1])
    else:
        images, captions = [], []
        for i, item in enumerate(items):
            image = item.get("image", item.get("image_path"))
            if image is None:
                raise InputError(f"item {i}", "has neither 'image_path' nor 'image'")
            images.append(image)
            captions.append(item.get("caption"))
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    return images, list(captions)


def training_answers(items: Sequence[Mapping[str, Any]]) -> list[tuple[str, bool | None]]:
    """(label, sarcastic) of each training item; ValueError naming the item that is wrong."""
    answers = []
    for i, item in enumerate(items):
        try:
            label = check_label(item.get("label"))
        except ValueError as exc:
            raise InputError(f"item {i} ({item.get('image_path', '?')})", str(exc)) from None
        sarcastic = item.get("sarcastic")
        answers.append((label, None if sarcastic is None else bool(sarcastic)))
    return answers


class MemeAdapter:
    """A LLaVA base + LoRA adapter that answers mood (bearish/neutral/bullish) and sarcasm."""

    def __init__(
        self, model, processor, *, info: dict[str, Any], prompt: str = PROMPT, max_length: int = 48
    ):
        self.model = model.eval()
        self.encoder = TaskEncoder(processor, prompt=prompt, max_length=max_length)
        self.info = info
        self.threads = info.get("cpu_threads")

    @property
    def device(self):
        return next(self.model.parameters()).device

    def describe(self) -> str:
        """Which base, which adapter, which precision: one line for logs and metadata."""
        i = self.info
        return (
            f"LLaVA meme adapter {i.get('adapter_dir', '(in memory)')} on base {i['base']} "
            f"({i['mode']}, {i['compute_dtype']} compute, {i['device']})"
        )

    def _batches(self, items, captions, batch_size):
        images, caps = split_items(items, captions)
        for start in range(0, len(images), batch_size):
            rows = self.encoder.encode(
                images[start : start + batch_size], caps[start : start + batch_size]
            )
            yield self.encoder.collate(rows, self.device)

    def logits(self, items, captions=None, batch_size: int = 8):
        """Next-token logits after the prompt, (n, vocab) float32 on the CPU."""
        import torch

        out = []
        with torch.inference_mode(), torch_threads(self.threads):
            for batch in self._batches(items, captions, batch_size):
                first, _ = self._answer_step(batch)
                out.append(first.float().cpu())
        return torch.cat(out)

    def _answer_step(self, batch):
        out = self.model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            pixel_values=batch["pixel_values"],
            use_cache=True,
        )
        import torch

        last = batch["lengths"] - 1
        rows = torch.arange(len(last), device=last.device)
        return out.logits[rows, last], out.past_key_values

    def predict(self, items, captions=None, batch_size: int = 8) -> list[dict[str, Any]]:
        """Per post: label, probabilities {bearish, neutral, bullish}, score = P(bull) - P(bear),
        sarcasm_probability (P(yes) after the most likely mood)."""
        import torch

        enc = self.encoder
        results: list[dict[str, Any]] = []
        with torch.inference_mode(), torch_threads(self.threads):
            for batch in self._batches(items, captions, batch_size):
                first, cache = self._answer_step(batch)
                probs = torch.softmax(first[:, enc.label_first].float(), dim=-1).cpu()
                best = [SENTIMENT_LABELS[j] for j in probs.argmax(1).tolist()]
                p_yes = self._sarcasm(batch, cache, best)
                for k, label in enumerate(best):
                    p = dict(zip(SENTIMENT_LABELS, (float(v) for v in probs[k]), strict=True))
                    results.append(
                        {
                            "label": label,
                            "probabilities": p,
                            "score": p["bullish"] - p["bearish"],
                            "sarcasm_probability": p_yes[k],
                        }
                    )
        return results

    def _sarcasm(self, batch, cache, labels: list[str]) -> list[float]:
        import torch

        enc, device = self.encoder, self.device
        answer = [enc.label_ids[lab] for lab in labels]
        width = max(len(a) for a in answer)
        ids = torch.full((len(answer), width), enc.pad_id, dtype=torch.long)
        mask = torch.zeros((len(answer), width), dtype=torch.long)
        for i, a in enumerate(answer):
            ids[i, : len(a)] = torch.tensor(a)
            mask[i, : len(a)] = 1
        lengths = batch["lengths"].cpu()
        positions = lengths[:, None] + torch.arange(width)[None, :]
        out = self.model(
            input_ids=ids.to(device),
            attention_mask=torch.cat([batch["attention_mask"], mask.to(device)], dim=1),
            position_ids=positions.to(device),
            past_key_values=cache,
            use_cache=True,
        )
        at = torch.tensor([len(a) - 1 for a in answer], device=device)
        logits = out.logits[torch.arange(len(answer), device=device), at].float()
        pairs = torch.tensor([enc.sarcasm_ids[lab] for lab in labels], device=device)
        two = torch.gather(logits, 1, pairs)
        return torch.softmax(two, dim=-1)[:, 1].cpu().tolist()


def read_adapter_meta(adapter_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The sidecar json ``train_adapter`` wrote next to the peft files."""
    path = Path(adapter_dir) / ADAPTER_META
    if not path.is_file():
        raise InputError(
            str(adapter_dir), f"no {ADAPTER_META}: not an adapter saved by train_adapter"
        )
    return json.loads(path.read_text())


def resolve_base(meta: Mapping[str, Any], base: str | os.PathLike[str] | None, work_dir=None):
    """(base directory, scratch directory to delete with the model or None) for an adapter's
    recorded base."""
    from trademl.vision.tiny_llava import TinyLlavaSpec, build_tiny_llava, spec_hash

    if base is not None:
        return Path(base), None
    if meta["base_kind"] == "local":
        path = Path(meta["base_path"])
        if not (path / "config.json").is_file():
            raise InputError(
                str(path), "the adapter's base LLaVA is not on disk", "pass base=<local LLaVA dir>"
            )
        return path, None
    spec, seed = TinyLlavaSpec.from_dict(meta["tiny_spec"]), int(meta["tiny_seed"])
    recorded = Path(meta.get("base_path") or "")
    marker = recorded / "trademl_tiny_llava.json"
    if marker.is_file() and json.loads(marker.read_text()).get("hash") == spec_hash(spec, seed):
        return recorded, None
    if work_dir is not None:
        return build_tiny_llava(Path(work_dir) / "tiny_base", spec, seed), None
    scratch = tempfile.mkdtemp(prefix="trademl-tiny-llava-")
    return build_tiny_llava(Path(scratch) / "base", spec, seed), scratch


def load_adapter(
    adapter_dir: str | os.PathLike[str],
    base: str | os.PathLike[str] | None = None,
    *,
    quantization: str = "auto",
    work_dir: str | os.PathLike[str] | None = None,
    cpu_threads: int | None = None,
) -> MemeAdapter:
    """The adapter saved at ``adapter_dir`` on its base: ``base`` if given, else the recorded local
    LLaVA, or the tiny base rebuilt deterministically from the stored spec (in ``work_dir`` or a
    temporary directory)."""
    from peft import PeftModel

    from trademl.models.hf import quiet_transformers

    adapter_dir = Path(adapter_dir)
    meta = read_adapter_meta(adapter_dir)
    base_dir, scratch = resolve_base(meta, base, work_dir)
    q = choose_quantization(quantization)
    model, processor = load_base(base_dir, q)
    with quiet_transformers():
        model = PeftModel.from_pretrained(model, str(adapter_dir))
    kind = meta["base_kind"] if base is None else "local"
    info = {
        "base": meta["base"] if base is None else str(base),
        "base_dir": str(base_dir),
        "adapter_dir": str(adapter_dir),
        "cpu_threads": cpu_threads_for(kind, q["device"], cpu_threads),
        **{k: q[k] for k in ("mode", "compute_dtype", "device", "reason")},
    }
    adapter = MemeAdapter(
        model,
        processor,
        info=info,
        prompt=meta.get("prompt", PROMPT),
        max_length=int(meta.get("max_length", 48)),
    )
    if scratch is not None:  # a rebuilt tiny base lives as long as the adapter that reads it
        weakref.finalize(adapter, shutil.rmtree, scratch, ignore_errors=True)
    return adapter
