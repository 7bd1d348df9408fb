"""Dagster resources: the outside world (lake, message and market sources), configured in one place."""

from trademl_resources.environment import default_resources, trademl_home
from trademl_resources.lake import LakeResource
from trademl_resources.models import LLMResource, ModelRegistryResource, TrainingResource
from trademl_resources.sources import MarketSourcesResource, MessageSourcesResource

__all__ = [
    "LLMResource",
    "LakeResource",
    "ModelRegistryResource",
    "TrainingResource",
    "MarketSourcesResource",
    "MessageSourcesResource",
    "default_resources",
    "trademl_home",
]
