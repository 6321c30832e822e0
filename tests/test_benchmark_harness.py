"""The benchmark harness runs end to end on tiny data, so `make bench` cannot rot.

Never asserts on speed: timings on a shared machine say nothing about correctness.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Above 1,000 reference rows both tools pick the normalised Wasserstein distance; 6 features
# hold two drifted ones (f02, f05) and every planted row-level skew (f00..f04).
ROWS, FEATURES = 2000, 6


def test_quick_run_prints_the_table_and_writes_json_that_agrees_with_evidently(tmp_path):
    results_path = tmp_path / "results.json"
    command = [
        sys.executable,
        "benchmarks/run.py",
        "--quick",
        "--rows",
        str(ROWS),
        "--features",
        str(FEATURES),
        "--work-dir",
        str(tmp_path / "work"),
        "--json",
        str(results_path),
    ]
    completed = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert completed.returncode == 0, completed.stderr
    header = next(line for line in completed.stdout.splitlines() if line.startswith("item"))
    for column in ("skewcheck s", "peer s", "speed ratio", "skewcheck MB", "peer MB", "memory ratio", "target", "met?"):
        assert column in header
    assert "agreement with Evidently: PASSED" in completed.stdout
    assert completed.stdout.startswith("machine: ")

    results = json.loads(results_path.read_text())
    assert results["agreement_passed"] is True
    assert results["failures"] == []
    by_item = {result["item"]: result for result in results["results"]}
    assert set(by_item) >= {"distribution", "rows", "diagnosis", "profile"}
    agreement = by_item["distribution"]["details"]["agreement"]
    assert agreement["drifted_skewcheck"] == agreement["drifted_evidently"] == ["f02", "f05"]
    assert agreement["max_relative_difference"] <= 1e-6
    assert by_item["distribution"]["peer_s"] > 0 and by_item["distribution"]["skewcheck_mb"] > 0
    assert by_item["rows"]["details"]["mismatched"] == ["f00", "f01", "f02", "f03", "f04"]
    assert all(result["met"] is None for result in results["results"])  # tiny data: targets not judged
