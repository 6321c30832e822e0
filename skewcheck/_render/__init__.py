"""Renderings of the reports (JSON and polars, terminal text, HTML); they read the model only."""
