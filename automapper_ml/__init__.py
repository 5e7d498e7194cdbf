"""automapper's pure ML library: formats, tokenizer, audio, data, models, training,
generation and evaluation. It never imports Dagster (see automapper_assets for that)."""

__version__ = "0.1.0"
