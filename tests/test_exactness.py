"""Regression tests of issue 9: exact comparisons, skew against drift, diagnoses programs can read."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

import skewcheck
from skewcheck import Cause, SkewcheckInputError
from skewcheck._cli import main

INF = float("inf")


def _values(offline, online, dtype=None, **options):
    off = pl.DataFrame({"k": list(range(len(offline))), "x": pl.Series(offline, dtype=dtype)})
    on = pl.DataFrame({"k": list(range(len(online))), "x": pl.Series(online, dtype=dtype)})
    return skewcheck.compare(off, on, keys="k", **options)["x"]


# --- false passes: exact where the types are exact ---------------------------------------


@pytest.mark.parametrize("rel_tol", [1e-9, 0.0])
def test_an_infinity_equals_only_the_same_infinity(rel_tol):
    feature = _values([INF, -INF, 5.0, INF], [1.0, 2.0, 5.0, -INF], rel_tol=rel_tol)
    assert feature.values.mismatched == 3 and feature.skewed
    assert _values([INF, -INF, 5.0], [INF, -INF, 5.0], rel_tol=rel_tol).values.mismatched == 0


def test_nan_equals_nan_and_nan_against_a_number_is_a_mismatch():
    nan = float("nan")
    assert _values([nan, 1.0, 2.0], [nan, 1.0, 2.0]).values.mismatched == 0
    assert _values([nan, 1.0, 2.0], [3.0, 1.0, nan], abs_tol=10.0).values.mismatched == 2


def test_integers_compare_exactly_whatever_the_relative_tolerance():
    epoch_ms = _values([1767225600000, 5], [1767225601000, 5], dtype=pl.Int64)
    assert epoch_ms.values.mismatched == 1 and epoch_ms.skewed
    big = _values([2**53 + 1], [2**53], dtype=pl.Int64)
    assert big.values.mismatched == 1
    assert _values([2**53 + 1], [2**53], dtype=pl.Int64, rel_tol=0.5).values.mismatched == 1
    # An absolute tolerance applies to integers when the user sets one.
    assert _values([1767225600000], [1767225601000], dtype=pl.Int64, abs_tol=1000).values.mismatched == 0
    assert _values([1767225600000], [1767225601000], dtype=pl.Int64, abs_tol=999).values.mismatched == 1


def test_integers_of_other_widths_and_signedness_compare_exactly():
    off = pl.DataFrame({"k": [1, 2], "x": pl.Series([2**63 + 1, 7], dtype=pl.UInt64)})
    on = pl.DataFrame({"k": [1, 2], "x": pl.Series([-1, 7], dtype=pl.Int64)})
    assert skewcheck.compare(off, on, keys="k")["x"].values.mismatched == 1


def test_decimals_compare_exactly():
    off = pl.DataFrame({"k": [1, 2], "x": pl.Series(["1.10", "2.000000000000000001"]).cast(pl.Decimal(30, 18))})
    on = pl.DataFrame({"k": [1, 2], "x": pl.Series(["1.1", "2.0"]).cast(pl.Decimal(30, 1))})
    feature = skewcheck.compare(off, on, keys="k")["x"]
    assert feature.values.mismatched == 1 and feature.values.examples[0].key == {"k": 2}


def test_durations_in_other_units_are_the_same_values():
    millis = pl.Series([1, 2_500, 86_400_000], dtype=pl.Int64)
    off = pl.DataFrame({"k": [1, 2, 3], "d": millis.cast(pl.Duration("ms"))})
    on = pl.DataFrame({"k": [1, 2, 3], "d": (millis * 1000).cast(pl.Duration("us"))})
    feature = skewcheck.compare(off, on, keys="k")["d"]
    assert feature.values.mismatched == 0 and not feature.skewed


def _times(hours: float = 0.0, unit: str = "us", zone: str | None = None, n: int = 50) -> pl.Series:
    start = datetime(2026, 1, 1, 8)
    return pl.Series([start + timedelta(hours=i * 7 + hours) for i in range(n)]).cast(pl.Datetime(unit, zone))


def test_a_timestamp_feature_shifted_by_an_hour_is_an_offset_of_one_hour():
    off = pl.DataFrame({"k": range(50), "seen_at": _times()})
    on = pl.DataFrame({"k": range(50), "seen_at": _times(hours=1, unit="ns")})
    feature = skewcheck.compare(off, on, keys="k")["seen_at"]
    assert feature.values.mismatched == 50 and feature.skewed
    assert feature.diagnosis.cause is Cause.OFFSET and feature.diagnosis.params == {"offset": "+1h"}
    example = feature.values.examples[0]
    assert isinstance(example.offline, datetime) and example.online - example.offline == timedelta(hours=1)
    data = json.loads(skewcheck.compare(off, on, keys="k").to_json())["features"][0]
    assert data["values"]["examples"][0]["offline"] == "2026-01-01T08:00:00"


def test_nanoseconds_count_in_a_timestamp_feature():
    off = pl.DataFrame({"k": [1], "t": pl.Series([1_000_000_000_000_000_001]).cast(pl.Datetime("ns"))})
    on = pl.DataFrame({"k": [1], "t": pl.Series([1_000_000_000_000_000_000]).cast(pl.Datetime("ns"))})
    assert skewcheck.compare(off, on, keys="k")["t"].values.mismatched == 1


def test_a_naive_against_an_aware_timestamp_feature_is_refused():
    off = pl.DataFrame({"k": range(50), "seen_at": _times()})
    on = pl.DataFrame({"k": range(50), "seen_at": _times(zone="UTC")})
    with pytest.raises(SkewcheckInputError, match="feature column 'seen_at' is timezone-naive"):
        skewcheck.compare(off, on, keys="k")


def test_aware_timestamp_features_in_two_zones_compare_as_instants():
    off = pl.DataFrame({"k": range(50), "seen_at": _times(zone="UTC")})
    on = pl.DataFrame({"k": range(50), "seen_at": _times(zone="UTC").dt.convert_time_zone("Asia/Tokyo")})
    assert skewcheck.compare(off, on, keys="k")["seen_at"].values.mismatched == 0


def test_join_timestamps_keep_nanoseconds():
    stamps = pl.Series([10**18, 10**18 + 1, 10**18 + 2]).cast(pl.Datetime("ns"))
    off = pl.DataFrame({"k": [1, 1, 1], "ts": stamps, "x": [1.0, 2.0, 3.0]})
    on = pl.DataFrame(
        {
            "k": [1, 1, 1],
            "ts": stamps.cast(pl.Datetime("us")).cast(pl.Datetime("ns")) + pl.Series([0, 1, 2]).cast(pl.Duration("ns")),
            "x": [1.0, 2.0, 3.0],
        }
    )
    rows = skewcheck.compare(off, on, keys="k", timestamp="ts").rows
    assert (rows.matched, rows.duplicate_keys_offline, rows.duplicate_keys_online) == (3, 0, 0)


def test_null_keys_are_counted_apart_and_never_joined():
    off = pl.DataFrame({"k": [1, None, None, 2], "x": [1.0, 2.0, 3.0, 4.0]})
    on = pl.DataFrame({"k": [1, 2, None], "x": [1.0, 4.0, 9.0]})
    report = skewcheck.compare(off, on, keys="k")
    r = report.rows
    assert (r.matched, r.duplicate_keys_offline, r.duplicate_keys_online) == (2, 0, 0)
    assert (r.null_keys_offline, r.null_keys_online, r.offline_only, r.online_only) == (2, 1, 0, 0)
    assert json.loads(report.to_json())["rows"]["null_keys_offline"] == 2


@pytest.mark.parametrize(
    "name",
    ["offline", "online", "value", "__pair", "__skewcheck_offline_row", "__skewcheck_key_hash", "__skewcheck_join_0"],
)
def test_key_and_timestamp_columns_may_have_any_name(name):
    stamps = _times(n=6)
    off = pl.DataFrame({name: [1, 2, 3, 1, 2, 3], "ts": stamps, "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    on = off.with_columns(pl.col("x") * 100)
    report = skewcheck.compare(off, on, keys=name, timestamp="ts")
    assert report.rows.matched == 6 and report["x"].values.examples[0].key == {name: 1, "ts": stamps[0]}
    as_ts = skewcheck.compare(
        off.rename({"ts": "online", name: "k"}), on.rename({"ts": "online", name: "k"}), keys="k", timestamp="online"
    )
    assert as_ts["x"].diagnosis.cause is Cause.SCALE


def test_a_uint64_key_past_int64_joins_an_int64_key():
    off = pl.DataFrame({"k": pl.Series([2**63 + 5, 1], dtype=pl.UInt64), "x": [1.0, 2.0]})
    on = pl.DataFrame({"k": pl.Series([1, 2], dtype=pl.Int64), "x": [2.0, 3.0]})
    rows = skewcheck.compare(off, on, keys="k").rows
    assert (rows.matched, rows.offline_only, rows.online_only) == (1, 1, 1)


# --- causes: float32 storage, support ----------------------------------------------------


def _float32_pairs(bug) -> skewcheck.FeatureResult:
    rng = np.random.default_rng(9)
    offline = rng.gamma(2.0, 40.0, 500)
    off = pl.DataFrame({"k": range(500), "x": offline})
    on = pl.DataFrame({"k": range(500), "x": pl.Series(bug(offline)).cast(pl.Float32)})
    return skewcheck.compare(off, on, keys="k")["x"]


def test_a_scale_before_float32_storage_is_named():
    feature = _float32_pairs(lambda x: x * 100)
    assert feature.diagnosis.cause is Cause.SCALE and feature.diagnosis.params == {"factor": 100.0}
    assert feature.diagnosis.share == pytest.approx(1.0)


def test_an_offset_before_float32_storage_is_named():
    feature = _float32_pairs(lambda x: x + 7.5)
    assert feature.diagnosis.cause is Cause.OFFSET and feature.diagnosis.params == {"offset": 7.5}


def test_rounding_before_float32_storage_is_named():
    feature = _float32_pairs(lambda x: np.round(x, 1))
    assert feature.diagnosis.cause is Cause.ROUNDING and feature.diagnosis.params == {"decimals": 1}


@pytest.mark.parametrize("change", [0.5, 1.0])
def test_one_changed_pair_has_no_cause(change):
    offline = [float(v) for v in range(1, 21)]
    online = offline.copy()
    online[4] += change
    feature = _values(offline, online)
    assert feature.values.mismatched == 1 and feature.skewed
    assert feature.diagnosis.cause is Cause.UNKNOWN and feature.diagnosis.params == {}
    assert feature.values.examples[0].online == 5.0 + change


def test_three_pairs_are_enough_support_for_a_cause():
    offline = [float(v) for v in range(1, 21)]
    online = [v * 3 if i < 3 else v for i, v in enumerate(offline)]
    assert _values(offline, online).diagnosis.cause is Cause.SCALE
    online = [v * 3 if i < 2 else v for i, v in enumerate(offline)]
    assert _values(offline, online).diagnosis.cause is Cause.UNKNOWN


# --- diagnosis params, share, secondary ----------------------------------------------------


def test_params_of_each_cause():
    base = [float(v) + 0.37 for v in range(40)]
    assert _values(base, [round(v, 1) for v in base]).diagnosis.params == {"decimals": 1}
    nulls = [None if i % 4 == 0 else v for i, v in enumerate(base)]
    filled = [-1.0 if v is None else v for v in nulls]
    fill = _values(nulls, filled).diagnosis
    assert fill.cause is Cause.NULL_FILL and fill.params == {"fill": -1.0, "side": "online"}
    off = pl.DataFrame({"k": range(30), "tier": ["gold", "silver", "bronze"] * 10})
    on = off.with_columns(pl.col("tier").replace({"gold": "GOLD", "silver": "SILVER", "bronze": "BRONZE"}))
    remap = skewcheck.compare(off, on, keys="k")["tier"].diagnosis
    assert remap.cause is Cause.CATEGORY_REMAP
    assert remap.params == {"mapping": {"gold": "GOLD", "silver": "SILVER", "bronze": "BRONZE"}, "labels": 3}


def test_a_mixed_feature_names_its_secondary_cause():
    base = [float(v) + 1.0 for v in range(100)]
    online = [v * 100 for v in base[:70]] + [-1.0] * 30
    offline = base[:70] + [None] * 30
    diagnosis = _values(offline, online).diagnosis
    assert diagnosis.cause is Cause.SCALE and diagnosis.share == pytest.approx(0.7)
    assert diagnosis.secondary.cause is Cause.NULL_FILL and diagnosis.secondary.params["fill"] == -1.0
    assert diagnosis.secondary.share == pytest.approx(0.3)


def test_stale_and_timestamp_shift_params():
    days = [datetime(2026, 1, d) for d in range(1, 11)]
    values = [float((i * 37) % 23) + 0.25 * i for i in range(20)]  # no scale or offset links the days
    off = pl.DataFrame({"k": [1] * 10 + [2] * 10, "ts": days * 2, "x": values})
    on = off.with_columns(pl.col("x").shift(1).over("k")).filter(pl.col("ts") > days[0])
    stale = skewcheck.compare(off, on, keys="k", timestamp="ts")["x"].diagnosis
    assert stale.cause is Cause.STALE and stale.params == {"lag": "1d"}
    shifted = off.with_columns(pl.col("ts") + timedelta(hours=5))
    rows = skewcheck.compare(off, shifted, keys="k", timestamp="ts").rows.diagnosis
    assert rows.cause is Cause.TIMESTAMP_SHIFT and rows.params == {"hours": 5} and rows.share == 1.0


def test_the_json_carries_params_share_and_secondary():
    off = pl.DataFrame({"k": range(40), "x": [float(v) + 1 for v in range(40)]})
    on = off.with_columns(pl.col("x") * 100)
    data = json.loads(skewcheck.compare(off, on, keys="k").to_json())
    assert data["schema_version"] == 2
    diagnosis = data["features"][0]["diagnosis"]
    assert diagnosis["cause"] == "scale" and diagnosis["params"] == {"factor": 100.0}
    assert diagnosis["share"] == 1.0 and diagnosis["secondary"] is None


# --- skew is not drift ---------------------------------------------------------------------


def _growing_feature(tmp_path):
    """12 days of training rows and the last day served: every served value is right."""
    days = [datetime(2026, 11, 19) + timedelta(days=d) for d in range(12)]
    rows = [
        {"user_id": u, "ts": day, "spend": 10.0 * d + u % 7, "tier": "gold" if u % 2 else "silver"}
        for d, day in enumerate(days)
        for u in range(125)
    ]
    offline = pl.DataFrame(rows)
    online = offline.filter(pl.col("ts") == days[-1])
    paths = tmp_path / "offline.parquet", tmp_path / "online.parquet"
    offline.write_parquet(paths[0])
    online.write_parquet(paths[1])
    return offline, online, paths


def test_agreeing_pairs_with_different_populations_are_drift_not_skew(tmp_path):
    offline, online, _ = _growing_feature(tmp_path)
    report = skewcheck.compare(offline, online, keys="user_id", timestamp="ts")
    spend = report["spend"]
    assert spend.values.compared == 125 and spend.values.mismatched == 0
    assert spend.verdict is skewcheck.Verdict.DRIFT and not spend.skewed
    assert report.passed and report.drifted == (spend,) and report.skewed == ()
    assert report["tier"].verdict is skewcheck.Verdict.OK
    assert not skewcheck.compare(offline, online, keys="user_id", timestamp="ts", fail_on="drift").passed
    data = json.loads(report.to_json())
    assert {f["name"]: (f["verdict"], f["skewed"]) for f in data["features"]} == {
        "spend": ("drift", False),
        "tier": ("ok", False),
    }
    assert data["passed"] is True and data["fail_on"] == "skew"


def test_without_keys_a_distribution_difference_is_skew(tmp_path):
    offline, online, _ = _growing_feature(tmp_path)
    report = skewcheck.compare(offline.drop("user_id", "ts"), online.drop("user_id", "ts"))
    assert report["spend"].verdict is skewcheck.Verdict.SKEW and not report.passed


def test_the_gate_fails_on_drift_only_when_asked(tmp_path, capsys):
    _, _, (offline, online) = _growing_feature(tmp_path)
    args = ["compare", str(offline), str(online), "--key", "user_id", "--timestamp", "ts", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and "1 drifted (does not fail the gate)" in out and "drift" in out
    assert main([*args, "--fail-on", "drift"]) == 1
    assert "DRIFT FOUND" in capsys.readouterr().out
    with pytest.raises(SystemExit) as usage:
        main([*args, "--fail-on", "bogus"])
    assert usage.value.code == 2


def test_the_html_report_shows_the_three_verdicts(tmp_path):
    offline, online, _ = _growing_feature(tmp_path)
    online = online.with_columns(pl.col("tier").replace({"gold": "GOLD"}))
    html = skewcheck.compare(offline, online, keys="user_id", timestamp="ts").to_html()
    assert '<span class="drift">drift</span>' in html and '<span class="skew">SKEW</span>' in html
    assert "1 of 2 features skewed, 1 drifted" in html


def test_huge_labels_are_quoted_short_and_left_out_of_the_params():
    big = ["x" * 1_000_000 + str(i) for i in range(3)]
    off = pl.DataFrame({"k": range(30), "tier": (big + ["a", "b", "c"]) * 5})
    on = off.with_columns(pl.col("tier").str.to_uppercase())
    report = skewcheck.compare(off, on, keys="k")
    diagnosis = report["tier"].diagnosis
    assert diagnosis.cause is Cause.CATEGORY_REMAP and diagnosis.params["labels"] == 6
    assert diagnosis.params["mapping"] == {"a": "A", "b": "B", "c": "C"}
    assert len(diagnosis.detail) < 1_000 and len(report.summary()) < 20_000  # examples keep the true values


def test_the_library_refuses_to_write_a_report_over_its_input(tmp_path):
    offline, online = tmp_path / "offline.parquet", tmp_path / "online.parquet"
    pl.DataFrame({"k": [1, 2, 3], "x": [1.0, 2.0, 3.0]}).write_parquet(offline)
    pl.DataFrame({"k": [1, 2, 3], "x": [1.0, 2.0, 4.0]}).write_parquet(online)
    before = online.read_bytes()
    report = skewcheck.compare(str(offline), str(online), keys="k")
    for write in (report.to_json, report.to_html):
        with pytest.raises(SkewcheckInputError, match="is the input"):
            write(online)
    assert online.read_bytes() == before
    report.to_json(tmp_path / "report.json")
    assert json.loads((tmp_path / "report.json").read_text())["passed"] is False
