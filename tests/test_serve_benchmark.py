"""The serving-overhead benchmark (benchmarks/serve_logging.py) runs end to end on a few requests,
so `make bench` cannot rot. Never asserts on speed: timings on a shared machine say nothing."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("feast")
ROOT = Path(__file__).resolve().parents[1]


def test_quick_run_measures_both_servers_and_checks_every_row_was_logged(tmp_path):
    results = tmp_path / "serve.json"
    completed = subprocess.run(
        [
            sys.executable,
            "benchmarks/serve_logging.py",
            "--requests",
            "40",
            "--clients",
            "4",
            "--rounds",
            "1",
            "--json",
            str(results),
        ],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "without logging: p50" in completed.stdout and "with    logging: p50" in completed.stdout
    data = json.loads(results.read_text())
    assert data["requests"] == 40 and set(data["p99_ms"]) == {"without", "with"}
    assert all(value > 0 for value in [*data["p50_ms"].values(), *data["p99_ms"].values()])
    assert data["rows_logged_per_second"] > 0 and data["log_capacity_rows_per_second"] > 0
