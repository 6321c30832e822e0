"""Cause diagnosis: every cause recognised on planted data, and never on clean data."""

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

import skewcheck
from skewcheck import Cause
from skewcheck._cli import main

ROWS = 2_000
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _offline(seed=0, rows=ROWS):
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "user_id": np.arange(rows),
            "event_timestamp": [START + timedelta(minutes=int(m)) for m in rng.integers(0, 10_000, rows)],
            "amount": np.round(rng.lognormal(3, 1, rows), 4) + 0.00123,
            "count": rng.poisson(8, rows),
            "tier": rng.choice(["free", "silver", "gold"], rows),
        }
    )


def _diagnosis(online, offline=None, feature="amount", **options):
    offline = _offline() if offline is None else offline
    report = skewcheck.compare(offline, online, keys="user_id", timestamp="event_timestamp", **options)
    return report[feature]


def _planted(expr, rows=None):
    offline = _offline()
    where = pl.col("user_id") % 10 == 0 if rows == "some" else pl.lit(True)
    return offline.with_columns(pl.when(where).then(expr).otherwise(pl.col(expr.meta.output_name())))


@pytest.mark.parametrize(
    ("online_expr", "cause", "words"),
    [
        (pl.col("amount") * 100, Cause.SCALE, "× 100"),
        (pl.col("amount") * 0.01, Cause.SCALE, "× 0.01"),
        (pl.col("amount") + 2.5, Cause.OFFSET, "+ 2.5"),
        (pl.col("amount") - 7, Cause.OFFSET, "− 7"),
        (pl.col("amount").round(1), Cause.ROUNDING, "1 decimal"),
        (pl.col("amount").round(2), Cause.ROUNDING, "2 decimals"),
        (pl.col("amount").round(0), Cause.ROUNDING, "0 decimals"),
        (pl.col("amount").cast(pl.Float32).cast(pl.Float64), Cause.PRECISION, "float32"),
        (pl.col("amount") * 1.0000001, Cause.PRECISION, "float32"),  # near miss: not a scale
    ],
)
def test_numeric_causes_are_named_with_their_numbers(online_expr, cause, words):
    feature = _diagnosis(_planted(online_expr))
    assert feature.diagnosis.cause is cause, feature.diagnosis
    assert words in feature.diagnosis.detail


def test_a_scale_on_a_few_rows_is_still_a_scale():
    feature = _diagnosis(_planted(pl.col("amount") * 100, rows="some"))
    assert feature.skewed and feature.diagnosis.cause is Cause.SCALE
    assert feature.values.mismatched == ROWS // 10
    assert "100.0% of mismatching pairs" in feature.diagnosis.detail


def test_precision_is_explained_but_not_skew():
    feature = _diagnosis(_planted(pl.col("amount").cast(pl.Float32).cast(pl.Float64)))
    assert feature.values.mismatched > 0
    assert not feature.skewed and "not skew" in feature.diagnosis.detail


def test_a_small_real_scale_is_not_precision():
    feature = _diagnosis(_planted(pl.col("amount") * 1.001))
    assert feature.skewed and feature.diagnosis.cause is Cause.SCALE and "1.001" in feature.diagnosis.detail


@pytest.mark.parametrize("constant", [0.0, -1.0])
def test_null_fill_names_the_constant(constant):
    offline = _offline().with_columns(
        pl.when(pl.col("user_id") % 7 == 0).then(None).otherwise(pl.col("amount")).alias("amount")
    )
    online = offline.with_columns(pl.col("amount").fill_null(constant))
    feature = _diagnosis(online, offline)
    assert feature.diagnosis.cause is Cause.NULL_FILL
    assert repr(constant) in feature.diagnosis.detail and "where offline is null" in feature.diagnosis.detail


def test_null_fill_the_other_way_round():
    online = _offline().with_columns(
        pl.when(pl.col("user_id") % 7 == 0).then(None).otherwise(pl.col("count")).alias("count")
    )
    offline = _offline().with_columns(
        pl.when(pl.col("user_id") % 7 == 0).then(0).otherwise(pl.col("count")).alias("count")
    )
    feature = _diagnosis(online, offline, feature="count")
    assert (
        feature.diagnosis.cause is Cause.NULL_FILL
        and "offline holds 0 where online is null" in feature.diagnosis.detail
    )


def test_mixed_causes_report_the_dominant_and_mention_the_other():
    offline = _offline().with_columns(
        pl.when(pl.col("user_id") % 20 == 0).then(None).otherwise(pl.col("amount")).alias("amount")
    )
    online = offline.with_columns(
        pl.when(pl.col("amount").is_null())
        .then(-1.0)
        .when(pl.col("user_id") % 5 == 1)
        .then(pl.col("amount") * 100)
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    feature = _diagnosis(online, offline)
    assert feature.diagnosis.cause is Cause.SCALE  # 400 scaled pairs beat 100 filled nulls
    assert "also null_fill" in feature.diagnosis.detail and "-1.0" in feature.diagnosis.detail


def test_category_remap_shows_the_mapping():
    online = _offline().with_columns(pl.col("tier").replace({"gold": "GOLD", "silver": "SILVER", "free": "FREE"}))
    feature = _diagnosis(online, feature="tier")
    assert feature.diagnosis.cause is Cause.CATEGORY_REMAP
    assert "'gold'→'GOLD'" in feature.diagnosis.detail


def test_stale_values_are_found_in_the_offline_history_with_their_lag():
    days = 10
    users = 300
    rng = np.random.default_rng(3)
    history = pl.DataFrame(
        {
            "user_id": np.repeat(np.arange(users), days),
            "event_timestamp": [START + timedelta(days=d) for d in range(days)] * users,
            "score": rng.normal(0, 1, users * days),
        }
    )
    served = (
        history.filter(pl.col("event_timestamp") >= START + timedelta(days=5))
        .with_columns(
            pl.col("score").shift(2).over("user_id").alias("score")  # served two days late
        )
        .drop_nulls()
    )
    feature = skewcheck.compare(history, served, keys="user_id", timestamp="event_timestamp")["score"]
    assert feature.diagnosis.cause is Cause.STALE and "2 days earlier" in feature.diagnosis.detail


def test_asof_join_finds_stale_values_behind_requests():
    users, days = 200, 8
    rng = np.random.default_rng(4)
    table = pl.DataFrame(
        {
            "user_id": np.repeat(np.arange(users), days),
            "event_timestamp": [START + timedelta(days=d) for d in range(days)] * users,
            "score": rng.normal(0, 1, users * days),
        }
    )
    requests = pl.DataFrame(
        {"user_id": np.arange(users), "event_timestamp": [START + timedelta(days=6, hours=9)] * users}
    )
    correct = requests.join_asof(table.sort("event_timestamp"), on="event_timestamp", by="user_id")
    day_before = requests.with_columns(pl.col("event_timestamp") - timedelta(days=1)).join_asof(
        table.sort("event_timestamp"), on="event_timestamp", by="user_id"
    )
    served = correct.with_columns(day_before.get_column("score"))
    report = skewcheck.compare(table, served, keys="user_id", timestamp="event_timestamp", asof=True)
    assert report.rows.matched == users
    assert report["score"].diagnosis.cause is Cause.STALE and "1 day earlier" in report["score"].diagnosis.detail
    assert skewcheck.compare(table, correct, keys="user_id", timestamp="event_timestamp", asof=True).passed


def test_same_values_in_another_type():
    offline = _offline().select("user_id", "event_timestamp", "count")
    online = offline.with_columns(pl.col("count").cast(pl.String))
    feature = _diagnosis(online, offline, feature="count")
    assert feature.skewed and feature.diagnosis.cause is Cause.TYPE
    assert f"the same value on {ROWS:,} of {ROWS:,} pairs" in feature.diagnosis.detail


def test_no_pattern_is_unknown():
    rng = np.random.default_rng(9)
    online = _offline().with_columns(pl.Series("amount", rng.lognormal(3, 1, ROWS)))
    assert _diagnosis(online).diagnosis.cause is Cause.UNKNOWN


def test_clean_features_are_never_flagged():
    report = skewcheck.compare(_offline(), _offline(), keys="user_id", timestamp="event_timestamp")
    assert report.passed
    assert all(f.diagnosis is None for f in report.features)


def test_timestamp_shift_is_found_when_nothing_joins():
    online = _offline().with_columns(pl.col("event_timestamp") + timedelta(hours=5))
    report = skewcheck.compare(_offline(), online, keys="user_id", timestamp="event_timestamp")
    assert report.rows.matched == 0
    assert report.rows.diagnosis.cause is Cause.TIMESTAMP_SHIFT
    assert "+ 5 h" in report.rows.diagnosis.detail and f"joins {ROWS:,} of {ROWS:,}" in report.rows.diagnosis.detail


@pytest.mark.parametrize(
    ("transform", "words"),
    [
        (lambda e: e.str.zfill(7), "leading zeros"),
        (lambda e: e.str.to_uppercase(), "letter case"),
    ],
)
def test_key_format_is_found_when_nothing_joins(transform, words):
    offline = (
        _offline().with_columns(pl.format("u{}", pl.col("user_id")).alias("user_id"))
        if words == "letter case"
        else _offline().with_columns(pl.col("user_id").cast(pl.String))
    )
    online = offline.with_columns(transform(pl.col("user_id")))
    report = skewcheck.compare(offline, online, keys="user_id", timestamp="event_timestamp")
    assert report.rows.diagnosis.cause is Cause.KEY_FORMAT and words in report.rows.diagnosis.detail


def test_key_type_error_says_whether_a_cast_would_join(tmp_path, capsys):
    offline = _offline()
    offline.write_parquet(tmp_path / "off.parquet")
    offline.with_columns(pl.col("user_id").cast(pl.String)).write_parquet(tmp_path / "on.parquet")
    code = main(["compare", str(tmp_path / "off.parquet"), str(tmp_path / "on.parquet"), "--key", "user_id"])
    err = capsys.readouterr().err
    assert code == 2 and "would make them join" in err and f"{ROWS:,} of the first {ROWS:,}" in err


def test_causes_reach_json_terminal_and_html():
    report = skewcheck.compare(
        _offline(), _planted(pl.col("amount") * 100), keys="user_id", timestamp="event_timestamp"
    )
    data = report.to_dict()
    amount = next(f for f in data["features"] if f["name"] == "amount")
    assert amount["diagnosis"]["cause"] == "scale"
    line = next(line for line in report.summary().splitlines() if line.startswith("amount"))
    assert "scale" in line
    assert "× 100" in report.to_html()


def test_diagnosis_can_be_turned_off():
    online = _offline().with_columns(pl.col("event_timestamp") + timedelta(hours=5))
    report = skewcheck.compare(
        _offline(), _planted(pl.col("amount") * 100), keys="user_id", timestamp="event_timestamp", diagnose=False
    )
    assert report["amount"].skewed and report["amount"].diagnosis is None
    shifted = skewcheck.compare(_offline(), online, keys="user_id", timestamp="event_timestamp", diagnose=False)
    assert shifted.rows.diagnosis is None


def test_sampled_diagnosis_does_not_depend_on_row_order(monkeypatch):
    """Past FIT_SAMPLE mismatching pairs (and STALE_SAMPLE) the diagnosis fits a sample: the pairs of
    smallest key hash, so shuffling the rows changes neither the cause nor its share (the old
    sample, every k-th pair in row order, did)."""
    import numpy as np
    import polars as pl

    import skewcheck
    from skewcheck import _diagnose

    monkeypatch.setattr(_diagnose, "FIT_SAMPLE", 50)
    monkeypatch.setattr(_diagnose, "STALE_SAMPLE", 20)
    monkeypatch.setattr("skewcheck._values.FIT_SAMPLE", 50, raising=False)
    monkeypatch.setattr("skewcheck._values.STALE_SAMPLE", 20, raising=False)
    rng = np.random.default_rng(3)
    n = 3000
    x = rng.normal(100, 10, n)
    scaled = np.where(rng.random(n) < 0.85, x * 100, x + rng.normal(0, 5, n))  # 85% scale, the rest noise
    missing = rng.random(n) < 0.5
    offline = pl.DataFrame({"k": np.arange(n), "x": x, "f": np.where(missing, np.nan, 1.0)}).fill_nan(None)
    online = pl.DataFrame({"k": np.arange(n), "x": scaled, "f": np.where(missing, -1.0, 1.0)})
    reports = [
        skewcheck.compare(offline.sample(fraction=1.0, shuffle=True, seed=seed), online, keys="k").to_dict()
        for seed in range(4)
    ]
    found = [[f["diagnosis"] for f in sorted(r["features"], key=lambda f: f["name"])] for r in reports]
    assert found[0][1]["cause"] == "scale" and found[0][0]["cause"] == "null_fill"
    assert all(f == found[0] for f in found)
