"""The lake as a Dagster resource."""

import dagster as dg

from trademl.lake import Lake


class LakeResource(dg.ConfigurableResource):
    """Where every artifact lives: raw partitions, quarantine, exports, models, reports.

    ``root`` is a folder, a ``file://`` URL or any fsspec URL (``s3://bucket/lake``, ``gs://``,
    ``abfs://``; the store's fsspec package installed, its credentials in its usual environment).
    """

    root: str = "var/lake"

    def lake(self) -> Lake:
        return Lake(self.root)
