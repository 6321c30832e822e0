"""`skewcheck feast serve` against a real Feast repository, over real HTTP on a loopback port.

Each test starts the server as a subprocess (``python -m skewcheck feast serve REPO --port 0``), sends
requests with httpx and then stops it the way the test is about: SIGTERM, ``kill -9``, or not at all
while its log cannot be written."""

import json
import os
import queue
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

os.environ["FEAST_USAGE"] = "False"
pytest.importorskip("feast")
httpx = pytest.importorskip("httpx")

from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.feature_logging import FeatureServiceLoggingSource, LoggingConfig
from feast.infra.offline_stores.file_source import FileLoggingDestination
from feast.types import Float32, Float64, Int64

from skewcheck._cli import main
from skewcheck.feast import compare_logged, read_log

DAY0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
USERS = list(range(1, 31))
FEATURES = ["clicks", "spend", "ratio"]
STARTUP_SECONDS = 60
FEATURE_STORE_YAML = """\
project: servetest
registry: data/registry.db
provider: local
online_store:
  type: sqlite
  path: data/online_store.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A feature repository: one view of three features, two logged feature services, materialized."""
    repo = tmp_path_factory.mktemp("serve_repo")
    (repo / "data").mkdir()
    (repo / "feature_store.yaml").write_text(FEATURE_STORE_YAML)
    rng = np.random.default_rng(11)
    rows = pl.DataFrame(
        {
            "user_id": USERS * 2,
            "event_timestamp": [DAY0] * len(USERS) + [DAY0 + timedelta(days=1)] * len(USERS),
            "clicks": rng.integers(0, 50, 2 * len(USERS)),
            "spend": rng.uniform(0, 500, 2 * len(USERS)).round(2),
            "ratio": rng.uniform(1, 100, 2 * len(USERS)).round(2),
        }
    ).with_columns(pl.col("event_timestamp").cast(pl.Datetime("us", "UTC")))
    rows.write_parquet(repo / "data" / "stats.parquet")
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    source = FileSource(
        name="stats_source", path=str(repo / "data" / "stats.parquet"), timestamp_field="event_timestamp"
    )
    view = FeatureView(
        name="stats",
        entities=[user],
        ttl=timedelta(0),
        source=source,
        online=True,
        schema=[
            Field(name="clicks", dtype=Int64),
            Field(name="spend", dtype=Float64),
            Field(name="ratio", dtype=Float32),
        ],
    )
    logged = FeatureService(
        name="svc", features=[view], logging_config=LoggingConfig(FileLoggingDestination(path="logs/svc"))
    )
    sampled = FeatureService(
        name="svc_sampled",
        features=[view[["clicks"]]],
        logging_config=LoggingConfig(FileLoggingDestination(path="logs/sampled"), sample_rate=0.5),
    )
    store = FeatureStore(repo_path=str(repo))
    store.apply([user, source, view, logged, sampled])
    store.materialize(start_date=DAY0 - timedelta(days=1), end_date=DAY0 + timedelta(days=2))
    return repo


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    stderr: list = field(default_factory=list)

    def health(self) -> dict:
        return httpx.get(f"{self.url}/health", timeout=10).json()["served_feature_log"]

    def wait_for(self, condition, seconds: float = 20) -> dict:
        deadline = time.monotonic() + seconds
        while True:
            health = self.health()
            if condition(health) or time.monotonic() > deadline:
                return health
            time.sleep(0.05)


@contextmanager
def serving(repo: Path, *options: str):
    """Run `skewcheck feast serve` on a free loopback port until the block ends (then SIGTERM)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "skewcheck", "feast", "serve", str(repo), "--port", "0", *options],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=repo,
    )
    lines: queue.Queue = queue.Queue()
    server = Server("", process)

    def read_stderr():
        for line in process.stderr:
            server.stderr.append(line)
            lines.put(line)

    threading.Thread(target=read_stderr, daemon=True).start()
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not server.url:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if match := re.search(r"serving (http://127\.0\.0\.1:\d+)", line):
                server.url = match.group(1)
        while True:
            try:
                if httpx.get(f"{server.url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "".join(server.stderr)
                time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=60)


def request(client, users, service="svc"):
    """POST /get-online-features; returns (request id, users, response values by feature)."""
    response = client.post("/get-online-features", json={"feature_service": service, "entities": {"user_id": users}})
    assert response.status_code == 200, response.text
    body = response.json()
    values = dict(zip(body["metadata"]["feature_names"], (r["values"] for r in body["results"])))
    return response.headers["x-request-id"], users, values


def burst(url: str, calls: list[list[int]], service="svc", clients=8) -> list:
    with ThreadPoolExecutor(clients) as pool, httpx.Client(base_url=url, timeout=30) as client:
        return list(pool.map(lambda users: request(client, users, service), calls))


def test_every_response_is_logged_under_concurrency_and_flushed_on_sigterm(repo):
    rng = np.random.default_rng(3)
    calls = [rng.choice(USERS, size=int(rng.integers(1, 4)), replace=False).tolist() for _ in range(160)]
    with serving(repo, "--flush-rows", "100000", "--flush-seconds", "600") as server:
        served = burst(server.url, calls)
        sampled = burst(server.url, [[u] for u in USERS * 4], service="svc_sampled")
        before = server.wait_for(lambda h: h["requests_logged"] + h["requests_sampled_out"] == 280)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0
    assert (
        before["rows_written"] == 0
        and before["rows_buffered"] == sum(map(len, calls)) + before["requests_logged"] - 160
    )

    log = read_log(repo / "logs" / "svc")  # the service's FileLoggingDestination, relative to the repo
    assert log.height == sum(map(len, calls)) and log["__request_id"].n_unique() == len(served)
    expected = pl.DataFrame(
        [
            {"__request_id": rid, "user_id": u, **{f: values[f][i] for f in FEATURES}}
            for rid, users, values in served
            for i, u in enumerate(users)
        ]
    )
    got = log.select("__request_id", "user_id", "stats__clicks", "stats__spend", "stats__ratio")
    got = got.rename({f"stats__{f}": f for f in FEATURES}).with_columns(pl.col("ratio").cast(pl.Float64))
    assert got.sort("__request_id", "user_id").equals(expected.sort("__request_id", "user_id"))
    assert (log["stats__spend__status"] == 1).all()  # FieldStatus.PRESENT

    store = FeatureStore(repo_path=str(repo))
    service = store.get_feature_service("svc")
    schema = FeatureServiceLoggingSource(service, store.project).get_schema(store.registry)
    table = pa.parquet.read_table(min((repo / "logs" / "svc").rglob("*.parquet")))
    # Feast's logged-features schema (parquet keeps timestamp[s] as milliseconds), so Feast accepts it
    assert table.schema.names == schema.names
    assert all(a.type == b.type or pa.types.is_timestamp(a.type) for a, b in zip(table.schema, schema))
    store.write_logged_features(table.cast(schema), service)

    sampled_log = read_log(repo / "logs" / "sampled")  # svc_sampled: logging_config.sample_rate = 0.5
    assert sampled_log.height == before["requests_logged"] - 160
    assert 20 <= sampled_log.height <= 100  # 120 requests at rate 0.5: far outside this is broken sampling
    assert sampled_log["__request_id"].is_in([rid for rid, _, _ in sampled]).all()

    report = compare_logged(store, repo / "logs" / "svc", feature_service="svc")
    assert report.passed and report.rows.matched == log.unique(["user_id", "__log_timestamp"]).height


def test_kill_9_leaves_readable_files_and_loses_at_most_one_batch(repo, tmp_path):
    with serving(repo, "--log-dir", str(tmp_path), "--flush-rows", "10", "--flush-seconds", "600") as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            served = [request(client, [USERS[i % len(USERS)]]) for i in range(95)]
        health = server.wait_for(lambda h: h["rows_written"] == 90 and h["rows_buffered"] == 5)
        assert health["rows_written"] == 90 and health["rows_buffered"] == 5
        server.process.kill()
        server.process.wait(timeout=30)
    log = read_log(tmp_path / "svc")
    logged = set(log["__request_id"])
    assert logged <= {rid for rid, _, _ in served}
    assert len(served) - len(logged) == 5  # the unflushed batch only, within --flush-rows (10)
    assert logged == {rid for rid, _, _ in served[:90]}


def test_kill_9_after_flush_seconds_loses_nothing(repo, tmp_path):
    with serving(repo, "--log-dir", str(tmp_path), "--flush-rows", "100000", "--flush-seconds", "0.5") as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            served = [request(client, [user]) for user in USERS]
        health = server.wait_for(lambda h: h["rows_written"] == len(USERS))  # within --flush-seconds of the last
        assert health["rows_buffered"] == 0
        server.process.kill()
        server.process.wait(timeout=30)
    assert set(read_log(tmp_path / "svc")["__request_id"]) == {rid for rid, _, _ in served}


def test_an_unwritable_log_never_fails_a_request_and_the_log_recovers(repo, tmp_path):
    log_dir = tmp_path / "logs"
    log_dir.write_text("a file where the log directory should be")  # directory gone
    with (
        serving(repo, "--log-dir", str(log_dir), "--flush-rows", "1") as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        gone = [request(client, [user]) for user in USERS[:10]]
        health = server.wait_for(lambda h: h["rows_lost"] == 10)
        assert health["rows_lost"] == 10 and "NotADirectoryError" in health["last_error"]

        # Disk full: no file of the server may grow past 64 bytes (EFBIG, as ENOSPC on a full disk). A soft
        # limit, so that it can be lifted again; Python ignores SIGXFSZ, so the write fails instead.
        log_dir.unlink()
        resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (64, resource.RLIM_INFINITY))
        full = [request(client, [user]) for user in USERS[10:20]]
        health = server.wait_for(lambda h: h["rows_lost"] == 20)
        assert health["rows_lost"] == 20 and "File too large" in health["last_error"]

        resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
        recovered = [request(client, [user]) for user in USERS[20:]]
        health = server.wait_for(lambda h: h["rows_written"] == 10)
    assert all(values["clicks"][0] is not None for _, _, values in gone + full + recovered)
    assert health["rows_lost"] == 20 and health["rows_written"] == 10
    assert sum("could not write 1 logged rows" in line and "still serving" in line for line in server.stderr) == 20
    assert set(read_log(log_dir / "svc")["__request_id"]) == {rid for rid, _, _ in recovered}


def test_compare_logged_names_a_scaled_materialization_from_the_log(repo, tmp_path, capsys):
    buggy = tmp_path / "repo"
    shutil.copytree(repo, buggy, ignore=shutil.ignore_patterns("logs"))
    store = FeatureStore(repo_path=str(buggy))
    latest = pl.read_parquet(repo / "data" / "stats.parquet").filter(
        pl.col("event_timestamp") == pl.col("event_timestamp").max()
    )
    store.write_to_online_store("stats", df=latest.with_columns(pl.col("spend") * 100).to_pandas())  # the bug

    with serving(buggy, "--log-dir", str(tmp_path / "logs")) as server:
        burst(server.url, [[u] for u in USERS])
    code = main(
        [
            "feast",
            "compare-logged",
            str(buggy),
            str(tmp_path / "logs" / "svc"),
            "--feature-service",
            "svc",
            "--json",
            str(tmp_path / "report.json"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    report = {f["name"]: f for f in json.loads((tmp_path / "report.json").read_text())["features"]}
    assert report["spend"]["skewed"] and report["spend"]["diagnosis"]["cause"] == "scale"
    assert report["spend"]["values"]["mismatched"] == len(USERS)
    assert not report["clicks"]["skewed"] and not report["ratio"]["skewed"]
    assert re.search(r"spend .*SKEW .*scale", out)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: (tmp / "empty").mkdir(), "a directory that holds no data files"),
        (lambda tmp: pl.DataFrame({"x": [1]}).write_parquet(tmp / "x.parquet"), "serving log has no column 'user_id'"),
    ],
)
def test_compare_logged_cli_rejects_what_is_not_a_log(repo, tmp_path, capsys, make, message):
    make(tmp_path)
    code = main(["feast", "compare-logged", str(repo), str(tmp_path), "--feature-service", "svc"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_compare_logged_cli_names_an_unknown_feature_service(repo, tmp_path, capsys):
    code = main(["feast", "compare-logged", str(repo), str(tmp_path), "--feature-service", "nope"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown feature service 'nope' (feature services: svc, svc_sampled)" in err


def test_serve_refuses_bad_input_in_one_line(repo, tmp_path, capsys):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        cases = [
            ([str(tmp_path)], "not a Feast feature repository (no feature_store.yaml in it)"),
            ([str(repo), "--port", str(port)], f"cannot listen on 127.0.0.1:{port}"),
            ([str(repo), "--port", "0", "--flush-rows", "0"], "flush_rows must be >= 1"),
        ]
        for arguments, message in cases:
            assert main(["feast", "serve", *arguments]) == 2
            err = capsys.readouterr().err
            assert message in err and err.count("\n") == 1, err
