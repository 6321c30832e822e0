"""The peer: Evidently's DataDriftPreset on two parquet files, run as a user would run it.

Usage: python evidently_drift.py REFERENCE.parquet CURRENT.parquet RESULT.json

Reads both files with pandas, runs ``Report([DataDriftPreset()], include_tests=True)`` (current
first, reference second: Evidently's order), serialises the snapshot to JSON (so every result is
really computed) and writes, per column, Evidently's method, drift score, threshold and its own
verdict (the status of its per-column drift test), plus its count of drifted columns.
benchmarks/run.py starts this in a fresh process and measures its wall time and peak memory.
"""

from __future__ import annotations

import json
import sys

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset

VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
DRIFTED_COUNT = "evidently:metric_v2:DriftedColumnsCount"
DRIFT_TEST = "evidently:bound_test:ValueDriftBoundTest"


def drift_by_column(snapshot: dict) -> dict:
    """Method, score, threshold and verdict per column, from Evidently's snapshot dict."""
    columns = {}
    drifted_count = None
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"] == VALUE_DRIFT:
            columns[config["column"]] = {
                "method": config["method"],
                "score": metric["value"],
                "threshold": config["threshold"],
                "drifted": None,
            }
        elif config["type"] == DRIFTED_COUNT:
            drifted_count = int(metric["value"]["count"])
    for test in snapshot["tests"]:
        if test["bound_test"]["type"] == DRIFT_TEST:
            column = test["metric_config"]["params"]["column"]
            columns[column]["drifted"] = test["status"] == "FAIL"
    return {"columns": columns, "drifted_count": drifted_count}


def main(reference_path: str, current_path: str, result_path: str) -> None:
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    snapshot = Report([DataDriftPreset()], include_tests=True).run(current, reference)
    result = drift_by_column(json.loads(snapshot.json()))
    with open(result_path, "w", encoding="utf-8") as out:
        json.dump(result, out, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:])
