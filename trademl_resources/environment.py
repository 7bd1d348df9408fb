"""Local or production: one function picks the resources, from environment variables."""

import os
from pathlib import Path

from trademl_resources.lake import LakeResource
from trademl_resources.sources import MarketSourcesResource, MessageSourcesResource


def trademl_home() -> Path:
    """Root of trademl's local state (lake, demo data): ``$TRADEML_HOME``, default ``./var``."""
    return Path(os.environ.get("TRADEML_HOME", "var"))


def default_resources() -> dict[str, object]:
    """Resources for this environment.

    ``TRADEML_LAKE`` (default ``$TRADEML_HOME/lake``), ``TRADEML_INBOX`` (default
    ``$TRADEML_HOME/demo_data``), ``TRADEML_SQL_URL`` (default: the labelling store
    ``labeling.sqlite`` in the inbox; set it empty to read no SQL table), ``TRADEML_SQL_TABLE``.
    """
    home = trademl_home()
    inbox = os.environ.get("TRADEML_INBOX", str(home / "demo_data"))
    sql_url = os.environ.get("TRADEML_SQL_URL", f"sqlite:///{Path(inbox) / 'labeling.sqlite'}") or None
    return {
        "lake": LakeResource(root=os.environ.get("TRADEML_LAKE", str(home / "lake"))),
        "message_sources": MessageSourcesResource(
            inbox=inbox, sql_url=sql_url, sql_table=os.environ.get("TRADEML_SQL_TABLE", "messages")
        ),
        "market_sources": MarketSourcesResource(root=inbox),
    }
