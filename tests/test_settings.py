"""The library checks its own arguments, before reading data, naming the Python parameter."""

import ast
import math
import re
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

import skewcheck
from skewcheck import SkewcheckInputError
from skewcheck._cli import main

# A path that does not exist: an argument error must come first, before any data is read.
MISSING = "/nonexistent/offline.parquet"
FRAME = pl.DataFrame({"k": [1, 2, 3], "x": [1.0, 2.0, 3.0]})

BAD_COMPARE = {
    "unknown test": ({"tests": "bogus"}, "tests"),
    "test mapping to an unknown test": ({"tests": {"x": "bogus"}}, "tests"),
    "tests as a list": ({"tests": ["ks"]}, "tests"),
    "negative absolute tolerance": ({"abs_tol": -5}, "abs_tol"),
    "NaN relative tolerance": ({"rel_tol": math.nan}, "rel_tol"),
    "infinite relative tolerance": ({"rel_tol": math.inf}, "rel_tol"),
    "tolerance as text": ({"abs_tol": "0.1"}, "abs_tol"),
    "mismatch rate above 1": ({"max_mismatch_rate": 7}, "max_mismatch_rate"),
    "mismatch rate of 5 (it passed a 100% mismatch)": ({"max_mismatch_rate": 5}, "max_mismatch_rate"),
    "null rate tolerance below 0": ({"null_rate_tolerance": -0.1}, "null_rate_tolerance"),
    "negative examples": ({"examples": -1}, "examples"),
    "fractional examples": ({"examples": 2.5}, "examples"),
    "features as a string (became ['a', 'b'])": ({"features": "ab"}, "features"),
    "a feature that is not a name": ({"features": ["x", 3]}, "features"),
    "key repeated": ({"keys": ["k", "k"]}, "keys"),
    "key as a number": ({"keys": 5}, "keys"),
    "empty key name": ({"keys": [""]}, "keys"),
    "timestamp without keys": ({"keys": None, "timestamp": "ts"}, "timestamp"),
    "timestamp that is a key": ({"timestamp": "k"}, "timestamp"),
    "as-of without a timestamp": ({"asof": True}, "asof"),
    "as-of tolerance without as-of": ({"timestamp": "ts", "asof_tolerance": "1d"}, "asof_tolerance"),
    "as-of tolerance in parsecs": ({"timestamp": "ts", "asof": True, "asof_tolerance": "3 parsecs"}, "asof_tolerance"),
    "as-of tolerance in months": ({"timestamp": "ts", "asof": True, "asof_tolerance": "1mo"}, "asof_tolerance"),
    "negative as-of tolerance": ({"timestamp": "ts", "asof": True, "asof_tolerance": timedelta(-1)}, "asof_tolerance"),
    "diagnose as text": ({"diagnose": "no"}, "diagnose"),
    "progress as a number": ({"progress": 1}, "progress"),
}


@pytest.mark.parametrize("case", list(BAD_COMPARE))
def test_compare_checks_its_arguments_before_reading_data(case):
    options, parameter = BAD_COMPARE[case]
    with pytest.raises(SkewcheckInputError) as error:
        skewcheck.compare(MISSING, FRAME, **{"keys": "k", **options})
    assert error.value.parameter == parameter
    message = str(error.value)
    assert re.search(rf"\b{parameter}\b", message), message
    assert "--" not in message and "\n" not in message  # Python names, one line
    assert "nonexistent" not in message  # the data was not touched


def test_compare_accepts_what_its_docstring_promises():
    """The checks refuse nothing valid: numpy numbers, a key as a string, a tests mapping, a timedelta."""
    import numpy as np

    report = skewcheck.compare(
        FRAME,
        FRAME,
        keys="k",
        abs_tol=np.float64(0.0),
        rel_tol=0,
        max_mismatch_rate=1,
        examples=np.int64(3),
        tests={"x": "ks"},
        features=("x", "x"),
    )
    assert report.passed and [f.name for f in report.features] == ["x"]
    assert skewcheck.compare(FRAME, FRAME, keys=FRAME.to_pandas().columns[:1]).rows.matched == 3  # a pandas Index
    history = FRAME.with_columns(ts=pl.datetime(2026, 1, 1))
    report = skewcheck.compare(
        history, history, keys=["k"], timestamp="ts", asof=True, asof_tolerance=timedelta(days=1)
    )
    assert report.rows.matched == 3
    assert skewcheck.compare(history, history, keys=["k"], timestamp="ts", asof=True, asof_tolerance="1d12h").passed


def test_a_tests_mapping_is_checked_before_the_work_starts():
    """It raised a bare ValueError from a worker thread, after loading and aligning."""
    with pytest.raises(SkewcheckInputError, match="tests maps 'x' to 'bogus'"):
        skewcheck.compare(MISSING, FRAME, keys="k", tests={"x": "bogus"})


def test_library_names_parameters_and_the_cli_names_flags(tmp_path, capsys):
    """compare(a, a, timestamp="x") said "--timestamp 'x' needs at least one --key"."""
    with pytest.raises(SkewcheckInputError) as error:
        skewcheck.compare(FRAME, FRAME, timestamp="x")
    assert str(error.value) == "timestamp 'x' needs at least one key column to join on; pass keys"
    path = tmp_path / "a.parquet"
    FRAME.write_parquet(path)
    assert main(["compare", str(path), str(path), "--timestamp", "x"]) == 2
    assert (
        capsys.readouterr().err
        == "skewcheck: error: --timestamp 'x' needs at least one key column to join on; pass --key\n"
    )
    assert main(["compare", str(path), str(path), "--key", "k", "--test", "bogus"]) == 2
    assert capsys.readouterr().err.startswith("skewcheck: error: --test 'bogus' is not a known test")


BAD_PIT = {
    "ttl in parsecs": ({"ttl": "3 parsecs"}, "ttl"),
    "ttl of zero": ({"ttl": "0d"}, "ttl"),
    "ttl as a number": ({"ttl": 7}, "ttl"),
    "no feature time": ({"feature_time": []}, "feature_time"),
    "event time not a name": ({"event_time": None}, "event_time"),
    "key repeated": ({"keys": ["k", "k"]}, "keys"),
    "negative examples": ({"examples": -1}, "examples"),
    "features source without keys": ({"features_source": FRAME}, "features_source"),
}


@pytest.mark.parametrize("case", list(BAD_PIT))
def test_pit_checks_its_arguments_before_reading_data(case):
    options, parameter = BAD_PIT[case]
    arguments = {"event_time": "event_timestamp", "feature_time": "feature_timestamp", **options}
    with pytest.raises(SkewcheckInputError) as error:
        skewcheck.audit_point_in_time(MISSING, **arguments)
    assert error.value.parameter == parameter
    assert "--" not in str(error.value) and "nonexistent" not in str(error.value)


def test_profile_functions_check_their_arguments():
    with pytest.raises(SkewcheckInputError) as error:
        skewcheck.profile(MISSING, features="ab")
    assert error.value.parameter == "features"
    part = skewcheck.profile(FRAME)
    for profiles in ([part, "other.json"], part, "a.json", []):
        with pytest.raises(SkewcheckInputError) as error:
            skewcheck.merge_profiles(profiles)
        assert error.value.parameter == "profiles"
    for options, parameter in (
        ({"tests": "bogus"}, "tests"),
        ({"null_rate_tolerance": 2}, "null_rate_tolerance"),
        ({"features": "ab"}, "features"),
    ):
        with pytest.raises(SkewcheckInputError) as error:
            skewcheck.compare_profile(part, MISSING, **options)
        assert error.value.parameter == parameter
    with pytest.raises(SkewcheckInputError) as error:
        skewcheck.compare_profile(42, FRAME)
    assert error.value.parameter == "profile"


def test_feast_entry_points_check_their_arguments_before_querying_the_store():
    pytest.importorskip("feast")
    from skewcheck.feast import compare_logged, compare_store

    no_store = object()  # never touched: the arguments fail first
    for entry in (compare_store, compare_logged):
        for options, parameter in (
            ({"abs_tol": -1}, "abs_tol"),
            ({"tests": "bogus"}, "tests"),
            ({"keys": ["k"]}, "keys"),
            ({"timestamp": None}, "timestamp"),
            ({"no_such_option": 1}, "no_such_option"),
        ):
            with pytest.raises(SkewcheckInputError) as error:
                entry(no_store, FRAME, ["view:x"], **options)
            assert error.value.parameter == parameter


def test_settings_is_a_leaf_and_the_single_source_of_test_names():
    source = Path(skewcheck.__file__).with_name("_settings.py").read_text()
    relative = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom) and node.level}
    assert relative == {"_errors"}
    from skewcheck import _settings, _stats

    assert _stats.TESTS is _settings.TESTS and _stats.NUMERIC_ONLY_TESTS is _settings.NUMERIC_ONLY_TESTS


def test_a_missing_key_column_is_worded_for_each_audience(tmp_path, capsys):
    with pytest.raises(SkewcheckInputError, match="pass keys with one of them") as error:
        skewcheck.compare(FRAME, FRAME, keys="user")
    assert error.value.parameter == "keys"
    path = tmp_path / "a.parquet"
    FRAME.write_parquet(path)
    assert main(["compare", str(path), str(path), "--key", "user"]) == 2
    assert "pass --key with one of them" in capsys.readouterr().err
