"""skewcheck.feast against a real Feast store built in a temporary folder (file offline store,
SQLite online store): no mocks, so the effects tested are the ones Feast really produces."""

import os
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

os.environ["FEAST_USAGE"] = "False"
feast = pytest.importorskip("feast")

from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.types import Float32, Float64, Int64, String

from skewcheck import SkewcheckInputError
from skewcheck.feast import compare_logged, compare_store

DAY0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
DAYS = 4
USERS = list(range(1, 31))
# Users whose feature rows stop after the first day: past the ttl at MOMENT.
LAPSED = [26, 27, 28, 29, 30]
TTL = timedelta(days=1)
MOMENT = DAY0 + timedelta(days=DAYS - 1, hours=6)
FEATURES = ["clicks", "spend", "ratio", "segment"]
REFS = ["stats:clicks", "stats:spend", "stats:ratio", "segment"]  # references and a plain name
# float32 keeps 24 bits: a round trip moves a value by at most 2**-24 of it.
FLOAT32_REL_STEP = 2.0**-24

FEATURE_STORE_YAML = """\
project: skewtest
registry: data/registry.db
provider: local
online_store:
  type: sqlite
  path: data/online_store.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""


def feature_rows() -> pl.DataFrame:
    """Daily rows per user; ratio has two decimals, so most values are not float32-exact."""
    rng = np.random.default_rng(7)
    rows = [
        (user, DAY0 + timedelta(days=day)) for day in range(DAYS) for user in USERS if day == 0 or user not in LAPSED
    ]
    n = len(rows)
    return pl.DataFrame(
        {
            "user_id": [user for user, _ in rows],
            "event_timestamp": [moment for _, moment in rows],
            "clicks": rng.integers(0, 50, n),
            "spend": rng.uniform(0, 500, n).round(2),
            "ratio": rng.uniform(1, 100, n).round(2),
            "segment": rng.choice(["a", "b", "c"], n),
        }
    ).with_columns(
        pl.col("event_timestamp").cast(pl.Datetime("us", "UTC")),
        created_timestamp=pl.col("event_timestamp").cast(pl.Datetime("us", "UTC")) + timedelta(hours=1),
    )


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    return feature_rows()


@pytest.fixture(scope="module")
def store(tmp_path_factory, rows) -> FeatureStore:
    """Apply the definitions and materialize every row up to MOMENT (fixed dates)."""
    repo = tmp_path_factory.mktemp("feature_repo")
    (repo / "data").mkdir()
    (repo / "feature_store.yaml").write_text(FEATURE_STORE_YAML)
    rows.write_parquet(repo / "data" / "stats.parquet")
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    source = FileSource(
        name="stats_source",
        path=str(repo / "data" / "stats.parquet"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    )
    view = FeatureView(
        name="stats",
        entities=[user],
        ttl=TTL,
        source=source,
        online=True,
        schema=[
            Field(name="clicks", dtype=Int64),
            Field(name="spend", dtype=Float64),
            Field(name="ratio", dtype=Float32),
            Field(name="segment", dtype=String),
        ],
    )
    feature_store = FeatureStore(repo_path=str(repo))
    feature_store.apply([user, view])
    feature_store.materialize(start_date=DAY0, end_date=MOMENT)
    return feature_store


def entities_at_moment(users) -> pl.DataFrame:
    return pl.DataFrame({"user_id": users, "event_timestamp": [MOMENT] * len(users)})


def clean_log(rows: pl.DataFrame) -> pl.DataFrame:
    """Requests at several moments (all within the ttl), served the point-in-time values."""
    requests = pl.DataFrame(
        [
            (user, DAY0 + timedelta(hours=hours))
            for user in USERS
            for hours in (12, 36, 60)
            if user not in LAPSED or hours == 12
        ],
        schema={"user_id": pl.Int64, "event_timestamp": pl.Datetime("us", "UTC")},
        orient="row",
    )
    return requests.sort("event_timestamp").join_asof(
        rows.sort("event_timestamp").select("user_id", "event_timestamp", *FEATURES),
        on="event_timestamp",
        by="user_id",
        check_sortedness=False,
    )


def test_clean_store_differs_only_by_float32_precision(store):
    fresh = [user for user in USERS if user not in LAPSED]
    report = compare_store(store, entities_at_moment(fresh), REFS, examples=len(fresh))

    assert report.rows.matched == len(fresh)
    for name in ("clicks", "spend", "segment"):
        assert report[name].values.mismatched == 0, name
    ratio = report["ratio"].values
    assert ratio.null_offline_only == ratio.null_online_only == 0
    assert ratio.mismatched > len(fresh) // 2  # most two-decimal values are not float32-exact
    assert len(ratio.examples) == ratio.mismatched
    assert all(e.online == float(np.float32(e.offline)) != e.offline for e in ratio.examples)
    relative = max(abs(e.online - e.offline) / abs(e.offline) for e in ratio.examples)
    assert 0 < relative <= FLOAT32_REL_STEP < 1e-6


def test_lapsed_entities_are_null_offline_but_stale_online(store, rows):
    report = compare_store(store, entities_at_moment(USERS), REFS)

    for name in FEATURES:
        assert report[name].values.null_offline_only == len(LAPSED), name
        assert report[name].values.null_online_only == 0, name
    first_day = rows.filter(pl.col("user_id").is_in(LAPSED)).sort("user_id")
    served = sorted((e.key["user_id"], e.online) for e in report["clicks"].values.examples)
    assert served == list(zip(first_day["user_id"], first_day["clicks"]))


def test_clean_log_has_no_mismatch(store, rows, tmp_path):
    path = tmp_path / "serving_log.parquet"
    clean_log(rows).write_parquet(path)

    report = compare_logged(store, path, REFS)

    assert report.rows.matched == report.rows.offline == report.rows.online
    assert all(feature.values.mismatched == 0 for feature in report.features)


def test_naive_log_timestamps_are_read_as_utc(store, rows):
    log = clean_log(rows).with_columns(pl.col("event_timestamp").dt.replace_time_zone(None))

    report = compare_logged(store, log.to_pandas(), FEATURES)

    assert report.rows.matched == log.height
    assert all(feature.values.mismatched == 0 for feature in report.features)


def test_planted_bug_flags_exactly_the_planted_rows(store, rows):
    buggy_users = [3, 7, 11]
    log = clean_log(rows).with_columns(
        spend=pl.when(pl.col("user_id").is_in(buggy_users)).then(pl.col("spend") * 100).otherwise("spend")
    )
    planted = log.filter(pl.col("user_id").is_in(buggy_users) & (pl.col("spend") != 0))

    report = compare_logged(store, log, REFS, examples=100)

    spend = report["spend"].values
    assert spend.mismatched == planted.height
    assert {e.key["user_id"] for e in spend.examples} == set(buggy_users)
    assert all(e.online == pytest.approx(e.offline * 100) for e in spend.examples)
    assert all(report[name].values.mismatched == 0 for name in ("clicks", "ratio", "segment"))


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (["stats:nope"], "unknown feature 'stats:nope'"),
        (["nope:clicks"], "unknown feature view 'nope'"),
        (["nope"], "unknown feature 'nope'"),
        ([], "feature list is empty"),
    ],
)
def test_unknown_features_are_input_errors(store, features, message):
    with pytest.raises(SkewcheckInputError, match=message):
        compare_store(store, entities_at_moment([1]), features)


def test_log_without_entity_column_is_an_input_error(store, rows):
    log = clean_log(rows).rename({"user_id": "customer"})
    with pytest.raises(SkewcheckInputError, match="serving log has no column 'user_id'"):
        compare_logged(store, log, FEATURES)


def test_log_without_a_feature_column_is_an_input_error(store, rows):
    log = clean_log(rows).drop("ratio")
    with pytest.raises(SkewcheckInputError, match="no column 'ratio'"):
        compare_logged(store, log, FEATURES)


def test_entity_listed_twice_is_an_input_error(store):
    with pytest.raises(SkewcheckInputError, match="more than once"):
        compare_store(store, entities_at_moment([1, 2, 1]), FEATURES)


def test_timestamp_must_hold_datetimes(store):
    entities = entities_at_moment([1]).with_columns(pl.col("event_timestamp").dt.to_string())
    with pytest.raises(SkewcheckInputError, match="must hold datetimes"):
        compare_store(store, entities, FEATURES)


def test_compare_logged_reads_a_partitioned_log_and_where_picks_a_day(store, rows, tmp_path):
    log = clean_log(rows).with_columns(day=pl.col("event_timestamp").dt.date())
    for (day,), part in log.group_by("day"):
        (tmp_path / "log" / f"day={day}").mkdir(parents=True)
        part.drop("day").write_parquet(tmp_path / "log" / f"day={day}" / "part-0.parquet")
    (tmp_path / "log" / "day=2026-03-09").mkdir()
    (tmp_path / "log" / "day=2026-03-09" / "part-0.parquet").write_bytes(b"not parquet: must never be opened")

    report = compare_logged(store, tmp_path / "log", REFS, where="day = '2026-03-02'")

    second_day = log.filter(pl.col("day") == datetime(2026, 3, 2).date())
    assert report.rows.online == report.rows.matched == second_day.height > 0
    assert all(feature.values.mismatched == 0 for feature in report.features)
    assert report.online_label == f"serving log {tmp_path / 'log'} (1 of 4 parquet files) where day = '2026-03-02'"
