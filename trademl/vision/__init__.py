"""Meme vision: a LLaVA (Q)LoRA adapter that reads image + caption and answers mood
(bearish / neutral / bullish) and sarcasm.

``from trademl.vision import train_adapter`` imports nothing heavy until a name is used: torch,
transformers and peft load on first access.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "TinyLlavaSpec": "trademl.vision.tiny_llava",
    "LLAVA_1_5_7B_DIMS": "trademl.vision.tiny_llava",
    "build_tiny_llava": "trademl.vision.tiny_llava",
    "PROMPT": "trademl.vision.llava",
    "MemeAdapter": "trademl.vision.llava",
    "choose_quantization": "trademl.vision.llava",
    "load_adapter": "trademl.vision.llava",
    "load_base": "trademl.vision.llava",
    "AdapterConfig": "trademl.vision.adapter",
    "AdapterResult": "trademl.vision.adapter",
    "train_adapter": "trademl.vision.adapter",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trademl.vision' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
