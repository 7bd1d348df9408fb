"""A LLaVA built from config: a local directory (config, weights, tokenizer, image processor,
processor) that ``load_base`` reads like any downloaded LLaVA, with nothing downloaded.

The tiny default (~196 k parameters, 32×32 images in 64 patches) trains on two CPU cores in a minute; the same
builder at llava-1.5-7b dimensions (:data:`LLAVA_1_5_7B_DIMS`) is the GPU memory/speed check. The
tokenizer is a WordPiece over a fixed vocabulary (the prompt and answer words, chart words, crypto
slang, numbers, single characters for anything else) built locally with ``tokenizers``. A build is
deterministic for (spec, seed): the adapter stores the spec, never the base weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

#: Bumped whenever the vocabulary or the construction changes, so a cached base is rebuilt.
TINY_LLAVA_VERSION = 2
IMAGE_TOKEN = "<image>"
_SPECIAL = ("[PAD]", "[UNK]", "<s>", "</s>", IMAGE_TOKEN)
_MARKER = "trademl_tiny_llava.json"

# The prompt/answer words first: they must be whole tokens. Then what captions on a trading
# forum say. Anything else falls back to single characters (WordPiece ## pieces).
_WORDS = """
user assistant caption mood sarcastic bullish bearish neutral yes no
chart charts candle candles green red line lines up down flat sideways range price prices
pump pumping pumped dump dumping dumped moon mooning crash crashing crashed dip dips rally
long short longs shorts buy buying bought sell selling sold hold holding hodl bag bags
breakout breakdown support resistance trend trendline channel wedge flag triangle top bottom
bull bulls bear bears bullrun rekt wagmi ngmi gm gn fomo fud fud whale whales lambo ath atl
btc bitcoin eth ethereum sol solana doge xrp ada link avax pepe arb bnb usdt usdc alt alts
altcoin altcoins coin coins token tokens crypto market markets volume liquidity leverage
stop loss profit profits target targets entry tp sl liquidated liquidation squeeze
higher lower high low highs lows new big huge massive tiny small strong weak easy hard
good great bad terrible best worst love hate sure totally definitely nice wow lol lmao
the a an is are was were be been this that these those it its to of and or but if so
i me my we our you your he she they them their what when where why how who which
in on at by for from with without into over under about after before again still just
not never ever always only very too more most less least all any some every each
do does did done doing have has had get got go going gone went come coming see look
looks looking think know feel make made take taking time today tomorrow yesterday week
day days month year now soon here there next last first one two three four five ten
k m b x % $ + - . , : ; ! ? ' " ( ) / # @ & *
0 1 2 3 4 5 6 7 8 9 10 20 50 100 1000 10k 100k 1m
🚀 📈 📉 🟢 🔴 💎 🙌 🐻 🐂 🤡 😂 🔥 💀 ✅ ❌ 🌕 💰 😭 🤔 👀
"""


@dataclass(frozen=True)
class TinyLlavaSpec:
    """Dimensions of a LLaVA (CLIP vision tower + projector + Llama) built from config."""

    image_size: int = 32
    #: 4: 64 patches of 4x4 px. At 8 (16 patches) a tower trained from scratch on the demo's
    #: ~200 memes never learnt the chart (image-only held-out accuracy 0.40 against 0.65 at 4).
    patch_size: int = 4
    vision_hidden: int = 32
    vision_intermediate: int = 64
    vision_layers: int = 2
    vision_heads: int = 2
    text_hidden: int = 64
    text_intermediate: int = 128
    text_layers: int = 2
    text_heads: int = 4
    text_kv_heads: int | None = None
    #: None: the local tokenizer's vocabulary; a real-size check uses llava-1.5's 32,064.
    vocab_size: int | None = None
    max_positions: int = 256
    #: -1: the last vision layer (a 2-layer tower's only deep features); llava-1.5 uses -2.
    vision_feature_layer: int = -1
    #: Std of the language model's random weights. At Llama's 0.02 a 64-wide random lm_head moves
    #: a logit by ±1.3 at most: the loss stalls near ln(vocab) and the adapter learns nothing.
    init_std: float = 0.2

    @property
    def image_tokens(self) -> int:
        """How many ``<image>`` placeholders one image becomes (one per patch, CLS dropped)."""
        return (self.image_size // self.patch_size) ** 2

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TinyLlavaSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"TinyLlavaSpec: unknown fields {unknown} (known: {sorted(known)})")
        return cls(**data)


#: llava-hf/llava-1.5-7b-hf's dimensions (CLIP ViT-L/14 at 336 px + Llama 7B), for memory checks.
LLAVA_1_5_7B_DIMS = TinyLlavaSpec(
    image_size=336,
    patch_size=14,
    vision_hidden=1024,
    vision_intermediate=4096,
    vision_layers=24,
    vision_heads=16,
    text_hidden=4096,
    text_intermediate=11008,
    text_layers=32,
    text_heads=32,
    vocab_size=32064,
    max_positions=4096,
    vision_feature_layer=-2,
    init_std=0.02,
)


def spec_hash(spec: TinyLlavaSpec, seed: int) -> str:
    """Short content hash of what a build depends on: spec, seed, vocabulary, builder version."""
    blob = json.dumps(
        {"spec": asdict(spec), "seed": seed, "version": TINY_LLAVA_VERSION, "words": _WORDS},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def base_id(spec: TinyLlavaSpec, seed: int) -> str:
    """How an adapter names a tiny base: ``tiny:<hash>``."""
    return f"tiny:{spec_hash(spec, seed)}"


def _vocabulary() -> list[str]:
    words = list(dict.fromkeys(_WORDS.split()))
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    pieces = [f"##{c}" for c in chars]
    vocab = list(_SPECIAL)
    for token in words + chars + pieces:
        if token not in vocab:
            vocab.append(token)
    return vocab


def build_tokenizer():
    """The tiny base's WordPiece tokenizer as a transformers fast tokenizer (no token_type_ids)."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(_vocabulary())}
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=50))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    # Emoji are neither whitespace nor punctuation to BERT's splitter: split every symbol out so
    # "moon🚀" is two known tokens, not one [UNK].
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Split(Regex(r"[^\w\s]"), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.WordPiece()
    tok.add_special_tokens(list(_SPECIAL))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        bos_token="<s>",
        eos_token="</s>",
        model_input_names=["input_ids", "attention_mask"],
        padding_side="right",
    )
    return fast


def build_processor(spec: TinyLlavaSpec, tokenizer=None):
    """LlavaProcessor over the local tokenizer and a Pillow CLIP image processor at spec size."""
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    tokenizer = tokenizer if tokenizer is not None else build_tokenizer()
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": spec.image_size},
        crop_size={"height": spec.image_size, "width": spec.image_size},
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=spec.patch_size,
        vision_feature_select_strategy="default",
        image_token=IMAGE_TOKEN,
        num_additional_image_tokens=1,  # CLIP's CLS, which the "default" strategy drops again
    )


def llava_config(spec: TinyLlavaSpec, tokenizer):
    """The LlavaConfig of ``spec`` with the tokenizer's special token ids."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    image_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    vocab_size = spec.vocab_size or len(tokenizer)
    if vocab_size < len(tokenizer):
        raise ValueError(f"TinyLlavaSpec.vocab_size={vocab_size} < tokenizer size {len(tokenizer)}")
    vision = CLIPVisionConfig(
        hidden_size=spec.vision_hidden,
        intermediate_size=spec.vision_intermediate,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=spec.vision_heads,
        image_size=spec.image_size,
        patch_size=spec.patch_size,
        projection_dim=spec.vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=spec.text_hidden,
        intermediate_size=spec.text_intermediate,
        num_hidden_layers=spec.text_layers,
        num_attention_heads=spec.text_heads,
        num_key_value_heads=spec.text_kv_heads or spec.text_heads,
        max_position_embeddings=spec.max_positions,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
        initializer_range=spec.init_std,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_id,
        image_seq_length=spec.image_tokens,
        vision_feature_layer=spec.vision_feature_layer,
        vision_feature_select_strategy="default",
        pad_token_id=tokenizer.pad_token_id,
    )


def build_tiny_llava(
    out_dir: str | os.PathLike[str],
    spec: TinyLlavaSpec | None = None,
    seed: int = 0,
    *,
    dtype=None,
    device: str | None = None,
) -> Path:
    """Write a complete LLaVA directory for ``spec`` (default: the tiny one) at ``out_dir``.

    Deterministic for (spec, seed); a directory already built for the same pair is reused. The
    write is atomic (temporary sibling + rename). ``dtype``/``device`` matter only at real sizes
    (build a 7B-dimension model on the GPU in bfloat16 instead of 28 GB of float32 on the CPU).
    """
    import torch
    from transformers import LlavaForConditionalGeneration

    from trademl.models.hf import quiet_transformers

    spec = spec or TinyLlavaSpec()
    out = Path(out_dir)
    digest = spec_hash(spec, seed)
    marker = out / _MARKER
    if marker.exists():
        try:
            if json.loads(marker.read_text()).get("hash") == digest:
                return out
        except (OSError, ValueError):
            pass  # unreadable marker: rebuild
    processor = build_processor(spec)
    config = llava_config(spec, processor.tokenizer)
    torch.manual_seed(seed)
    with quiet_transformers(), torch.device(device or "cpu"):
        model = LlavaForConditionalGeneration._from_config(config, dtype=dtype or torch.float32)
    model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with quiet_transformers():
            model.save_pretrained(tmp)
            processor.save_pretrained(tmp)
        meta = {"hash": digest, "seed": seed, "spec": asdict(spec), "version": TINY_LLAVA_VERSION}
        (tmp / _MARKER).write_text(json.dumps(meta, indent=2))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def load_processor(path: str | os.PathLike[str]):
    """The LlavaProcessor saved at ``path`` (Pillow image backend where torchvision is absent)."""
    from transformers import AutoProcessor

    from trademl.models.hf import quiet_transformers

    with quiet_transformers():
        # The image backend is chosen by transformers: Pillow unless torchvision is installed.
        processor = AutoProcessor.from_pretrained(str(path))
    # LLaVA's language model takes no token_type_ids; a BERT-style tokenizer would emit them.
    processor.tokenizer.model_input_names = ["input_ids", "attention_mask"]
    if processor.tokenizer.pad_token_id is None:
        processor.tokenizer.pad_token = (
            processor.tokenizer.unk_token or processor.tokenizer.eos_token
        )
    return processor
