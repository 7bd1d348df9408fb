"""trademl: the domain library (parsing, labelling, datasets, training, serving). Imports no Dagster."""

__version__ = "0.1.0"
