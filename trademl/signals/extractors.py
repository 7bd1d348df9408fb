"""Signal extractors behind one interface: texts in, gold-format predictions out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from trademl.errors import TradeMLError
from trademl.registry import default_models_root, resolve_models_root  # noqa: F401 - re-exported


class RuleExtractor:
    """The deterministic rule parser: no model files needed."""

    name = "rules"

    def predict(self, texts: Sequence[str]) -> list[dict]:
        from trademl.signals.parser import parse_signal

        out = []
        for text in texts:
            parsed = parse_signal(text)
            out.append({"label": parsed.label, **parsed.fields()})
        return out


def get_extractor(kind: str, models_root: str | os.PathLike | None = None):
    """``rules``, ``model`` (the deployed models; error if none) or ``auto`` (model, else rules)."""
    if kind == "rules":
        return RuleExtractor()
    root = Path(models_root) if models_root else default_models_root()
    try:
        from trademl.serving import load_deployed_extractor
    except ImportError:
        load_deployed_extractor = None
    if load_deployed_extractor is not None:
        try:
            return load_deployed_extractor(root, mode=kind)
        except TradeMLError:
            if kind == "model":
                raise
    elif kind == "model":
        raise TradeMLError(
            f"{root}: no deployed signal models (run `make demo` to train and deploy them)"
        )
    return RuleExtractor()
