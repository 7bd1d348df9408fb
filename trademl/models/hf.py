"""Hugging Face helpers shared by the trainers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report (a fresh head is always 'MISSING'), its "Loading weights"
    progress bars and the bitsandbytes kernel notice, then restore the settings."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    bnb = logging.getLogger("bitsandbytes")
    bnb_level = bnb.level
    bnb.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()
        bnb.setLevel(bnb_level)


def freeze_word_embeddings(model) -> int:
    """Stop training the input word embeddings (position and type embeddings still train);
    returns how many parameters were frozen. For MiniLM that is half of them: each step then
    skips the matrix's dense gradient and its AdamW update."""
    weight = model.get_input_embeddings().weight
    weight.requires_grad_(False)
    return weight.numel()
