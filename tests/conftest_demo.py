import pytest

from trademl.demo import generate_demo_data
from trademl_resources import (
    LakeResource,
    LLMResource,
    MarketSourcesResource,
    MessageSourcesResource,
    ModelRegistryResource,
    TrainingResource,
)


@pytest.fixture(scope="session")
def demo_inbox(tmp_path_factory):
    """A small seeded demo inbox (2 days), shared by the asset and job tests."""
    inbox = tmp_path_factory.mktemp("inbox")
    generate_demo_data(inbox, seed=11, days=2, messages_per_channel_per_day=12)
    return inbox


@pytest.fixture
def resources(demo_inbox, tmp_path):
    return {
        "lake": LakeResource(root=str(tmp_path / "lake")),
        "message_sources": MessageSourcesResource(
            inbox=str(demo_inbox), sql_url=f"sqlite:///{demo_inbox}/labeling.sqlite"
        ),
        "market_sources": MarketSourcesResource(root=str(demo_inbox)),
        "registry": ModelRegistryResource(root=str(tmp_path / "lake" / "models")),
        "llm": LLMResource(),
        "training": TrainingResource(),
    }
