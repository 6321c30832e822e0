"""Served-feature logs in Feast's logged-features format: written while serving, read back to compare.

A log row is one entity of one ``/get-online-features`` response of a feature service, with the
columns of ``feast.feature_logging.FeatureServiceLoggingSource.get_schema``: the join keys (or the
request fields of an on-demand view), ``<view>__<feature>`` with its ``__timestamp`` and
``__status`` (``FieldStatus``: 1 present, 2 null value, 3 not found, 4 outside max age), then
``__log_timestamp``, ``__log_date`` and ``__request_id``. Feast's ``write_logged_features`` accepts
these files as they are.

Durability: rows are buffered per feature service and written as whole parquet files (a temp file,
fsync, then rename), when ``flush_rows`` rows are buffered or the oldest is ``flush_seconds`` old,
and on `ServedFeatureLog.close`. A killed process loses at most the unflushed rows: the files on
disk are always complete. A failed write never reaches the response: the rows are counted as lost,
reported by `ServedFeatureLog.health` and on stderr, and serving goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ._errors import SkewcheckInputError

LOG_TIMESTAMP, LOG_DATE, REQUEST_ID = "__log_timestamp", "__log_date", "__request_id"
SYSTEM_COLUMNS = (LOG_TIMESTAMP, LOG_DATE, REQUEST_ID)
# feast.protos.feast.serving.ServingService_pb2.FieldStatus, as the HTTP server names it.
STATUS_CODE = {"INVALID": 0, "PRESENT": 1, "NULL_VALUE": 2, "NOT_FOUND": 3, "OUTSIDE_MAX_AGE": 4}
DEFAULT_FLUSH_ROWS = 1000
DEFAULT_FLUSH_SECONDS = 5.0
_STOP = object()


@dataclass
class LogHealth:
    """What the log has done so far; ``rows_lost`` counts rows that could not be written."""

    requests_logged: int = 0
    requests_sampled_out: int = 0
    requests_not_logged: int = 0  # not a feature-service request, or no destination for it
    rows_written: int = 0
    rows_buffered: int = 0
    rows_lost: int = 0
    files_written: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _ServiceLog:
    """The buffer and destination of one feature service."""

    name: str
    directory: Path
    schema: pa.Schema
    sample_rate: float
    columns: dict[str, str]  # name in a response (plain or full) -> log column
    request_fields: list[str]  # join keys and request-source fields, taken from the request
    buffer: dict[str, list] = field(default_factory=dict)
    rows: int = 0
    oldest: float | None = None  # monotonic time of the oldest buffered row

    def clear(self) -> None:
        self.buffer = {name: [] for name in self.schema.names}
        self.rows, self.oldest = 0, None


class ServedFeatureLog:
    """Log the responses of a Feast feature server, off the request path, in a background thread.

    Parameters
    ----------
    store : feast.FeatureStore
        The store being served: its registry gives each feature service's schema and logging_config.
    log_dir : path, optional
        Write every feature service's log to ``log_dir/<service>/``. Without it, a service logs to
        the path of its ``FileLoggingDestination`` (relative paths are relative to the repository);
        a service with neither is served but not logged.
    flush_rows, flush_seconds
        Write a file when this many rows are buffered, or when the oldest buffered row is this old.
        The most a ``kill -9`` can lose is what these allow.
    sample_rate : float, optional
        Share of requests logged; default: the service's ``logging_config.sample_rate``, else 1.
    seed : int, optional
        Seed of the sampling.
    """

    def __init__(
        self,
        store: Any,
        *,
        log_dir: str | Path | None = None,
        flush_rows: int = DEFAULT_FLUSH_ROWS,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
        sample_rate: float | None = None,
        seed: int | None = None,
    ) -> None:
        if flush_rows < 1 or not flush_seconds > 0:
            raise SkewcheckInputError(
                f"flush_rows must be >= 1 and flush_seconds > 0, got {flush_rows} and {flush_seconds}"
            )
        if sample_rate is not None and not 0 <= sample_rate <= 1:
            raise SkewcheckInputError(f"sample_rate must be between 0 and 1, got {sample_rate}")
        self._store = store
        self._log_dir = None if log_dir is None else Path(log_dir)
        self._flush_rows, self._flush_seconds = flush_rows, flush_seconds
        self._sample_rate = sample_rate
        self._random = random.Random(seed)
        self._services: dict[str, _ServiceLog | None] = {}
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._health = LogHealth()
        self._lock = threading.Lock()
        self._sequence = 0
        self._thread = threading.Thread(target=self._run, name="skewcheck-served-log", daemon=True)
        self._thread.start()

    def submit(self, request_body: bytes, response_body: bytes, request_id: str, log_time: datetime) -> None:
        """Queue one served response (an unbounded queue: never waits, never raises)."""
        self._queue.put_nowait((request_body, response_body, request_id, log_time))

    def health(self) -> dict[str, Any]:
        with self._lock:
            return self._health.as_dict()

    def close(self) -> dict[str, Any]:
        """Write everything queued and buffered, stop the thread, return the final health."""
        self._queue.put(_STOP)
        self._thread.join()
        return self.health()

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._next_deadline())
            except queue.Empty:
                item = None
            if item is _STOP:
                while not self._queue.empty():
                    pending = self._queue.get_nowait()
                    if pending is not _STOP:
                        self._record(*pending)
                self._flush(everything=True)
                return
            if item is not None:
                self._record(*item)
            self._flush(everything=False)

    def _next_deadline(self) -> float:
        oldest = [s.oldest for s in self._services.values() if s is not None and s.oldest is not None]
        if not oldest:
            return self._flush_seconds
        return max(0.0, min(oldest) + self._flush_seconds - time.monotonic())

    def _record(self, request_body: bytes, response_body: bytes, request_id: str, log_time: datetime) -> None:
        try:
            request, response = json.loads(request_body), json.loads(response_body)
            service = self._service(request.get("feature_service"))
        except Exception as exc:  # noqa: BLE001 - a request we cannot read is counted, not raised
            self._count(requests_not_logged=1, last_error=f"unreadable request: {exc}")
            return
        if service is None:
            self._count(requests_not_logged=1)
            return
        if service.sample_rate < 1 and self._random.random() >= service.sample_rate:
            self._count(requests_sampled_out=1)
            return
        try:
            rows = _rows(service, request.get("entities") or {}, response, request_id, log_time)
        except Exception as exc:  # noqa: BLE001
            self._count(requests_not_logged=1, last_error=f"unreadable response: {exc}")
            return
        n = len(rows[REQUEST_ID])
        if service.oldest is None:
            service.oldest = time.monotonic()
        for name, values in rows.items():
            service.buffer[name].extend(values)
        service.rows += n
        self._count(requests_logged=1, rows_buffered=n)

    def _service(self, name: str | None) -> _ServiceLog | None:
        """The log of a feature service, built on its first request (None: not logged)."""
        if not name:
            return None
        if name not in self._services:
            self._services[name] = self._build_service(name)
        return self._services[name]

    def _build_service(self, name: str) -> _ServiceLog | None:
        from feast.feature_logging import FeatureServiceLoggingSource
        from feast.infra.offline_stores.file_source import FileLoggingDestination

        service = self._store.get_feature_service(name, allow_cache=True)
        config = service.logging_config
        if self._log_dir is not None:
            directory = self._log_dir / name
        elif config is not None and isinstance(config.destination, FileLoggingDestination):
            directory = Path(config.destination.path)
            if not directory.is_absolute():
                directory = Path(self._store.repo_path) / directory
        else:
            return None
        sample_rate = self._sample_rate
        if sample_rate is None:
            sample_rate = config.sample_rate if config is not None else 1.0
        schema = FeatureServiceLoggingSource(service, self._store.project).get_schema(self._store.registry)
        columns = {}
        for projection in service.feature_view_projections:
            for feature in projection.features:
                column = f"{projection.name_to_use()}__{feature.name}"
                columns[feature.name] = columns[column] = column
        derived = {c + suffix for c in columns.values() for suffix in ("", "__timestamp", "__status")}
        request_fields = [n for n in schema.names if n not in derived and n not in SYSTEM_COLUMNS]
        log = _ServiceLog(name, directory, schema, sample_rate, columns, request_fields)
        log.clear()
        return log

    def _flush(self, *, everything: bool) -> None:
        """Write the services whose buffer is due (full or old enough), or every buffer."""
        now = time.monotonic()
        for service in self._services.values():
            if service is None or not service.rows:
                continue
            due = service.rows >= self._flush_rows or now - service.oldest >= self._flush_seconds
            if not (everything or due):
                continue
            rows, buffer = service.rows, service.buffer
            service.clear()
            try:
                files = self._write(service, buffer)
            except Exception as exc:  # noqa: BLE001 - disk full, directory gone, bad value...
                error = f"{type(exc).__name__}: {exc}"
                self._count(rows_buffered=-rows, rows_lost=rows, last_error=error)
                print(
                    f"skewcheck feast serve: could not write {rows} logged rows of {service.name!r} to "
                    f"{service.directory} ({error}); {self._health.rows_lost} rows lost so far, still serving",
                    file=sys.stderr,
                    flush=True,
                )
            else:
                self._count(rows_buffered=-rows, rows_written=rows, files_written=files)

    def _write(self, service: _ServiceLog, buffer: dict[str, list]) -> int:
        """Write the buffered rows as one complete parquet file per log date; return the count."""
        table = pa.Table.from_arrays(
            [_arrow_column(buffer[f.name], f.type) for f in service.schema], schema=service.schema
        )
        dates = table.column(LOG_DATE).unique().to_pylist()
        for day in dates:
            part = table.filter(pa.compute.equal(table.column(LOG_DATE), pa.scalar(day, pa.date32())))
            directory = service.directory / f"{LOG_DATE}={day.isoformat()}"
            directory.mkdir(parents=True, exist_ok=True)
            self._sequence += 1
            name = f"part-{time.time_ns()}-{os.getpid()}-{self._sequence}.parquet"
            temporary = directory / f".{name}.tmp"
            try:
                with open(temporary, "wb") as sink:
                    pq.write_table(part, sink)
                    sink.flush()
                    os.fsync(sink.fileno())
                os.replace(temporary, directory / name)
            except BaseException:
                with contextlib.suppress(OSError):
                    temporary.unlink()
                raise
        return len(dates)

    def _count(self, *, last_error: str | None = None, **changes: int) -> None:
        with self._lock:
            for name, change in changes.items():
                setattr(self._health, name, getattr(self._health, name) + change)
            if last_error is not None:
                self._health.last_error = last_error


def _rows(service: _ServiceLog, entities: dict, response: dict, request_id: str, log_time: datetime) -> dict:
    """The log columns of one response: one row per requested entity."""
    n = len(next(iter(entities.values()), []))
    rows = {name: list(entities.get(name) or [None] * n) for name in service.request_fields}
    for name, result in zip(response["metadata"]["feature_names"], response["results"]):
        column = service.columns.get(name)
        if column is not None:
            rows[column] = result["values"]
            rows[f"{column}__timestamp"] = result["event_timestamps"]
            rows[f"{column}__status"] = [STATUS_CODE.get(s, 0) for s in result["statuses"]]
    for column in set(service.columns.values()):
        for suffix in ("", "__timestamp", "__status"):
            rows.setdefault(column + suffix, [None] * n)
    if any(len(values) != n for values in rows.values()):
        raise ValueError(f"response columns do not all have {n} rows")
    rows[LOG_TIMESTAMP] = [log_time] * n
    rows[LOG_DATE] = [log_time.date()] * n
    rows[REQUEST_ID] = [request_id] * n
    return rows


def _arrow_column(values: list, dtype: pa.DataType) -> pa.Array:
    """Values as served (JSON) in the log schema's type; timestamps may be ISO strings or epoch seconds."""
    if pa.types.is_timestamp(dtype):
        if any(isinstance(v, str) for v in values):
            aware = pa.array(values, pa.string()).cast(pa.timestamp(dtype.unit, "UTC"))
            return aware.cast(dtype)
        if any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return pa.array(values, pa.int64()).cast(pa.timestamp("s")).cast(dtype)
    return pa.array(values, dtype)


def log_files(source: str | Path | list) -> list[Path]:
    """The complete parquet files of a served-feature log: a file, a directory (searched
    recursively, temp files skipped) or a list of either."""
    sources = source if isinstance(source, (list, tuple)) else [source]
    files: list[Path] = []
    for item in map(Path, sources):
        if item.is_dir():
            files += sorted(p for p in item.rglob("*.parquet") if not p.name.startswith("."))
        elif item.is_file():
            files.append(item)
        else:
            raise SkewcheckInputError(f"{item}: no such served-feature log (a parquet file or a directory of them)")
    if not files:
        raise SkewcheckInputError(f"{', '.join(map(str, sources))}: holds no parquet files of a served-feature log")
    return files


def read_log(source: str | Path | list) -> pl.DataFrame:
    """Read a served-feature log written by `ServedFeatureLog` (or Feast's Go server) into one frame."""
    files = log_files(source)
    try:
        frame = pl.concat([pl.read_parquet(f, hive_partitioning=False) for f in files], how="diagonal_relaxed")
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SkewcheckInputError(f"{files[0].parent}: cannot read the served-feature log ({exc})") from None
    if LOG_TIMESTAMP not in frame.columns:
        raise SkewcheckInputError(
            f"{files[0]}: not a served-feature log: no column {LOG_TIMESTAMP!r} (columns: {', '.join(frame.columns)})"
        )
    return frame
