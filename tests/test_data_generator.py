"""Tests for the deterministic course data generator (data/generate.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal, assert_series_equal
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from data.generate import FEATURES, day, generate, make_user_stats

UTC = pl.Datetime("us", "UTC")
SERVED_SCHEMA = {
    "user_id": pl.Int64,
    "event_timestamp": UTC,
    "purchases_7d": pl.Int64,
    "purchases_30d": pl.Int64,
    "amount_sum_30d": pl.Float64,
    "avg_amount_30d": pl.Float64,
    "avg_amount_90d": pl.Float64,
    "days_since_last_purchase": pl.Float64,
    "tier": pl.String,
}
SCHEMAS = {
    "users": {
        "user_id": pl.Int64,
        "signup_date": UTC,
        "country": pl.String,
        "tier": pl.String,
        "age": pl.Int64,
    },
    "purchases": {
        "user_id": pl.Int64,
        "event_timestamp": UTC,
        "amount": pl.Float64,
        "category": pl.String,
        "device": pl.String,
    },
    "labels": {"user_id": pl.Int64, "event_timestamp": UTC, "churned_next_30d": pl.Int8},
    "user_stats": {
        "user_id": pl.Int64,
        "event_timestamp": UTC,
        "created_timestamp": UTC,
        **{name: dtype for name, dtype in SERVED_SCHEMA.items() if name in FEATURES},
    },
    "offline_features": SERVED_SCHEMA,
    "serving_log": SERVED_SCHEMA,
    "serving_log_tz_bug": SERVED_SCHEMA,
}
KEYS = ["user_id", "event_timestamp"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """All generated tables (by name) and the manifest, at seed 42, scale 1."""
    paths = generate(tmp_path_factory.mktemp("shop"))
    tables: dict = {path.stem: pl.read_parquet(path) for path in paths.values() if path.suffix == ".parquet"}
    tables["manifest"] = json.loads(paths["manifest.json"].read_text())
    return tables


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    first = generate(tmp_path / "first")
    second = generate(tmp_path / "second")
    assert first.keys() == second.keys()
    assert len(first) == 8
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes(), name


def test_different_seed_gives_different_purchases(tmp_path: Path, shop: dict) -> None:
    other = pl.read_parquet(generate(tmp_path, seed=7)["purchases.parquet"])
    assert not other.equals(shop["purchases"])


def test_schemas_are_exact_and_timestamps_utc(shop: dict) -> None:
    for name, schema in SCHEMAS.items():
        assert dict(shop[name].schema) == schema, name
        assert shop[name].height == shop["manifest"]["rows"][f"{name}.parquet"]


def test_shop_shape(shop: dict) -> None:
    users, purchases = shop["users"], shop["purchases"]
    assert users.height == 2_000
    assert users["country"].n_unique() == 6
    assert set(users["tier"]) == {"free", "silver", "gold"}
    span = purchases["event_timestamp"].max() - purchases["event_timestamp"].min()
    assert span >= timedelta(days=120)
    assert purchases["amount"].min() > 0
    assert purchases["category"].n_unique() == 8
    assert set(purchases["device"]) == {"web", "ios", "android"}
    assert purchases.join(users, on="user_id", how="anti").is_empty()


def recompute_from_purchases(rows: pl.DataFrame, purchases: pl.DataFrame) -> pl.DataFrame:
    """Features of ``rows`` (user_id, event_timestamp) by direct filtering of purchases."""
    joined = rows.select(KEYS).join(
        purchases.select("user_id", bought=pl.col("event_timestamp"), amount="amount"),
        on="user_id",
        how="left",
    )
    age = pl.col("event_timestamp") - pl.col("bought")

    def within(days: int) -> pl.Expr:
        return (age > timedelta(0)) & (age <= timedelta(days=days))

    def avg(days: int) -> pl.Expr:
        return pl.col("amount").filter(within(days)).mean()

    return (
        joined.group_by(KEYS)
        .agg(
            purchases_7d=within(7).sum().cast(pl.Int64),
            purchases_30d=within(30).sum().cast(pl.Int64),
            amount_sum_30d=pl.col("amount").filter(within(30)).sum(),
            avg_amount_30d=avg(30),
            avg_amount_90d=avg(90),
            last_bought=pl.col("bought").filter(age > timedelta(0)).max(),
        )
        .with_columns(
            days_since_last_purchase=(pl.col("event_timestamp") - pl.col("last_bought")).dt.total_seconds() / 86_400
        )
        .select(*KEYS, *FEATURES[:-1])
        .sort(KEYS)
    )


def test_windows_are_time_based(shop: dict) -> None:
    rows = shop["user_stats"].sample(400, seed=0).sort(KEYS)
    expected = recompute_from_purchases(rows, shop["purchases"])
    assert rows["purchases_30d"].sum() > 100
    assert_frame_equal(rows.select(expected.columns), expected, abs_tol=1e-6)


def test_window_boundaries_are_strictly_before_midnight() -> None:
    users = pl.DataFrame(
        {"user_id": [1], "signup_date": [day(-10)], "tier": ["gold"]},
        schema={"user_id": pl.Int64, "signup_date": UTC, "tier": pl.String},
    )
    purchases = pl.DataFrame(
        {
            "user_id": [1, 1, 1],
            "event_timestamp": [day(10), day(33) + timedelta(hours=12), day(40)],
            "amount": [10.0, 20.0, 40.0],
        },
        schema={"user_id": pl.Int64, "event_timestamp": UTC, "amount": pl.Float64},
    )
    stats = make_user_stats(users, purchases).filter(pl.col("event_timestamp").is_in([day(40), day(41)]))
    assert stats.select(FEATURES[:-1]).rows() == [
        (1, 2, 30.0, 15.0, 15.0, 6.5),  # day 10 counts (window [T-30d, T)), day 40 does not
        (1, 2, 60.0, 30.0, 70 / 3, 1.0),  # day 10 left the 30d window, 33.5 left the 7d one
    ]


def test_user_stats_ignore_later_purchases(shop: dict) -> None:
    cut = day(100)
    truncated = make_user_stats(shop["users"], shop["purchases"].filter(pl.col("event_timestamp") < cut)).filter(
        pl.col("event_timestamp") <= cut
    )
    full = shop["user_stats"].filter(pl.col("event_timestamp") <= cut)
    assert_frame_equal(truncated, full)
    assert (shop["user_stats"]["days_since_last_purchase"].drop_nulls() > 0).all()


def test_offline_features_are_the_point_in_time_join(shop: dict) -> None:
    stats = shop["user_stats"].rename({"event_timestamp": "row_timestamp"})
    expected = (
        shop["offline_features"]
        .select(KEYS)
        .join(stats, on="user_id")
        .filter(pl.col("row_timestamp") <= pl.col("event_timestamp"))
        .filter(pl.col("row_timestamp") == pl.col("row_timestamp").max().over(KEYS))
    )
    assert (expected["event_timestamp"] - expected["row_timestamp"]).max() < timedelta(days=1)
    assert_frame_equal(
        shop["offline_features"],
        expected.select(list(SERVED_SCHEMA)).sort("event_timestamp", "user_id"),
    )
    assert shop["offline_features"].height > 4_900


def test_planted_bugs_match_the_manifest(shop: dict) -> None:
    offline, served = shop["offline_features"], shop["serving_log"]
    causes = shop["manifest"]["serving_log"]
    assert {name: cause["cause"] for name, cause in causes.items()} == {
        "purchases_7d": "none",
        "purchases_30d": "stale",
        "amount_sum_30d": "scale",
        "avg_amount_30d": "unknown",
        "avg_amount_90d": "rounding",
        "days_since_last_purchase": "null_fill",
        "tier": "category_remap",
    }
    assert causes["avg_amount_30d"]["detail"] == "served as the 90-day average (window bug)"
    assert_frame_equal(served.select(KEYS), offline.select(KEYS))

    assert_series_equal(served["purchases_7d"], offline["purchases_7d"])
    assert_series_equal(served["avg_amount_30d"], offline["avg_amount_90d"].alias("avg_amount_30d"))

    null_rows = offline["days_since_last_purchase"].is_null()
    assert null_rows.mean() > 0.01
    assert (
        served["days_since_last_purchase"].filter(null_rows) == causes["days_since_last_purchase"]["constant"]
    ).all()
    assert_series_equal(
        served["days_since_last_purchase"].filter(~null_rows),
        offline["days_since_last_purchase"].filter(~null_rows),
    )

    scale = causes["amount_sum_30d"]
    assert (scale["factor"], scale["affected_share"]) == (100, 0.03)
    ratio = (
        served.select("user_id", served=pl.col("amount_sum_30d"))
        .with_columns(offline=offline["amount_sum_30d"])
        .filter(pl.col("offline") > 0)
        .with_columns(scaled=(pl.col("served") / pl.col("offline") - scale["factor"]).abs() < 1e-9)
    )
    assert (ratio["scaled"] | (ratio["served"] == ratio["offline"])).all()
    per_user = ratio.group_by("user_id").agg(pl.col("scaled").all(), pl.col("scaled").any().alias("any"))
    assert (per_user["scaled"] == per_user["any"]).all()
    assert per_user["scaled"].mean() == pytest.approx(scale["affected_share"], abs=0.015)

    stale = shop["manifest"]["serving_log"]["purchases_30d"]["lag_days"]
    day_before = offline.select("user_id", pl.col("event_timestamp") - timedelta(days=stale)).join_asof(
        shop["user_stats"], on="event_timestamp", by="user_id", check_sortedness=False
    )
    assert_series_equal(served["purchases_30d"], day_before["purchases_30d"])
    assert (served["purchases_30d"] != offline["purchases_30d"]).mean() > 0.05

    decimals = causes["avg_amount_90d"]["decimals"]
    assert_series_equal(served["avg_amount_90d"], offline["avg_amount_90d"].round(decimals))
    assert (served["avg_amount_90d"] != offline["avg_amount_90d"]).mean() > 0.5

    mapping = causes["tier"]["mapping"]
    assert mapping == {"free": "FREE", "silver": "SILVER", "gold": "GOLD"}
    assert_series_equal(served["tier"], offline["tier"].replace_strict(mapping))


def test_tz_bug_shifts_clean_rows_by_five_hours(shop: dict) -> None:
    offline, shifted = shop["offline_features"], shop["serving_log_tz_bug"]
    hours = shop["manifest"]["serving_log_tz_bug"]["shift_hours"]
    assert hours == 5
    assert_series_equal(
        shifted["event_timestamp"] - offline["event_timestamp"],
        pl.Series("event_timestamp", [timedelta(hours=hours)] * offline.height),
    )
    assert_frame_equal(shifted.drop("event_timestamp"), offline.drop("event_timestamp"))
    assert shifted.join(offline, on=KEYS).is_empty()


def test_labels_follow_their_definition(shop: dict) -> None:
    labels = shop["labels"]
    bought_next_30d = (
        labels.join(shop["purchases"].select("user_id", bought="event_timestamp"), on="user_id")
        .filter(
            pl.col("bought") >= pl.col("event_timestamp"),
            pl.col("bought") < pl.col("event_timestamp") + timedelta(days=30),
        )
        .select(KEYS)
        .unique()
    )
    expected = labels.join(bought_next_30d, on=KEYS, how="anti").select(KEYS).sort(KEYS)
    assert_frame_equal(labels.filter(pl.col("churned_next_30d") == 1).select(KEYS).sort(KEYS), expected)
    assert labels["event_timestamp"].n_unique() >= 10
    assert 0.1 < labels["churned_next_30d"].mean() < 0.4


def churn_auc(features: pl.DataFrame) -> float:
    """Test AUC of a logistic regression, with train and test split by user."""
    x = features.select(pl.col("purchases_30d", "days_since_last_purchase", "avg_amount_30d").fill_null(0)).to_numpy()
    y = features["churned_next_30d"].to_numpy()
    test = features["user_id"].to_numpy() % 4 == 0
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x[~test], y[~test])
    return roc_auc_score(y[test], model.predict_proba(x[test])[:, 1])


def test_labels_have_signal_and_a_leaky_join_inflates_auc(shop: dict) -> None:
    labels, stats = shop["labels"], shop["user_stats"]
    honest = labels.join(stats, on=KEYS)
    assert honest.height == labels.height
    latest = stats.filter(pl.col("event_timestamp") == pl.col("event_timestamp").max())
    leaky = labels.join(latest.drop("event_timestamp"), on="user_id")
    honest_auc, leaky_auc = churn_auc(honest), churn_auc(leaky)
    assert 0.7 <= honest_auc <= 0.85
    assert leaky_auc >= honest_auc + 0.05


def test_cli_prints_one_line_per_file(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "data" / "generate.py"
    result = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path), "--scale", "0.1"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 8
    assert "users.parquet" in lines[0] and "200 rows" in lines[0]
    assert pl.read_parquet(tmp_path / "users.parquet").height == 200
