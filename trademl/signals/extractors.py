"""Signal extractors behind one interface: texts in, gold-format predictions out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from trademl.errors import TradeMLError


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


def default_models_root() -> Path:
    """``$TRADEML_MODELS``, else ``$TRADEML_HOME/lake/models`` (``var/lake/models``)."""
    return resolve_models_root(None)[0]


def resolve_models_root(given: str | os.PathLike | None) -> tuple[Path, bool]:
    """The registry root to use and whether the user named it (``--models`` or
    ``$TRADEML_MODELS``) rather than it being the default under ``$TRADEML_HOME``."""
    if given:
        return Path(given), True
    if os.environ.get("TRADEML_MODELS"):
        return Path(os.environ["TRADEML_MODELS"]), True
    return Path(os.environ.get("TRADEML_HOME", "var")) / "lake" / "models", False


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
