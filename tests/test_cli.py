"""The command line: exit codes 0/1/2, reports written, bad input handled in one line."""

import hashlib
import json
import subprocess
import sys
from datetime import datetime, timezone

import polars as pl
import pytest

from skewcheck._cli import main

TS = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _write(tmp_path, name, frame):
    path = tmp_path / name
    {".parquet": frame.write_parquet, ".csv": frame.write_csv, ".ndjson": frame.write_ndjson}[path.suffix](path)
    return path


def _base(rows=50):
    return pl.DataFrame(
        {
            "user_id": list(range(rows)),
            "event_timestamp": [TS] * rows,
            "spend": [float(i) for i in range(rows)],
            "tier": ["a", "b"] * (rows // 2),
        }
    )


@pytest.fixture
def clean_pair(tmp_path):
    return _write(tmp_path, "off.parquet", _base()), _write(tmp_path, "on.parquet", _base())


def test_no_skew_exits_0_and_prints_the_table(clean_pair, capsys):
    off, on = clean_pair
    assert main(["compare", str(off), str(on), "--key", "user_id", "--timestamp", "event_timestamp"]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and "spend" in out and "matched 50" in out


def test_skew_exits_1_and_writes_json_and_html(tmp_path, clean_pair, capsys):
    off, _ = clean_pair
    on = _write(tmp_path, "bad.parquet", _base().with_columns(pl.col("spend") * 100))
    json_path, html_path = tmp_path / "r.json", tmp_path / "r.html"
    code = main(["compare", str(off), str(on), "--key", "user_id", "--json", str(json_path), "--html", str(html_path)])
    assert code == 1
    report = json.loads(json_path.read_text())
    assert report["passed"] is False
    assert [f["name"] for f in report["features"] if f["skewed"]] == ["spend"]
    assert "<html" in html_path.read_text()
    assert "SKEW FOUND" in capsys.readouterr().out


def test_features_option_restricts_the_comparison(tmp_path, clean_pair, capsys):
    off, _ = clean_pair
    on = _write(tmp_path, "bad.parquet", _base().with_columns(pl.col("spend") * 100))
    assert main(["compare", str(off), str(on), "--key", "user_id", "--features", "tier", "--quiet"]) == 0
    assert capsys.readouterr().out == ""


def test_tolerance_options_reach_the_library(tmp_path, clean_pair):
    off, _ = clean_pair
    on = _write(tmp_path, "near.parquet", _base().with_columns(pl.col("spend") + 0.001))
    args = ["compare", str(off), str(on), "--key", "user_id", "--quiet"]
    assert main(args) == 1
    assert main(args + ["--abs-tol", "0.01"]) == 0


def test_demo_exits_0_and_writes_its_report(tmp_path, capsys):
    html = tmp_path / "demo.html"
    assert main(["demo", "--html", str(html), "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "SKEW FOUND" in out and html.exists()
    assert (tmp_path / "data" / "serving_log.parquet").exists()
    for planted in ("avg_purchase_amount", "session_minutes", "days_since_last_purchase", "loyalty_score"):
        line = next(line for line in out.splitlines() if line.startswith(planted))
        assert "SKEW" in line, line
    for clean in ("total_purchases", "country", "discount_rate"):
        line = next(line for line in out.splitlines() if line.startswith(clean))
        assert "ok" in line and "SKEW" not in line, line


def test_console_script_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "skewcheck", "--version"], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.startswith("skewcheck ")


# --- bad input: one line on stderr naming the file and column, exit 2, inputs untouched ---------


def _corrupt(tmp_path):
    path = _write(tmp_path, "corrupt.parquet", _base())
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64
    data[-12:-8] = b"\xff\xff\xff\x7f"  # footer length pointing nowhere
    path.write_bytes(bytes(data))
    return path


BAD_INPUTS = {
    "missing file": (
        lambda t: (t / "nope.parquet", _write(t, "on.parquet", _base())),
        [],
        ["nope.parquet", "no such file"],
    ),
    "corrupt parquet": (
        lambda t: (_corrupt(t), _write(t, "on.parquet", _base())),
        [],
        ["corrupt.parquet", "cannot read"],
    ),
    "empty file": (
        lambda t: ((t / "empty.csv").touch() or t / "empty.csv", _write(t, "on.parquet", _base())),
        [],
        ["empty.csv", "empty"],
    ),
    "zero rows": (
        lambda t: (_write(t, "none.parquet", _base().head(0)), _write(t, "on.parquet", _base())),
        [],
        ["none.parquet", "0 rows"],
    ),
    "unknown type": (
        lambda t: ((t / "x.xlsx").write_text("x") and t / "x.xlsx", _write(t, "on.parquet", _base())),
        [],
        ["x.xlsx", "unknown file type"],
    ),
    "key absent online": (
        lambda t: (_write(t, "off.parquet", _base()), _write(t, "on.parquet", _base().drop("user_id"))),
        ["--key", "user_id"],
        ["on.parquet", "'user_id'"],
    ),
    "timestamp absent offline": (
        lambda t: (_write(t, "off.parquet", _base().drop("event_timestamp")), _write(t, "on.parquet", _base())),
        ["--key", "user_id", "--timestamp", "event_timestamp"],
        ["off.parquet", "'event_timestamp'"],
    ),
    "incompatible key types": (
        lambda t: (
            _write(t, "off.parquet", _base()),
            _write(t, "on.parquet", _base().with_columns(pl.col("user_id").cast(pl.String))),
        ),
        ["--key", "user_id"],
        ["'user_id'", "off.parquet", "on.parquet"],
    ),
    "naive vs aware timestamps": (
        lambda t: (
            _write(t, "off.parquet", _base()),
            _write(t, "on.parquet", _base().with_columns(pl.col("event_timestamp").dt.replace_time_zone(None))),
        ),
        ["--key", "user_id", "--timestamp", "event_timestamp"],
        ["'event_timestamp'", "naive", "on.parquet"],
    ),
    "feature absent on both sides": (
        lambda t: (_write(t, "off.parquet", _base()), _write(t, "on.parquet", _base())),
        ["--features", "spend,nosuch"],
        ["'nosuch'", "off.parquet", "on.parquet"],
    ),
    "no common features": (
        lambda t: (
            _write(t, "off.parquet", _base().select("user_id", "spend")),
            _write(t, "on.parquet", _base().select("user_id", "tier")),
        ),
        ["--key", "user_id"],
        ["no common feature columns", "off.parquet", "on.parquet"],
    ),
    "timestamp without key": (
        lambda t: (_write(t, "off.parquet", _base()), _write(t, "on.parquet", _base())),
        ["--timestamp", "event_timestamp"],
        ["'event_timestamp'", "--key"],
    ),
    "csv with unparsed timestamp": (
        lambda t: (
            _write(t, "off.parquet", _base()),
            _write(t, "on.csv", _base().with_columns(pl.lit("yesterday").alias("event_timestamp"))),
        ),
        ["--key", "user_id", "--timestamp", "event_timestamp"],
        ["on.csv", "'event_timestamp'", "String"],
    ),
}


def _digest(paths):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.exists()}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_one_clear_line_and_exit_2(tmp_path, case, capsys):
    make, options, needles = BAD_INPUTS[case]
    off, on = make(tmp_path)
    before = _digest([off, on])
    code = main(["compare", str(off), str(on), *options, "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("skewcheck: error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in captured.err and captured.out == ""
    assert _digest([off, on]) == before
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize(
    "args",
    [["compare"], ["compare", "a", "b", "--abs-tol", "-1"], ["compare", "a", "b", "--test", "nope"], ["frobnicate"]],
)
def test_usage_errors_exit_2_in_one_line(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        code = main(args)
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("skewcheck: error:")


def test_bad_input_through_the_real_console_script(tmp_path):
    off = _write(tmp_path, "off.parquet", _base())
    result = subprocess.run(
        [sys.executable, "-m", "skewcheck", "compare", str(off), str(tmp_path / "missing.csv")],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "missing.csv" in result.stderr
