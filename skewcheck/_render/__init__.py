"""Renderings of the reports (JSON and polars, terminal text, HTML): they read the model, compute
nothing, and write report files through `_io`."""
