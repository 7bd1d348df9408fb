"""LLM labelling of chat messages over any OpenAI-compatible endpoint: grounded, cached, costed.

The test and benchmark server lives in :mod:`trademl.llm.fake_server` (not imported here).
"""

from trademl.llm.cache import LabelCache
from trademl.llm.client import (
    ChatClient,
    ChatResult,
    LLMAuthError,
    LLMEndpoint,
    LLMEndpointError,
    MalformedAnswer,
)
from trademl.llm.labeler import ANSWER_SCHEMA, PROMPT_VERSION, LabelRun, LLMLabeler

__all__ = [
    "ANSWER_SCHEMA",
    "PROMPT_VERSION",
    "ChatClient",
    "ChatResult",
    "LLMAuthError",
    "LLMEndpoint",
    "LLMEndpointError",
    "LLMLabeler",
    "LabelCache",
    "LabelRun",
    "MalformedAnswer",
]
