"""The bucketed comparison (`_partial`) equals `compare()`, JSON for JSON, for any number of buckets:
duplicates, null keys, exact and as-of joins, mismatches of every cause, type mismatches, missing
features, categorical and temporal features, and random frames."""

import math
import pickle
import warnings
from dataclasses import asdict
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import skewcheck
from skewcheck._errors import SkewcheckWarning
from skewcheck._partial import ROW, bucket_of, compare_bucket, compare_in_buckets, plan
from skewcheck._render.json import skew_report_dict

DAY = timedelta(days=1)
START = datetime(2026, 3, 1)


def _same(a, b, path="report"):
    """Equal JSON, floats to 1e-9 relative (sums over buckets may differ in the last bits)."""
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b)), (path, a, b)
    elif isinstance(a, dict) and isinstance(b, dict):
        assert list(a) == list(b), (path, list(a), list(b))
        for key in a:
            _same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def _reports(offline, online, buckets, **kwargs):
    with warnings.catch_warnings(record=True) as whole:
        warnings.simplefilter("always", SkewcheckWarning)
        want = skewcheck.compare(offline, online, **kwargs)
    with warnings.catch_warnings(record=True) as parts:
        warnings.simplefilter("always", SkewcheckWarning)
        got = compare_in_buckets(offline, online, buckets=buckets, **kwargs)
    messages = [sorted(str(w.message) for w in caught if w.category is SkewcheckWarning) for caught in (whole, parts)]
    return want, got, messages


def _assert_equal(offline, online, buckets, **kwargs):
    want, got, (whole, parts) = _reports(offline, online, buckets, **kwargs)
    _same(skew_report_dict(want), skew_report_dict(got))
    samples = [[[list(pair) for pair in f.values.sample] if f.values else [] for f in r.features] for r in (want, got)]
    _same(*samples, "scatter samples")
    plots = [[asdict(f.histogram) if f.histogram else None for f in r.features] for r in (want, got)]
    _same(*plots, "histograms")
    assert parts == whole
    return want


def _shop(rows_per_day: int = 120, days: int = 3, seed: int = 0):
    """Daily snapshots offline; online, one request per user a day, with a bug of each kind."""
    rng = np.random.default_rng(seed)
    users = np.arange(rows_per_day)
    offline = pl.DataFrame(
        {
            "user": np.tile(users, days),
            "ts": [START + d * DAY for d in range(days) for _ in users],
            "spend": np.round(rng.lognormal(3, 1, rows_per_day * days), 4),
            "visits": rng.integers(0, 40, rows_per_day * days),
            "ratio": rng.random(rows_per_day * days),
            "level": rng.choice(["gold", "silver", "bronze"], rows_per_day * days),
            "score": rng.normal(0, 1, rows_per_day * days),
            "seen": [START + timedelta(minutes=int(m)) for m in rng.integers(0, 10_000, rows_per_day * days)],
            "zip": rng.integers(10_000, 99_999, rows_per_day * days),
            "only_offline": rng.random(rows_per_day * days),
        }
    ).with_columns(filled=pl.when(pl.col("user") % 4 == 0).then(None).otherwise(pl.col("ratio")))
    online = (
        offline.sort("user", "ts")
        .with_columns(
            spend=pl.when(pl.col("user") % 5 == 0).then(pl.col("spend") * 100).otherwise(pl.col("spend")),
            ratio=pl.col("ratio").round(2),
            visits=pl.col("visits").shift(1).over("user"),  # yesterday's value: stale
            level=pl.col("level").replace({"gold": "GOLD"}),
            score=pl.col("score") + pl.when(pl.col("user") % 3 == 0).then(0.5).otherwise(0.0),
            seen=pl.col("seen") + timedelta(hours=1),
            zip=pl.col("zip").cast(pl.String),
            filled=pl.col("filled").fill_null(-1.0),
            only_online=pl.lit(1.0),
        )
        .drop("only_offline")
        .sample(fraction=1.0, shuffle=True, seed=seed)
    )
    # duplicates and null keys on both sides, rows without partners
    offline = pl.concat([offline, offline.head(7), offline.head(3).with_columns(user=pl.lit(None, pl.Int64))])
    extra = online.head(5).with_columns(user=pl.col("user") + 10_000)
    online = pl.concat([online, online.tail(4), extra, online.head(2).with_columns(user=pl.lit(None, pl.Int64))])
    return offline, online


@pytest.mark.parametrize("buckets", [1, 2, 7])
def test_exact_join_with_every_cause(buckets):
    offline, online = _shop()
    report = _assert_equal(offline, online, buckets, keys="user", timestamp="ts")
    causes = {f.name: f.diagnosis.cause.value for f in report.features if f.diagnosis}
    assert {causes[n] for n in ("spend", "ratio", "visits", "level", "score", "seen", "zip", "filled")} == {
        "scale",
        "rounding",
        "stale",
        "category_remap",
        "offset",
        "type",
        "null_fill",
    }
    assert causes["only_offline"] == causes["only_online"] == "missing"
    assert report.rows.duplicate_keys_offline and report.rows.null_keys_online
    assert {f.histogram.kind for f in report.features if f.histogram} == {"numeric", "categorical"}


@pytest.mark.parametrize("buckets", [1, 2, 7])
def test_asof_join(buckets):
    offline, online = _shop(seed=1)
    online = online.with_columns(ts=pl.col("ts") + timedelta(hours=5))
    _assert_equal(offline, online, buckets, keys="user", timestamp="ts", asof=True, asof_tolerance="2d")


@pytest.mark.parametrize("buckets", [1, 3])
def test_keys_only_many_mismatches_and_explicit_tests(buckets):
    offline, online = _shop(rows_per_day=400, days=1, seed=2)
    tests = {"spend": "ks", "ratio": "psi", "level": "chisquare", "score": "linf"}
    _assert_equal(offline.drop("ts"), online.drop("ts"), buckets, keys="user", tests=tests, examples=3)


def test_without_keys_distributions_only():
    offline, online = _shop(seed=3)
    _assert_equal(offline, online, 4)


def test_large_reference_uses_wasserstein_over_ranges():
    offline, online = _shop(rows_per_day=1500, days=1, seed=4)
    report = _assert_equal(offline.drop("ts"), online.drop("ts"), 5, keys="user")
    assert report["score"].distribution.test == "wasserstein"


floats = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64))


@st.composite
def frame_pairs(draw):
    rows = draw(st.integers(1, 40))
    keys = st.lists(st.one_of(st.none(), st.integers(0, 15)), min_size=rows, max_size=rows)

    def frame():
        return pl.DataFrame(
            {
                "k": draw(keys),
                "x": draw(st.lists(floats, min_size=rows, max_size=rows)),
                "c": draw(st.lists(st.one_of(st.none(), st.sampled_from("abc")), min_size=rows, max_size=rows)),
            },
            schema={"k": pl.Int64, "x": pl.Float64, "c": pl.String},
        )

    return frame(), frame()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame_pairs(), st.sampled_from([1, 2, 7]))
def test_random_frames(frames, buckets):
    _assert_equal(*frames, buckets, keys="k")


def test_plan_and_partials_pickle_and_empty_buckets_are_fine():
    offline, online = _shop(rows_per_day=30, days=2)
    chosen = plan(offline, online, keys="user", timestamp="ts")
    assert pickle.loads(pickle.dumps(chosen)) == chosen
    frames = [
        frame.select(chosen.columns(side)).with_row_index(ROW).with_columns(bucket_of(chosen, side, 3))
        for side, frame in (("offline", offline), ("online", online))
    ]
    partial = compare_bucket(
        chosen, frames[0].drop(bucket_of(chosen, "offline", 3).meta.output_name()), frames[1].clear()
    )
    again = pickle.loads(pickle.dumps(partial))
    assert again.rows == partial.rows and again.rows["online"] == 0
    # a key's rows share a bucket on both sides, whatever the key's type on each side
    wide = online.with_columns(pl.col("user").cast(pl.Int32))
    narrow_plan = plan(offline, wide, keys="user", timestamp="ts")
    left = offline.with_row_index(ROW).select("user", bucket_of(narrow_plan, "offline", 5))
    right = wide.with_row_index(ROW).select(pl.col("user").cast(pl.Int64), bucket_of(narrow_plan, "online", 5))
    joined = left.unique().join(right.unique(), on="user")
    assert joined.height and (joined.get_column(joined.columns[1]) == joined.get_column(joined.columns[2])).all()


@pytest.mark.parametrize("buckets", [1, 2, 7])
def test_why_few_rows_joined(buckets):
    """A timestamp shift, and key formats whose variants ("007", "7") fall in different buckets."""
    offline, online = _shop(rows_per_day=60, days=2, seed=5)
    shifted = online.with_columns(ts=pl.col("ts") + timedelta(hours=3))
    assert _assert_equal(offline, shifted, buckets, keys="user", timestamp="ts").rows.diagnosis.cause.value == (
        "timestamp_shift"
    )
    text = offline.with_columns(pl.col("user").cast(pl.String))
    padded = online.with_columns(pl.col("user").cast(pl.String).str.zfill(5))
    report = _assert_equal(text, padded, buckets, keys="user", timestamp="ts")
    assert report.rows.diagnosis.cause.value == "key_format" and "leading zeros" in report.rows.diagnosis.detail


def test_key_format_from_a_sample_by_normalised_key(monkeypatch):
    """Past KEY_SAMPLE online rows the key-format check counts a sample chosen by the hash of the
    normalised key, scaled up: the same whatever the buckets."""
    monkeypatch.setattr("skewcheck._diagnose_rows.KEY_SAMPLE", 40)
    offline, online = _shop(rows_per_day=200, days=1, seed=6)
    text = offline.drop("ts").with_columns(pl.col("user").cast(pl.String))
    upper = online.drop("ts").with_columns(pl.format("U{}", pl.col("user")).alias("user"))
    lower = text.with_columns(pl.format("u{}", pl.col("user")).alias("user"))
    report = _assert_equal(lower, upper, 5, keys="user")
    assert report.rows.diagnosis.cause.value == "key_format" and "letter case" in report.rows.diagnosis.detail
    assert 0.5 < report.rows.diagnosis.share < 1.2  # an estimate from about 40 rows of ~200
