"""The benchmark harness runs end to end on tiny data, so `make bench` cannot rot.

Never asserts on speed: timings on a shared machine say nothing about correctness.
"""

import json
import subprocess
import sys
from pathlib import Path

import polars as pl

import skewcheck

ROOT = Path(__file__).resolve().parents[1]
# Above 1,000 reference rows both tools pick the normalised Wasserstein distance; 6 features
# hold two drifted ones (f02, f05) and every planted row-level skew (f00..f04).
ROWS, FEATURES = 2000, 6


def test_quick_run_prints_the_table_and_writes_json_that_agrees_with_evidently_and_duckdb(tmp_path):
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
    rows = by_item["rows"]
    assert rows["peer_s"] > 0 and rows["peer_mb"] > 0  # DuckDB ran, measured as its own process
    assert rows["details"]["duckdb_counts"] == {"passed": True, "problems": [], "features": FEATURES}
    assert rows["details"]["time_vs_duckdb"] == rows["skewcheck_s"] / rows["peer_s"]
    assert "counts agree with DuckDB: PASSED" in completed.stdout
    assert all(result["met"] is None for result in results["results"])  # tiny data: targets not judged


def duckdb_counts(tmp_path, offline: pl.DataFrame, online: pl.DataFrame) -> dict:
    paths = [tmp_path / "offline.parquet", tmp_path / "online.parquet"]
    for frame, path in zip((offline, online), paths):
        frame.write_parquet(path)
    result = tmp_path / "duckdb.json"
    command = [sys.executable, "benchmarks/duckdb_rows.py", *map(str, paths), str(result), "--key", "id"]
    subprocess.run(command, check=True, cwd=ROOT, timeout=120)
    return json.loads(result.read_text())


def test_duckdb_peer_counts_what_skewcheck_counts_on_nulls_nans_infinities_and_tolerance(tmp_path):
    offline = pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6, 7, 8],
            "x": [1.0, None, float("nan"), float("inf"), 1e9, 2.0, 5.0, None],
            "n": [1, 2, None, 4, 5, 6, 7, 8],
        }
    )
    online = pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6, 7, 9],
            "x": [1.0, 3.0, float("nan"), float("inf"), 1e9 + 0.5, None, 5.5, 1.0],
            "n": [1, 2, 3, 5, 5, None, 7, 8],
        }
    )
    peer = duckdb_counts(tmp_path, offline, online)
    report = skewcheck.compare(offline, online, keys="id").to_dict()

    assert peer["rows"] == {name: report["rows"][name] for name in peer["rows"]}
    assert peer["rows"]["offline_only"] == peer["rows"]["online_only"] == 1
    for feature in report["features"]:
        theirs, values, nulls = peer["features"][feature["name"]], feature["values"], feature["nulls"]
        for key in ("compared", "mismatched", "null_offline_only", "null_online_only", "max_abs_diff"):
            assert theirs[key] == values[key], (feature["name"], key)
        assert (theirs["offline_null_rate"], theirs["online_null_rate"]) == (
            nulls["offline_rate"],
            nulls["online_rate"],
        )
        assert (theirs["offline_nan_rate"], theirs["online_nan_rate"]) == (
            nulls["offline_nan_rate"],
            nulls["online_nan_rate"],
        )
    # x: 2 null on one side, 6 null on the other, 7 beyond tolerance; 1e9 + 0.5 is within 1e-9 relative
    assert peer["features"]["x"]["mismatched"] == 3
    assert peer["features"]["n"]["mismatched"] == 3  # 3 null offline, 4 != 5, 6 null online


def test_quick_scale_run_compares_datasets_capped_and_on_dask(tmp_path):
    results_path = tmp_path / "scale.json"
    command = [
        sys.executable,
        "benchmarks/scale.py",
        "--quick",
        "--work-dir",
        str(tmp_path),
        "--json",
        str(results_path),
    ]
    completed = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=600)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = {(r["item"], r["rows"]): r for r in json.loads(results_path.read_text())["results"]}
    assert {item for item, _ in results} == {"linear", "capped", "dask"}
    for result in results.values():  # each ran: a report was written and compared, none "not available"
        assert result["seconds"] > 0 and result["peak_mb"] > 0, result
    assert results["capped", 40_000]["note"].endswith("report identical to the uncapped run")
    assert (tmp_path / "scale_report_r40000_dask.json").exists()
    # every size reads a directory of 10,000-row files: 2 and 4 of them a side
    assert sorted(p.name for p in (tmp_path / "scale_sets/c10000_r40000/online").iterdir()) == [
        f"part-{i:05d}.parquet" for i in range(4)
    ]
