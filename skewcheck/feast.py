"""Feast adapter: check that a Feast feature store serves what it trains on.

Optional (``pip install "skewcheck[feast]"``); the core of skewcheck never imports it.

- `compare_store`: the online store against the offline store as of one moment, per entity.
- `compare_logged`: a log of served feature values against the point-in-time correct offline
  values that ``get_historical_features`` recomputes for exactly the logged rows. The log can be
  the one `serve` writes (Feast's logged-features format) or any table of keys, time and values.
- `serve`: Feast's own HTTP feature server, logging every response it sends (`ServedFeatureLog`).

Both return the `SkewReport` of `skewcheck.compare`, called offline first, keyed on the join keys
of the feature views. Features are named as Feast references (``"user_stats:purchases_7d"``) or
by their plain name when only one feature view has it; report columns use the plain name.
Timestamps are compared in UTC: a time-zone-naive timestamp is read as UTC, as Feast reads it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

try:
    from feast import FeatureStore
    from feast.types import Bool, Float32, Float64, Int32, Int64, String
except ImportError as missing:  # the core never needs Feast; this adapter is the `feast` extra
    raise ImportError(
        'skewcheck.feast needs Feast, which is not installed: pip install "skewcheck[feast]"'
    ) from missing

from ._compare import compare
from ._dataset import parse_where
from ._errors import SkewcheckInputError
from ._io import load
from ._model import SkewReport
from ._serve import serve
from ._serve_log import LOG_TIMESTAMP, ServedFeatureLog, read_log
from ._settings import check_feast
from ._time import utc_instants

__all__ = ["ServedFeatureLog", "compare_logged", "compare_store", "open_store", "read_log", "serve"]

# The column name Feast's offline stores look for in an entity dataframe.
FEAST_TIMESTAMP = "event_timestamp"
UTC_US = pl.Datetime("us", "UTC")
# The polars type of a Feast feature as both stores hand it to Python. A Float32 feature is
# read back as a Python float: the online store's float32 value widened to float64, the offline
# store's value as the source holds it (usually float64).
POLARS_TYPE = {
    Int32: pl.Int32,
    Int64: pl.Int64,
    Float32: pl.Float64,
    Float64: pl.Float64,
    String: pl.String,
    Bool: pl.Boolean,
}


@dataclass(frozen=True)
class _Feature:
    """One requested feature, resolved against the registry."""

    view: str
    name: str
    dtype: Any

    @property
    def ref(self) -> str:
        return f"{self.view}:{self.name}"


def compare_store(
    store: FeatureStore,
    entity_df: Any,
    features: str | Sequence[str],
    *,
    timestamp: str = FEAST_TIMESTAMP,
    **compare_options: Any,
) -> SkewReport:
    """Compare the online store with the offline store as of the same moment.

    For each entity of `entity_df`, the offline values come from ``get_historical_features``
    as of the entity's timestamp (typically one fixed moment: the end of the last
    materialization) and the online values from ``get_online_features``. They are compared
    with `skewcheck.compare`, offline first, keyed on the join keys.

    What the report shows on a healthy store, and what each effect means:

    - **precision**: a feature declared ``Float32`` comes back from the online store as the
      float32 value (193.4 reads 193.39999389648438) while the offline store returns the
      source's float64. Every non-integral value mismatches by at most one float32 rounding
      step (relative difference below 6e-8): benign, but a model trained on float64 sees
      slightly different numbers at serving time.
    - **stale**: an entity whose latest row is older than the feature view's ``ttl`` at that
      moment is null offline (Feast's point-in-time join drops expired rows) while the online
      store still serves its last materialized value (online reads ignore the ``ttl``). It
      counts in ``values.null_offline_only``.
    - **not materialized**: rows newer than the last materialization are in the offline store
      only; the online store serves an older value (a value mismatch) or nothing
      (``values.null_online_only``).

    Parameters
    ----------
    store : feast.FeatureStore
        The store, already applied and materialized.
    entity_df : polars or pandas frame, or path
        One row per entity: the join key columns and a `timestamp` column.
    features : str or list of str
        Feature references ``"view:feature"``, or plain feature names.
    timestamp : str
        The column of `entity_df` that holds the moment of the offline lookup.
    **compare_options
        Passed to `skewcheck.compare` (``abs_tol``, ``rel_tol``, ``tests``, ...).

    Returns
    -------
    SkewReport
        Offline = the offline store, online = the online store; keys = the join keys.

    Raises
    ------
    SkewcheckInputError
        Unknown or ambiguous feature, a missing join key or timestamp column, an entity
        listed twice.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timezone
    >>> moment = datetime(2026, 6, 30, 6, tzinfo=timezone.utc)
    >>> entities = pl.DataFrame({"user_id": [1, 2, 3], "event_timestamp": [moment] * 3})
    >>> report = compare_store(store, entities, ["user_stats:avg_amount_30d"])  # doctest: +SKIP
    >>> report["avg_amount_30d"].values.max_abs_diff  # doctest: +SKIP
    """
    check_feast(features=features, timestamp=timestamp, compare_options=compare_options)
    wanted = _resolve(store, features)
    keys = _join_keys(store, wanted)
    requests = _read_rows(entity_df, "entity_df", [*keys, timestamp], timestamp).select(*keys, timestamp)
    repeated = requests.filter(pl.struct(keys).is_duplicated())
    if repeated.height:
        raise SkewcheckInputError(
            f"entity_df lists {repeated.select(keys).n_unique()} entities more than once (first: "
            f"{repeated.select(keys).row(0, named=True)}); the online store holds one value per entity: "
            "pass one row per entity"
        )
    offline = _offline_values(store, requests, wanted, keys, timestamp).drop(timestamp)
    online = _online_values(store, requests.select(keys), wanted)
    return compare(offline, online, keys=keys, features=[f.name for f in wanted], **compare_options)


def open_store(repo: str | Path) -> FeatureStore:
    """The Feast store of a feature repository, or a `SkewcheckInputError` naming the folder."""
    if not (Path(repo) / "feature_store.yaml").is_file():
        raise SkewcheckInputError(f"{repo}: not a Feast feature repository (no feature_store.yaml in it)")
    return FeatureStore(repo_path=str(repo))


def compare_logged(
    store: FeatureStore,
    serving_log: Any,
    features: str | Sequence[str] | None = None,
    *,
    feature_service: str | None = None,
    timestamp: str = FEAST_TIMESTAMP,
    where: Any = None,
    **compare_options: Any,
) -> SkewReport:
    """Compare logged served values with the point-in-time correct offline values.

    For every row of the serving log (entity keys, the moment of the request, the values the
    model received), ``get_historical_features`` recomputes what the offline store says the
    features were at that moment: the values a model is trained on. Any difference is
    training/serving skew. Offline and logged values are compared with `skewcheck.compare`,
    offline first, keyed on the join keys and the timestamp. On-demand features are recomputed
    from the request fields the log holds (e.g. the request time).

    A request whose features were all older than the feature view's ``ttl`` is null offline;
    if the log holds a value for it, it counts in ``values.null_offline_only``.

    Parameters
    ----------
    store : feast.FeatureStore
        The store whose offline store holds the features' history.
    serving_log : frame, path, directory, glob or list of paths
        Either a log in Feast's logged-features format, as `serve` writes it (files or
        directories of parquet files; columns ``<view>__<feature>`` and ``__log_timestamp``, which
        is then the timestamp), or one row per served request with the join keys, the
        `timestamp` column and one column per feature named by its plain feature name. A
        dataset is read as `skewcheck.compare` reads one (hive partitions such as
        ``__log_date=2026-11-30/`` are columns; the files must agree on their schema).
    features : str or list of str, optional
        Feature references ``"view:feature"``, or plain feature names as logged.
    feature_service : str, optional
        Compare every feature of this feature service (instead of `features`).
    timestamp : str
        The column of a plain log that holds the moment of each request.
    where : str or polars.Expr, optional
        Compare only the logged requests where this holds, e.g. ``"__log_date = '2026-11-30'"``
        (SQL text or a polars expression, as in compare): only they are recomputed offline.
    **compare_options
        Passed to `skewcheck.compare` (``abs_tol``, ``rel_tol``, ``tests``, ...).

    Returns
    -------
    SkewReport
        Offline = point-in-time values from the offline store, online = the log.

    Raises
    ------
    SkewcheckInputError
        Unknown or ambiguous feature, a missing join key, timestamp or feature column.

    Examples
    --------
    >>> report = compare_logged(store, "logs/user_service", feature_service="user_service")  # doctest: +SKIP
    >>> report.passed  # doctest: +SKIP
    """
    check_feast(features=features, timestamp=timestamp, compare_options=compare_options)
    if where is not None:
        parse_where(where, "where")
    wanted = _resolve(store, _service_features(store, feature_service) if feature_service else features)
    keys = _join_keys(store, wanted)
    fields = _request_fields(store, wanted)
    names = [f.name for f in wanted]
    source = load(serving_log, role="serving log", where=where)
    log, label = source.frame.collect(), "serving log"
    if LOG_TIMESTAMP in log.columns:  # Feast's logged-features format
        timestamp, label = LOG_TIMESTAMP, "served-feature log"
        log = log.rename({f"{f.view}__{f.name}": f.name for f in wanted if f"{f.view}__{f.name}" in log.columns})
    served = _read_rows(log, label, [*keys, timestamp, *fields, *names], timestamp)
    requests = served.select(*keys, timestamp, *fields).unique(subset=[*keys, timestamp], maintain_order=True)
    offline = _offline_values(store, requests, wanted, keys, timestamp).drop(fields)
    report = compare(
        offline,
        served.select(*keys, timestamp, *names),
        keys=keys,
        timestamp=timestamp,
        features=names,
        **compare_options,
    )
    name = source.label if source.files else f"{len(served):,} rows"
    return dataclasses.replace(report, offline_label="Feast offline store", online_label=f"{label} {name}")


def _service_features(store: FeatureStore, name: str) -> list[str]:
    from feast.errors import FeatureServiceNotFoundException

    try:
        service = store.get_feature_service(name)
    except FeatureServiceNotFoundException:
        known = ", ".join(s.name for s in store.list_feature_services()) or "none"
        raise SkewcheckInputError(f"unknown feature service {name!r} (feature services: {known})") from None
    return [f"{p.name}:{f.name}" for p in service.feature_view_projections for f in p.features]


def _resolve(store: FeatureStore, features: str | Sequence[str]) -> list[_Feature]:
    """Turn references and plain names into features of the registry's feature views."""
    requested = [features] if isinstance(features, str) else list(features)
    if not requested:
        raise SkewcheckInputError("the feature list is empty; pass references such as 'view:feature'")
    views = {view.name: view for view in [*store.list_feature_views(), *store.list_on_demand_feature_views()]}
    known = [_Feature(name, field.name, field.dtype) for name, view in views.items() for field in view.features]
    known_refs = ", ".join(f.ref for f in known) or "none"
    resolved: list[_Feature] = []
    for item in requested:
        view_name, _, feature_name = item.rpartition(":")
        if view_name and view_name not in views:
            raise SkewcheckInputError(
                f"unknown feature view {view_name!r} in {item!r} (feature views: {', '.join(views) or 'none'})"
            )
        matches = [f for f in known if f.name == feature_name and view_name in ("", f.view)]
        if not matches:
            raise SkewcheckInputError(f"unknown feature {item!r} (features: {known_refs})")
        if len(matches) > 1:
            raise SkewcheckInputError(
                f"feature {item!r} is in several feature views ({', '.join(f.view for f in matches)}); "
                "pass a reference 'view:feature'"
            )
        resolved.append(matches[0])
    resolved = list(dict.fromkeys(resolved))
    names = [f.name for f in resolved]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise SkewcheckInputError(
            f"features from different views share the name(s) {', '.join(clash)}; compare them in separate calls"
        )
    return resolved


def _join_keys(store: FeatureStore, features: list[_Feature]) -> list[str]:
    """The entity join keys of the features' views (for an on-demand view: of its sources)."""
    keys: dict[str, None] = {}
    for view_name in dict.fromkeys(f.view for f in features):
        for view, projection in _batch_views(store, view_name):
            for column in view.entity_columns:
                if column.name != "__dummy_id":
                    keys[projection.join_key_map.get(column.name, column.name)] = None
    return list(keys)


def _batch_views(store: FeatureStore, view_name: str) -> list[tuple[Any, Any]]:
    """(feature view, projection) pairs behind a view name: itself, or an on-demand view's sources."""
    from feast.errors import FeatureViewNotFoundException

    try:
        view = store.get_feature_view(view_name)
        return [(view, view.projection)]
    except FeatureViewNotFoundException:
        odfv = store.get_on_demand_feature_view(view_name)
        return [(store.get_feature_view(p.name), p) for p in odfv.source_feature_view_projections.values()]


def _request_fields(store: FeatureStore, features: list[_Feature]) -> list[str]:
    """Request-source fields the on-demand views among the features compute from."""
    odfvs = {v.name: v for v in store.list_on_demand_feature_views()}
    fields: dict[str, None] = {}
    for view_name in dict.fromkeys(f.view for f in features):
        for source in getattr(odfvs.get(view_name), "source_request_sources", {}).values():
            fields.update(dict.fromkeys(field.name for field in source.schema))
    return list(fields)


def _read_rows(data: Any, label: str, required: list[str], timestamp: str) -> pl.DataFrame:
    """Load a frame or file, check its columns and make its timestamp UTC-aware."""
    frame = load(data, role=label).frame.collect()
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise SkewcheckInputError(
            f"{label} has no column {missing[0]!r} (columns: {', '.join(frame.columns)}); it needs the "
            f"entity join keys, the timestamp and, for a log, the features: {', '.join(required)}"
        )
    dtype = frame.schema[timestamp]
    if not isinstance(dtype, pl.Datetime):
        raise SkewcheckInputError(f"{label}: column {timestamp!r} must hold datetimes, got {dtype}")
    return frame.with_columns(_utc(pl.col(timestamp), dtype))


def _utc(column: pl.Expr, dtype: pl.Datetime) -> pl.Expr:
    """The same instants as a UTC-aware microsecond column; naive values are read as UTC, as Feast
    reads them (`feast.utils.make_df_tzaware`)."""
    return utc_instants(column, dtype, naive_zone="UTC")


def _offline_values(
    store: FeatureStore,
    requests: pl.DataFrame,
    features: list[_Feature],
    keys: list[str],
    timestamp: str,
) -> pl.DataFrame:
    """Point-in-time values for each request row (unique keys and timestamp), nulls included.

    Feast's file offline store drops a request whose feature rows are all older than the
    ttl instead of returning nulls; joining back onto the requests restores it as nulls.
    """
    entity_df = requests.rename({timestamp: FEAST_TIMESTAMP}).to_pandas()
    job = store.get_historical_features(entity_df=entity_df, features=[f.ref for f in features])
    found = pl.from_pandas(job.to_df()).rename({FEAST_TIMESTAMP: timestamp})
    found = found.with_columns(_utc(pl.col(timestamp), found.schema[timestamp]))
    values = requests.join(
        found.select(*keys, timestamp, *(f.name for f in features)),
        on=[*keys, timestamp],
        how="left",
        maintain_order="left",
    )
    return _typed(values, features)


def _online_values(store: FeatureStore, entities: pl.DataFrame, features: list[_Feature]) -> pl.DataFrame:
    """The online store's values for each entity (null where it holds none)."""
    rows = {key: entities.get_column(key).to_list() for key in entities.columns}
    response = store.get_online_features(features=[f.ref for f in features], entity_rows=rows).to_dict()
    served = pl.DataFrame({name: response[name] for name in [*entities.columns, *(f.name for f in features)]})
    return _typed(served, features)


def _typed(frame: pl.DataFrame, features: list[_Feature]) -> pl.DataFrame:
    """Give each feature the type of its Feast declaration: undoes pandas turning an integer
    column with nulls into floats, and types a column that is null throughout."""
    return frame.with_columns(pl.col(f.name).cast(POLARS_TYPE[f.dtype]) for f in features if f.dtype in POLARS_TYPE)
