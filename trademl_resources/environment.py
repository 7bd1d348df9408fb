"""Local or production: one function picks the resources, from environment variables."""

import os
from pathlib import Path

from trademl_resources.lake import LakeResource
from trademl_resources.models import ModelRegistryResource, TrainingResource, llm_from_env
from trademl_resources.sources import MarketSourcesResource, MessageSourcesResource


def trademl_home() -> Path:
    """Root of trademl's local state (lake, demo data): ``$TRADEML_HOME``, default ``./var``."""
    return Path(os.environ.get("TRADEML_HOME", "var"))


def _join(root: str, name: str) -> str:
    """``root/name`` for a folder or a URL (``Path`` would fold ``s3://`` into ``s3:/``)."""
    return f"{root.rstrip('/')}/{name}" if "://" in root else str(Path(root) / name)


def default_resources() -> dict[str, object]:
    """Resources for this environment.

    ``TRADEML_LAKE`` (default ``$TRADEML_HOME/lake``; a folder or an fsspec URL such as
    ``s3://bucket/lake``, see :mod:`trademl.lake`), ``TRADEML_MODELS`` (the registry: default
    ``$TRADEML_LAKE/models``, which must be set to a folder when the lake is a URL),
    ``TRADEML_INBOX`` (default
    ``$TRADEML_HOME/demo_data``), ``TRADEML_SQL_URL`` (default: the labelling store
    ``labeling.sqlite`` in the inbox; set it empty to read no SQL table), ``TRADEML_SQL_TABLE``,
    ``TRADEML_GOLD`` (gold-format JSONL files for the promotion gate, separated by ``os.pathsep``
    or commas; default none) and ``TRADEML_GOLD_MARGIN`` (default 0.01).
    """
    from trademl.signals.model_reports import split_gold_paths

    home = trademl_home()
    inbox = os.environ.get("TRADEML_INBOX", str(home / "demo_data"))
    sql_url = (
        os.environ.get("TRADEML_SQL_URL", f"sqlite:///{Path(inbox) / 'labeling.sqlite'}") or None
    )
    lake = os.environ.get("TRADEML_LAKE", str(home / "lake"))
    return {
        "lake": LakeResource(root=lake),
        "registry": ModelRegistryResource(
            root=os.environ.get("TRADEML_MODELS") or _join(lake, "models"),
            promotion_margin=float(os.environ.get("TRADEML_PROMOTION_MARGIN", "0.01")),
            gold_files=split_gold_paths(os.environ.get("TRADEML_GOLD")),
            gold_margin=float(os.environ.get("TRADEML_GOLD_MARGIN") or "0.01"),
        ),
        "llm": llm_from_env(),
        "training": TrainingResource(
            classifier_base=os.environ.get("TRADEML_CLASSIFIER_BASE") or None,
            ner_base=os.environ.get("TRADEML_NER_BASE") or None,
            sentiment_base=os.environ.get("TRADEML_SENTIMENT_BASE") or None,
            vision_base=os.environ.get("TRADEML_VISION_BASE") or None,
        ),
        "message_sources": MessageSourcesResource(
            inbox=inbox, sql_url=sql_url, sql_table=os.environ.get("TRADEML_SQL_TABLE", "messages")
        ),
        "market_sources": MarketSourcesResource(root=inbox),
    }
