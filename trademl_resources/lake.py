"""The lake as a Dagster resource."""

import dagster as dg

from trademl.lake import Lake


class LakeResource(dg.ConfigurableResource):
    """Where every artifact lives: raw partitions, quarantine, exports, models, reports."""

    root: str = "var/lake"

    def lake(self) -> Lake:
        return Lake(self.root)
