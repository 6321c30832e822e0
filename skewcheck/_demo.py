"""The demo: a small offline table and a serving log with planted skews, compared.

Deterministic (fixed seed, fixed clock). Planted: `avg_purchase_amount` rounded to one
decimal online; `days_since_last_purchase` null offline but -1 online; `session_minutes`
served in seconds for one app version (5% of rows); `discount_rate` stored as Float32 online
(benign); `loyalty_score` never logged online. `total_purchases` and `country` are clean.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl

from ._model import SkewReport

SEED = 7
ROWS = 3_000
START = datetime(2026, 3, 1, tzinfo=timezone.utc)


def demo_data(*, seed: int = SEED, rows: int = ROWS) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The demo's offline table and serving log (offline first)."""
    rng = np.random.default_rng(seed)
    offline = pl.DataFrame(
        {
            "user_id": np.arange(1, rows + 1),
            "event_timestamp": [START] * rows,
            "total_purchases": rng.poisson(12, rows),
            "avg_purchase_amount": np.round(rng.lognormal(3.5, 0.6, rows), 4),
            "days_since_last_purchase": np.where(rng.random(rows) < 0.1, np.nan, rng.integers(0, 60, rows)),
            "session_minutes": np.round(rng.gamma(2.0, 6.0, rows), 2),
            "discount_rate": np.round(rng.beta(2, 8, rows), 6),
            "loyalty_score": rng.normal(50, 10, rows),
            "country": rng.choice(["DE", "FR", "US", "BR", "IN"], rows),
        }
    ).with_columns(
        pl.col("event_timestamp").dt.offset_by(pl.format("{}m", pl.col("user_id") % 1440)),
        pl.col("days_since_last_purchase").fill_nan(None),
    )
    buggy_app = rng.random(rows) < 0.05
    online = (
        offline.drop("loyalty_score")
        .with_columns(
            pl.col("avg_purchase_amount").round(1),
            pl.col("days_since_last_purchase").fill_null(-1),
            pl.when(pl.Series(buggy_app)).then(pl.col("session_minutes") * 60).otherwise(pl.col("session_minutes")),
            pl.col("discount_rate").cast(pl.Float32),
        )
        .slice(10)  # ten requests were never logged
    )
    extra = online.head(5).with_columns(pl.col("user_id") + rows)  # five users unknown offline
    return offline, pl.concat([online, extra])


def run_demo(*, data_dir: str | Path | None = None) -> SkewReport:
    """Generate the demo data, optionally keep it as parquet, and compare it."""
    from ._compare import compare

    offline, online = demo_data()
    if data_dir is not None:
        folder = Path(data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        offline.write_parquet(folder / "offline.parquet")
        online.write_parquet(folder / "serving_log.parquet")
    return compare(offline, online, keys=["user_id"], timestamp="event_timestamp")
