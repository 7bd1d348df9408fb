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
