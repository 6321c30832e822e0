"""Deterministic synthetic online shop for the skewcheck course.

One seed gives byte-identical files. The clock is fixed: purchases run from
2026-01-01 00:00 UTC (day 0) for 180 days; nothing reads the wall clock.

Features in ``user_stats.parquet`` (one row per user per midnight T, from day 30
to day 180, only for users who signed up before T). Every window is half-open
in time, ``[T - window, T)``: a row uses only purchases strictly before T.

- purchases_7d / purchases_30d: number of purchases in the last 7 / 30 days.
- amount_sum_30d: sum of their amounts (0.0 when none), rounded to cents.
- avg_amount_30d / avg_amount_90d: amount sum / purchase count over the last
  30 / 90 days; null when the window holds no purchase. Windows reaching back
  before day 0 only see data from day 0 on.
- days_since_last_purchase: (T - time of the last purchase before T) in days,
  fractional; null before the user's first purchase.
- tier: the user's tier (static).
- created_timestamp: T + 1 hour, when the daily batch job wrote the row.

Labels: weekly observation moments T (00:00 UTC, days 60, 67, ..., 150) for
users whose last purchase is at most 60 days before T; churned_next_30d = 1
when the user makes no purchase in [T, T + 30 days).

Serving: ``offline_features`` is the backward as-of join of user_stats on
(user_id, event_timestamp) for each request; ``serving_log`` holds the same
rows with one planted bug per feature, described in ``manifest.json``.

Usage: ``python data/generate.py [--out DIR] [--seed N] [--scale X]``.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
N_DAYS = 180
STATS_FIRST_DAY = 30
OBSERVATION_DAYS = range(60, 151, 7)
LABEL_HORIZON = timedelta(days=30)
ACTIVE_LOOKBACK_DAYS = 60
SERVING_DAYS = (120, 180)
USERS_PER_SCALE = 2_000
REQUESTS_PER_SCALE = 5_000
DEFAULT_OUT = Path(__file__).resolve().parent / "generated"

UTC_US = pl.Datetime("us", "UTC")
DAY_SECONDS = 86_400
COUNTRIES = {"US": 0.35, "DE": 0.15, "GB": 0.15, "FR": 0.1, "IN": 0.15, "BR": 0.1}
TIER_SHARE = {"free": 0.6, "silver": 0.3, "gold": 0.1}
TIER_ACTIVITY = {"free": 1.0, "silver": 1.4, "gold": 2.0}
CATEGORY_SHARE_AND_PRICE = {
    "groceries": (0.25, 0.6),
    "fashion": (0.18, 1.2),
    "home": (0.12, 1.5),
    "beauty": (0.12, 0.8),
    "books": (0.1, 0.5),
    "sports": (0.09, 1.3),
    "toys": (0.08, 0.9),
    "electronics": (0.06, 3.0),
}
DEVICE_SHARE = {"web": 0.4, "ios": 0.3, "android": 0.3}
NEVER_BUY_SHARE = 0.05
CHURN_SHARE = 0.45

FEATURES = [
    "purchases_7d",
    "purchases_30d",
    "amount_sum_30d",
    "avg_amount_30d",
    "avg_amount_90d",
    "days_since_last_purchase",
    "tier",
]
CENTS_FACTOR = 100
CENTS_USER_SHARE = 0.03
NULL_FILL = -1.0
STALE_LAG = timedelta(days=1)
ROUND_DECIMALS = 1
TIER_REMAP = {tier: tier.upper() for tier in TIER_SHARE}
TZ_SHIFT_HOURS = 5


def day(n: int) -> datetime:
    """Midnight UTC of day ``n`` after the start."""
    return START + timedelta(days=n)


def utc_from_seconds(seconds: np.ndarray) -> pl.Series:
    """UTC timestamps for whole seconds since START."""
    start_us = int(START.timestamp()) * 1_000_000
    return (pl.Series(seconds, dtype=pl.Int64) * 1_000_000 + start_us).cast(UTC_US)


def pick(rng: np.random.Generator, shares: dict, size: int) -> np.ndarray:
    """Draw ``size`` keys of ``shares`` with their probabilities."""
    return rng.choice(list(shares), size=size, p=list(shares.values()))


def make_users(rng: np.random.Generator, n_users: int) -> pl.DataFrame:
    """Users plus hidden behaviour columns (prefixed ``_``) that drive purchases."""
    tier = pick(rng, TIER_SHARE, n_users)
    activity = rng.gamma(3.0, 0.1 / 3, n_users) * np.vectorize(TIER_ACTIVITY.get)(tier)
    activity[rng.random(n_users) < NEVER_BUY_SHARE] = 0.0
    churns = rng.random(n_users) < CHURN_SHARE
    return pl.DataFrame(
        {
            "user_id": np.arange(1, n_users + 1),
            "signup_date": utc_from_seconds(rng.integers(-365 * DAY_SECONDS, 90 * DAY_SECONDS, n_users)),
            "country": pick(rng, COUNTRIES, n_users),
            "tier": tier,
            "age": rng.integers(18, 76, n_users),
            "_activity": activity,
            "_churn_day": np.where(churns, rng.uniform(30, 240, n_users), np.inf),
            "_decay_days": rng.uniform(15, 45, n_users),
            "_price": np.exp(rng.normal(np.log(35), 0.4, n_users)),
            "_device": pick(rng, DEVICE_SHARE, n_users),
        }
    )


def make_purchases(rng: np.random.Generator, users: pl.DataFrame) -> pl.DataFrame:
    """Poisson purchases per user-day; churners' rate decays linearly to zero."""
    days = np.arange(N_DAYS)
    churn_day = users["_churn_day"].to_numpy()[:, None]
    decay = np.clip((churn_day - days) / users["_decay_days"].to_numpy()[:, None], 0, 1)
    signup_day = (users["signup_date"] - START).dt.total_seconds().to_numpy() / DAY_SECONDS
    signed_up = days > signup_day[:, None]
    counts = rng.poisson(users["_activity"].to_numpy()[:, None] * decay * signed_up)
    user_idx, day_idx = np.nonzero(counts)
    repeats = counts[user_idx, day_idx]
    user_idx, day_idx = np.repeat(user_idx, repeats), np.repeat(day_idx, repeats)
    n = len(user_idx)
    categories = list(CATEGORY_SHARE_AND_PRICE)
    category_idx = rng.choice(len(categories), size=n, p=[s for s, _ in CATEGORY_SHARE_AND_PRICE.values()])
    price = np.array([p for _, p in CATEGORY_SHARE_AND_PRICE.values()])[category_idx]
    amount = users["_price"].to_numpy()[user_idx] * price * rng.lognormal(0.0, 0.5, n)
    device = np.where(rng.random(n) < 0.8, users["_device"].to_numpy()[user_idx], pick(rng, DEVICE_SHARE, n))
    return pl.DataFrame(
        {
            "user_id": users["user_id"].to_numpy()[user_idx],
            "event_timestamp": utc_from_seconds(day_idx * DAY_SECONDS + rng.integers(0, DAY_SECONDS, n)),
            "amount": np.maximum(np.round(amount, 2), 0.01),
            "category": np.array(categories)[category_idx],
            "device": device,
        }
    ).sort("event_timestamp", "user_id")


def make_user_stats(users: pl.DataFrame, purchases: pl.DataFrame) -> pl.DataFrame:
    """Daily feature rows; each uses only purchases strictly before its timestamp."""
    midnights = pl.datetime_range(day(0), day(N_DAYS), "1d", time_unit="us", time_zone="UTC", eager=True).alias(
        "event_timestamp"
    )
    daily = purchases.group_by("user_id", pl.col("event_timestamp").dt.truncate("1d")).agg(
        n=pl.len().cast(pl.Int64), amount=pl.col("amount").sum()
    )
    grid = (
        users.select("user_id", "tier", "signup_date")
        .join(midnights.to_frame(), how="cross")
        .join(daily, on=["user_id", "event_timestamp"], how="left")
        .with_columns(pl.col("n", "amount").fill_null(0))
        .sort("user_id", "event_timestamp")
    )

    def last(column: str, period: str) -> pl.Expr:
        return pl.col(column).rolling_sum_by("event_timestamp", period, closed="left").over("user_id")

    def average(amount: pl.Expr, count: pl.Expr) -> pl.Expr:
        return pl.when(count > 0).then(amount / count)

    last_purchase = purchases.select("user_id", last_purchase=pl.col("event_timestamp"))
    return (
        grid.with_columns(
            purchases_7d=last("n", "7d"),
            purchases_30d=last("n", "30d"),
            amount_sum_30d=last("amount", "30d").round(2),
            avg_amount_90d=average(last("amount", "90d").round(2), last("n", "90d")),
        )
        .with_columns(avg_amount_30d=average(pl.col("amount_sum_30d"), pl.col("purchases_30d")))
        .filter(
            pl.col("event_timestamp") >= day(STATS_FIRST_DAY),
            pl.col("event_timestamp") > pl.col("signup_date"),
        )
        .sort("event_timestamp", "user_id")
        .join_asof(
            last_purchase,
            left_on="event_timestamp",
            right_on="last_purchase",
            by="user_id",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        .with_columns(
            created_timestamp=pl.col("event_timestamp") + timedelta(hours=1),
            days_since_last_purchase=(pl.col("event_timestamp") - pl.col("last_purchase")).dt.total_seconds()
            / DAY_SECONDS,
        )
        .select("user_id", "event_timestamp", "created_timestamp", *FEATURES)
    )


def make_labels(user_stats: pl.DataFrame, purchases: pl.DataFrame) -> pl.DataFrame:
    """Weekly observations of active users: churned = no purchase in the next 30 days."""
    next_purchase = purchases.select("user_id", next_purchase=pl.col("event_timestamp"))
    return (
        user_stats.filter(
            pl.col("event_timestamp").is_in([day(d) for d in OBSERVATION_DAYS]),
            pl.col("days_since_last_purchase") <= ACTIVE_LOOKBACK_DAYS,
        )
        .select("user_id", "event_timestamp")
        .join_asof(
            next_purchase,
            left_on="event_timestamp",
            right_on="next_purchase",
            by="user_id",
            strategy="forward",
            check_sortedness=False,
        )
        .with_columns(
            churned_next_30d=(
                pl.col("next_purchase").is_null()
                | (pl.col("next_purchase") >= pl.col("event_timestamp") + LABEL_HORIZON)
            ).cast(pl.Int8)
        )
        .drop("next_purchase")
        .sort("event_timestamp", "user_id")
    )


def make_requests(rng: np.random.Generator, users: pl.DataFrame, n: int) -> pl.DataFrame:
    """Serving requests at random times between the serving days."""
    first, end = (d * DAY_SECONDS for d in SERVING_DAYS)
    return (
        pl.DataFrame(
            {
                "user_id": rng.choice(users["user_id"].to_numpy(), size=n),
                "event_timestamp": utc_from_seconds(rng.integers(first, end, n)),
            }
        )
        .unique()
        .sort("event_timestamp", "user_id")
    )


def point_in_time(requests: pl.DataFrame, user_stats: pl.DataFrame) -> pl.DataFrame:
    """Latest daily user_stats row at or before each request (backward as-of join)."""
    return requests.join_asof(
        user_stats.select("user_id", "event_timestamp", *FEATURES),
        on="event_timestamp",
        by="user_id",
        check_sortedness=False,
    )


def plant_bugs(offline: pl.DataFrame, user_stats: pl.DataFrame, cents_users: np.ndarray) -> pl.DataFrame:
    """The online values: the offline ones with one planted bug per feature."""
    stale = point_in_time(offline.select("user_id", pl.col("event_timestamp") - STALE_LAG), user_stats)["purchases_30d"]
    return offline.with_columns(
        avg_amount_30d=pl.col("avg_amount_90d"),
        days_since_last_purchase=pl.col("days_since_last_purchase").fill_null(NULL_FILL),
        amount_sum_30d=pl.when(pl.col("user_id").is_in(cents_users))
        .then(pl.col("amount_sum_30d") * CENTS_FACTOR)
        .otherwise(pl.col("amount_sum_30d")),
        purchases_30d=stale,
        avg_amount_90d=pl.col("avg_amount_90d").round(ROUND_DECIMALS),
        tier=pl.col("tier").replace_strict(TIER_REMAP),
    )


def manifest(seed: int, scale: float, rows: dict[str, int]) -> dict:
    """Ground truth of the planted bugs, for checking a skew report."""
    return {
        "seed": seed,
        "scale": float(scale),
        "start": START.isoformat(),
        "days": N_DAYS,
        "rows": rows,
        "join_keys": ["user_id", "event_timestamp"],
        "serving_log": {
            "purchases_7d": {"cause": "none"},
            "purchases_30d": {"cause": "stale", "lag_days": STALE_LAG.days},
            "amount_sum_30d": {
                "cause": "scale",
                "factor": CENTS_FACTOR,
                "affected_share": CENTS_USER_SHARE,
                "detail": "served in cents for the users of one buggy app version",
            },
            "avg_amount_30d": {
                "cause": "unknown",
                "detail": "served as the 90-day average (window bug)",
            },
            "avg_amount_90d": {"cause": "rounding", "decimals": ROUND_DECIMALS},
            "days_since_last_purchase": {"cause": "null_fill", "constant": NULL_FILL},
            "tier": {"cause": "category_remap", "mapping": TIER_REMAP},
        },
        "serving_log_tz_bug": {
            "cause": "timestamp_shift",
            "shift_hours": TZ_SHIFT_HOURS,
            "detail": "clean serving values, event_timestamp logged 5 hours late",
        },
    }


def generate(out_dir: str | Path = DEFAULT_OUT, *, seed: int = 42, scale: float = 1.0) -> dict[str, Path]:
    """Write every course file to ``out_dir``; return {file name: path}."""
    rng = np.random.default_rng(seed)
    users = make_users(rng, round(USERS_PER_SCALE * scale))
    purchases = make_purchases(rng, users)
    user_stats = make_user_stats(users, purchases)
    requests = make_requests(rng, users, round(REQUESTS_PER_SCALE * scale))
    cents_users = rng.choice(users["user_id"].to_numpy(), size=round(CENTS_USER_SHARE * users.height), replace=False)
    offline = point_in_time(requests, user_stats)
    tables = {
        "users": users.select(pl.exclude("^_.*$")),
        "purchases": purchases,
        "labels": make_labels(user_stats, purchases),
        "user_stats": user_stats,
        "offline_features": offline,
        "serving_log": plant_bugs(offline, user_stats, cents_users),
        "serving_log_tz_bug": offline.with_columns(pl.col("event_timestamp") + timedelta(hours=TZ_SHIFT_HOURS)),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in tables.items():
        paths[f"{name}.parquet"] = out / f"{name}.parquet"
        table.write_parquet(paths[f"{name}.parquet"])
    rows = {f"{name}.parquet": table.height for name, table in tables.items()}
    paths["manifest.json"] = out / "manifest.json"
    text = json.dumps(manifest(seed, scale, rows), indent=2, sort_keys=True) + "\n"
    paths["manifest.json"].write_text(text)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the number of users")
    args = parser.parse_args()
    paths = generate(args.out, seed=args.seed, scale=args.scale)
    rows = json.loads(paths["manifest.json"].read_text())["rows"]
    width = max(len(str(path)) for path in paths.values())
    for name, path in paths.items():
        count = f"{rows[name]:>9,} rows" if name in rows else ""
        print(f"{path!s:<{width}}  {count:>14}  {path.stat().st_size / 1e6:6.2f} MB")


if __name__ == "__main__":
    main()
