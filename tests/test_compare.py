"""skewcheck.compare: row-level agreement, distributions, schema gaps, and the report."""

import json
import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.stats

import skewcheck
from skewcheck import Cause, Reason


def _frames(rows=500, seed=0):
    rng = np.random.default_rng(seed)
    offline = pl.DataFrame(
        {
            "user_id": np.arange(rows),
            "spend": rng.gamma(2.0, 20.0, rows),
            "visits": rng.poisson(5, rows),
            "country": rng.choice(["DE", "FR", "US"], rows),
        }
    )
    return offline, offline.clone()


def test_identical_frames_pass_with_no_mismatch():
    offline, online = _frames()
    report = skewcheck.compare(offline, online, keys="user_id")
    assert report.passed
    assert {f.name for f in report.features} == {"spend", "visits", "country"}
    for feature in report.features:
        assert not feature.skewed
        assert feature.values.mismatched == 0
        assert feature.values.compared == 500
    assert report.rows.matched == 500 and report.rows.offline_only == 0 and report.rows.online_only == 0


def test_scale_on_a_few_rows_is_found_row_by_row_with_examples():
    offline, online = _frames()
    online = online.with_columns(
        pl.when(pl.col("user_id") % 50 == 0).then(pl.col("spend") * 100).otherwise(pl.col("spend")).alias("spend")
    )
    report = skewcheck.compare(offline, online, keys=["user_id"])
    spend = report["spend"]
    assert spend.skewed and Reason.VALUES in spend.reasons
    assert spend.values.mismatched == 10
    assert spend.values.mismatch_rate == pytest.approx(10 / 500)
    assert [e.key["user_id"] for e in spend.values.examples] == [0, 50, 100, 150, 200]
    example = spend.values.examples[1]
    assert example.online == pytest.approx(example.offline * 100)
    assert not report["visits"].skewed
    assert report.features[0].name == "spend"  # most skewed first
    assert not report.passed


def test_tolerances_decide_what_agrees():
    offline = pl.DataFrame({"k": [1, 2, 3], "x": [100.0, 100.0, 100.0]})
    online = pl.DataFrame({"k": [1, 2, 3], "x": [100.0, 100.5, 102.0]})
    strict = skewcheck.compare(offline, online, keys="k")["x"].values
    assert strict.mismatched == 2 and strict.max_abs_diff == pytest.approx(2.0)
    assert skewcheck.compare(offline, online, keys="k", abs_tol=0.5)["x"].values.mismatched == 1
    assert skewcheck.compare(offline, online, keys="k", rel_tol=0.02)["x"].values.mismatched == 0
    lenient = skewcheck.compare(offline, online, keys="k", max_mismatch_rate=0.7)
    assert not lenient["x"].skewed or Reason.VALUES not in lenient["x"].reasons


def test_null_and_nan_are_distinct_kinds_of_mismatch():
    nan = float("nan")
    offline = pl.DataFrame({"k": [1, 2, 3, 4, 5, 6], "x": [1.0, None, nan, nan, None, 2.0]})
    online = pl.DataFrame({"k": [1, 2, 3, 4, 5, 6], "x": [None, 1.0, nan, None, None, nan]})
    values = skewcheck.compare(offline, online, keys="k")["x"].values
    # k=1 null online only; k=2 null offline only; k=3 NaN = NaN agrees; k=4 NaN vs null is a null
    # mismatch; k=5 null = null agrees; k=6 2.0 vs NaN is a value mismatch.
    assert values.null_online_only == 2
    assert values.null_offline_only == 1
    assert values.mismatched == 4


def test_row_counts_with_unmatched_and_duplicate_keys():
    offline = pl.DataFrame({"k": [1, 2, 3, 4, 4], "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    online = pl.DataFrame({"k": [2, 3, 4, 9, 9, 9], "x": [2.0, 3.0, 4.0, 0.0, 0.0, 0.0]})
    rows = skewcheck.compare(offline, online, keys="k").rows
    assert (rows.offline, rows.online, rows.matched) == (5, 6, 3)
    assert (rows.offline_only, rows.online_only) == (1, 1)
    assert (rows.duplicate_keys_offline, rows.duplicate_keys_online) == (1, 2)


def test_keys_and_timestamp_join_exactly():
    ts = pl.datetime(2026, 1, 1, time_zone="UTC")
    offline = pl.DataFrame({"k": [1, 1, 2], "h": [0, 1, 0], "x": [1.0, 2.0, 3.0]}).with_columns(
        t=ts + pl.duration(hours=pl.col("h"))
    )
    online = offline.with_columns(pl.col("t").dt.convert_time_zone("Europe/Berlin"))  # same instants
    report = skewcheck.compare(offline.drop("h"), online.drop("h"), keys="k", timestamp="t")
    assert report.rows.matched == 3 and report.passed
    shifted = online.with_columns(pl.col("t") + pl.duration(hours=5))
    report = skewcheck.compare(offline.drop("h"), shifted.drop("h"), keys="k", timestamp="t")
    assert report.rows.matched == 0 and not report.passed
    assert "no rows matched" in report.warnings[0]


def test_width_alone_is_not_skew():
    offline = pl.DataFrame({"k": [1, 2, 3], "x": [0.1, 1 / 3, 193.4], "n": [1, 2, 3]})
    online = offline.with_columns(pl.col("x").cast(pl.Float32), pl.col("n").cast(pl.Int32))
    report = skewcheck.compare(offline, online, keys="k")
    assert report.passed
    assert report["x"].dtype_offline == "Float64" and report["x"].dtype_online == "Float32"
    assert any("the values decide" in note for note in report["x"].notes)


def test_missing_and_all_null_features_are_skewed_with_cause_missing():
    offline = pl.DataFrame({"k": [1, 2], "x": [1.0, 2.0], "gone": [1, 2], "empty": [1.0, 2.0]})
    online = pl.DataFrame(
        {"k": [1, 2], "x": [1.0, 2.0], "empty": [None, None], "new": ["a", "b"]}, schema_overrides={"empty": pl.Float64}
    )
    report = skewcheck.compare(offline, online, keys="k")
    for name in ("gone", "empty", "new"):
        assert report[name].skewed and report[name].diagnosis.cause is Cause.MISSING, name
    assert "absent from the online" in report["gone"].diagnosis.detail
    assert "all null in the online" in report["empty"].diagnosis.detail
    assert not report["x"].skewed


def test_different_kinds_of_type_are_skew():
    offline = pl.DataFrame({"k": [1, 2, 3], "x": [42, 7, 1]})
    online = pl.DataFrame({"k": [1, 2, 3], "x": ["42", "7", "1"]})
    feature = skewcheck.compare(offline, online, keys="k")["x"]
    assert feature.skewed and Reason.TYPE in feature.reasons
    assert feature.values.mismatched == 0  # the same values, as text


def test_categorical_domain_gap_is_reported():
    offline = pl.DataFrame({"c": ["a", "b", "c"] * 10})
    online = pl.DataFrame({"c": ["a", "b", "z"] * 10})
    domain = skewcheck.compare(offline, online)["c"].domain
    assert domain.offline_only == ("c",) and domain.online_only == ("z",)


def test_distribution_only_without_keys_matches_scipy():
    rng = np.random.default_rng(1)
    offline = pl.DataFrame({"x": rng.normal(0, 1, 5000)})
    online = pl.DataFrame({"x": rng.normal(0.5, 1, 4000)})
    report = skewcheck.compare(offline, online)
    x = report["x"]
    assert x.values is None and report.rows is None
    assert x.distribution.test == "wasserstein"
    expected = scipy.stats.wasserstein_distance(offline["x"], online["x"]) / np.std(offline["x"].to_numpy())
    assert x.distribution.statistic == pytest.approx(expected, rel=1e-9)
    assert x.skewed and Reason.DISTRIBUTION in x.reasons


def test_small_samples_use_ks_like_evidently():
    rng = np.random.default_rng(2)
    offline = pl.DataFrame({"x": rng.normal(0, 1, 300)})
    online = pl.DataFrame({"x": rng.normal(0, 1, 300)})
    test = skewcheck.compare(offline, online)["x"].distribution
    assert test.test == "ks"
    assert test.p_value == pytest.approx(scipy.stats.ks_2samp(offline["x"], online["x"]).pvalue)


def test_null_rate_gap_is_skew():
    offline = pl.DataFrame({"x": [1.0] * 90 + [None] * 10})
    online = pl.DataFrame({"x": [1.0] * 70 + [None] * 30})
    x = skewcheck.compare(offline, online)["x"]
    assert x.nulls.offline_rate == pytest.approx(0.1) and x.nulls.online_rate == pytest.approx(0.3)
    assert Reason.NULLS in x.reasons


@pytest.mark.parametrize("kind", ["parquet", "csv", "ndjson", "pandas", "pyarrow", "lazy"])
def test_every_input_kind_gives_the_same_report(tmp_path, kind):
    offline, online = _frames(rows=200)
    online = online.with_columns(pl.col("spend").round(1))
    expected = skewcheck.compare(offline, online, keys="user_id").to_dict()

    def convert(frame, name):
        if kind in ("parquet", "csv", "ndjson"):
            path = tmp_path / f"{name}.{kind}"
            getattr(frame, f"write_{kind}")(path)
            return path
        return {"pandas": frame.to_pandas, "pyarrow": frame.to_arrow, "lazy": frame.lazy}[kind]()

    got = skewcheck.compare(convert(offline, "off"), convert(online, "on"), keys="user_id").to_dict()
    for report in (got, expected):
        report.pop("offline"), report.pop("online")
        for feature in report["features"]:
            feature.pop("dtype")  # CSV reads visits back as Int64, the frame holds Int64 too; keep it simple
    assert got == expected


def test_json_report_follows_the_contract():
    offline, online = _frames(rows=100)
    online = online.with_columns(pl.col("spend") * 2, pl.lit(float("nan")).alias("visits"))
    data = json.loads(skewcheck.compare(offline, online, keys="user_id", timestamp=None).to_json())
    assert data["schema_version"] == 2 and data["skewcheck_version"] == skewcheck.__version__
    assert data["passed"] is False and data["keys"] == ["user_id"] and data["timestamp"] is None
    assert set(data["rows"]) >= {
        "offline",
        "online",
        "matched",
        "offline_only",
        "online_only",
        "duplicate_keys_offline",
        "duplicate_keys_online",
        "diagnosis",
    }
    spend = next(f for f in data["features"] if f["name"] == "spend")
    assert set(spend) >= {"name", "skewed", "dtype", "values", "distribution", "nulls", "diagnosis"}
    assert set(spend["values"]) >= {
        "compared",
        "mismatched",
        "mismatch_rate",
        "null_offline_only",
        "null_online_only",
        "max_abs_diff",
        "examples",
    }
    assert set(spend["distribution"]) == {"test", "statistic", "threshold", "p_value", "drifted"}
    assert spend["values"]["examples"][0]["key"] == {"user_id": 0}


def test_report_renders_as_table_html_and_polars(tmp_path):
    offline, online = _frames(rows=300)
    online = online.with_columns(pl.col("spend") * 3)
    report = skewcheck.compare(offline, online, keys="user_id")
    text = report.summary()
    assert "SKEW FOUND" in text and text.index("spend") < text.index("visits")
    html = report.to_html(tmp_path / "r.html")
    assert (tmp_path / "r.html").read_text() == html
    assert html.count("data:image/png;base64,") == 1  # one skewed feature, one figure
    assert "http://" not in html and "https://" not in html  # self-contained
    assert "<html" in html and "<html" not in report._repr_html_()
    table = report.to_polars()
    assert table.height == 3 and table.filter(pl.col("skewed"))["feature"].to_list() == ["spend"]


def test_constant_and_degenerate_features_warn_but_do_not_crash():
    offline = pl.DataFrame(
        {"k": [1, 2, 3], "c": [5.0, 5.0, 5.0], "n": [None, None, None]}, schema_overrides={"n": pl.Float64}
    )
    with pytest.warns(skewcheck.SkewcheckWarning):
        report = skewcheck.compare(offline, offline.clone(), keys="k")
    assert report.passed
    assert not math.isnan(report["c"].distribution.statistic)


def test_pandas_nullable_and_categorical_columns_load():
    offline = pd.DataFrame(
        {"k": [1, 2, 3], "x": pd.array([1, None, 3], dtype="Int64"), "c": pd.Categorical(["a", "b", "a"])}
    )
    report = skewcheck.compare(offline, offline.copy(), keys="k")
    assert report.passed and report["c"].kind == "categorical"
    assert report["x"].nulls.offline_rate == pytest.approx(1 / 3)


def test_a_numeric_test_for_all_features_leaves_categorical_ones_their_default():
    frame = pl.DataFrame({"c": ["a", "b"] * 10, "x": [1.0, 2.0] * 10})
    report = skewcheck.compare(frame, frame, tests="wasserstein")
    assert report["x"].distribution.test == "wasserstein"
    assert report["c"].distribution.test == "chisquare"
    with pytest.raises(skewcheck.SkewcheckInputError, match="'c' is categorical"):
        skewcheck.compare(frame, frame, tests={"c": "ks"})


def test_a_profile_stands_in_for_the_offline_data(tmp_path):
    offline, online = _frames(rows=3000)
    shifted = online.with_columns(pl.col("spend") * 3)
    path = tmp_path / "profile.json"
    skewcheck.profile(offline).to_json(path)
    assert skewcheck.compare(path, online).passed
    report = skewcheck.compare(path, shifted)
    assert [f.name for f in report.skewed] == ["spend"]


@pytest.mark.parametrize("asof", [False, True])
def test_a_join_slower_than_the_distribution_tests_changes_nothing(monkeypatch, asof):
    """The join runs while the first features are tested: however late it ends, the report is the same."""
    import time

    from skewcheck import _compare

    rng = np.random.default_rng(5)
    n = 3000
    offline = pl.DataFrame(
        {
            "id": np.arange(n) % 300,
            "ts": pl.datetime_range(
                pl.datetime(2026, 1, 1), pl.datetime(2026, 1, 1) + pl.duration(hours=n - 1), "1h", eager=True
            ),
            **{f"x{i}": rng.normal(i, 1, n) for i in range(6)},
        }
    )
    online = offline.sample(fraction=0.9, seed=1).with_columns(pl.col("x0") * 1.5, pl.col("x3").round(1))
    options = {"keys": "id", "timestamp": "ts", "asof": asof}
    expected = skewcheck.compare(offline, online, **options).to_dict()
    real_align = _compare.align

    def slow_align(*args, **kwargs):
        time.sleep(0.5)
        return real_align(*args, **kwargs)

    monkeypatch.setattr(_compare, "align", slow_align)
    assert skewcheck.compare(offline, online, **options).to_dict() == expected
    assert expected["features"][0]["values"]["mismatched"] > 0
    if asof:  # the distributions are those of the offline rows that were served, not of the history
        served = offline.join(online.select("id", "ts"), on=["id", "ts"], how="semi")
        exact = skewcheck.compare(served, online, keys="id", timestamp="ts").to_dict()
        assert {f["name"]: f["distribution"] for f in expected["features"]} == {
            f["name"]: f["distribution"] for f in exact["features"]
        }


def test_at_most_two_chunks_of_features_are_held_at_once():
    """The next chunk was read while two were still held, a third of the features' memory more."""
    import threading
    import time

    from skewcheck._run import run_features

    names = [f"f{i}" for i in range(12)]
    held, most, lock = {}, [0], threading.Lock()

    def read(chunk):
        with lock:
            held[tuple(chunk)] = len(chunk)
            most[0] = max(most[0], len(held))
        return {name: name for name in chunk}, {}

    def judge(name, offline, online):
        time.sleep(0.02)
        with lock:
            chunk = next(c for c in held if name in c)
            held[chunk] -= 1
            if not held[chunk]:
                del held[chunk]
        return name

    results, _ = run_features(names, 10**9, read, judge, progress=False)  # 10**9 rows: WORKERS features a chunk
    assert results == names and held == {}
    assert most[0] == 2
