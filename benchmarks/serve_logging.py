"""make bench: what served-feature logging costs a Feast feature server (issue 13).

Two servers on the same Feast repository (SQLite online store, 2,000 users, one feature service of
three features), each a fresh process on a free loopback port with the same uvicorn settings:

  without   Feast's own app, ``feast.feature_server.get_app(store)``, under uvicorn (this file, --serve);
  with      ``skewcheck feast serve`` (the same app behind the logging hook), writing parquet logs.

Each gets 100 warm-up requests, then 2,000 single-entity ``/get-online-features`` requests from 8
concurrent clients (httpx, one keep-alive connection per client). Latency is measured per request on
the client side. The rounds alternate (without, with, without, with) so a change in the machine's
load hits both. Reported: p50 and p99 of each, the overhead at both (target: at most 10% at p99),
and the rows the log wrote per second of the run (all rows must be on disk after SIGTERM), and
how many rows per second the log thread alone can take (20,000 copies of one real response).

Usage: python benchmarks/serve_logging.py [--requests N] [--clients N] [--rounds N] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
USERS = 2_000
WARM_UP = 100
MAX_P99_OVERHEAD = 0.10
STARTUP_SECONDS = 120
DAY0 = datetime(2026, 6, 1, tzinfo=timezone.utc)
FEATURE_STORE_YAML = """\
project: serve_bench
registry: registry.db
provider: local
online_store:
  type: sqlite
  path: online_store.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""


def build_repo(folder: Path) -> Path:
    """A materialized Feast repository: 2,000 users, three features, feature service `bench`."""
    import pandas as pd
    from feast import (
        Entity,
        FeatureService,
        FeatureStore,
        FeatureView,
        Field,
        FileSource,
        ValueType,
    )
    from feast.types import Float64, Int64, String

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feature_store.yaml").write_text(FEATURE_STORE_YAML)
    rng = np.random.default_rng(13)
    pd.DataFrame(
        {
            "user_id": np.arange(1, USERS + 1),
            "event_timestamp": DAY0,
            "clicks": rng.integers(0, 50, USERS),
            "spend": rng.uniform(0, 500, USERS).round(2),
            "segment": rng.choice(["a", "b", "c"], USERS),
        }
    ).to_parquet(folder / "stats.parquet")
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    view = FeatureView(
        name="stats",
        entities=[user],
        ttl=timedelta(0),
        source=FileSource(name="stats", path=str(folder / "stats.parquet"), timestamp_field="event_timestamp"),
        schema=[
            Field(name="clicks", dtype=Int64),
            Field(name="spend", dtype=Float64),
            Field(name="segment", dtype=String),
        ],
    )
    store = FeatureStore(repo_path=str(folder))
    store.apply([user, view, FeatureService(name="bench", features=[view])])
    with contextlib.redirect_stdout(io.StringIO()):  # Feast's progress bars
        store.materialize(start_date=DAY0 - timedelta(days=1), end_date=DAY0 + timedelta(days=1))
    return folder


def serve_without_logging(repo: str) -> None:
    """Feast's app under uvicorn with skewcheck's settings, minus the logging hook (the baseline)."""
    import socket

    import uvicorn
    from feast import FeatureStore
    from feast.feature_server import get_app

    listener = socket.create_server(("127.0.0.1", 0))
    print(f"serving http://127.0.0.1:{listener.getsockname()[1]},", file=sys.stderr, flush=True)
    config = uvicorn.Config(get_app(FeatureStore(repo_path=repo)), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[listener])


def start(command: list[str]) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + STARTUP_SECONDS
    for line in process.stderr:
        if found := re.search(r"serving (\S+),", line):
            url = found.group(1)
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not start: {command}")
    else:
        raise RuntimeError(f"server exited: {command}")
    threading.Thread(target=lambda: process.stderr.read(), daemon=True).start()
    import httpx

    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"server never became healthy: {command}")


def load(url: str, requests: int, clients: int) -> tuple[np.ndarray, float]:
    """Per-request latencies (ms) of `requests` single-user requests from `clients` threads, and the wall time."""
    import httpx

    users = np.random.default_rng(1).integers(1, USERS + 1, requests + WARM_UP).tolist()
    local = threading.local()

    def one(user: int) -> float:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, timeout=30)
        body = {"feature_service": "bench", "entities": {"user_id": [user]}}
        started = time.perf_counter()
        response = local.client.post("/get-online-features", json=body)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"request failed: {response.status_code} {response.text[:200]}")
        return elapsed * 1000

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, users[:WARM_UP]))
        started = time.perf_counter()
        latencies = list(pool.map(one, users[WARM_UP:]))
        wall = time.perf_counter() - started
    return np.array(latencies), wall


def log_capacity(repo: Path, url: str, log_dir: Path, rows: int = 20_000) -> float:
    """Rows per second the log thread alone can take: `rows` copies of one real response, submitted
    at once, until the last file is on disk (parse, buffer, parquet, fsync, rename)."""
    import httpx
    from feast import FeatureStore

    from skewcheck.feast import ServedFeatureLog

    request = json.dumps({"feature_service": "bench", "entities": {"user_id": [7]}}).encode()
    response = httpx.post(
        f"{url}/get-online-features", content=request, timeout=30, headers={"content-type": "application/json"}
    ).content
    log = ServedFeatureLog(FeatureStore(repo_path=str(repo)), log_dir=log_dir, flush_rows=1000, flush_seconds=60)
    now = datetime.now(timezone.utc)
    started = time.perf_counter()
    for i in range(rows):
        log.submit(request, response, f"r{i}", now)
    health = log.close()
    seconds = time.perf_counter() - started
    if health["rows_written"] != rows:
        raise RuntimeError(f"the log wrote {health['rows_written']} of {rows} rows: {health}")
    return rows / seconds


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2_000, help="measured requests per round (default 2000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per server (default 2)")
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "serve_logging.json", help="results")
    parser.add_argument("--serve", metavar="REPO", help=argparse.SUPPRESS)  # the baseline server process
    args = parser.parse_args(argv)
    if args.serve:
        serve_without_logging(args.serve)
        return 0

    os.environ["FEAST_USAGE"] = "False"
    work = Path(tempfile.mkdtemp(prefix="skewcheck-serve-bench-"))
    try:
        repo = build_repo(work / "repo")
        latencies = {"without": [], "with": []}
        walls = {"without": [], "with": []}
        logged_rows = 0
        for round_number in range(args.rounds):
            for mode in ("without", "with"):
                log_dir = work / f"logs-{round_number}"
                command = (
                    [sys.executable, __file__, "--serve", str(repo)]
                    if mode == "without"
                    else [
                        sys.executable,
                        "-m",
                        "skewcheck",
                        "feast",
                        "serve",
                        str(repo),
                        "--port",
                        "0",
                        "--log-dir",
                        str(log_dir),
                    ]
                )
                process, url = start(command)
                measured, wall = load(url, args.requests, args.clients)
                if mode == "with" and round_number == args.rounds - 1:
                    capacity = log_capacity(repo, url, work / "capacity")
                # uvicorn re-raises SIGTERM after a graceful stop; skewcheck's server catches it and exits 0
                if stop(process) not in ((0, -signal.SIGTERM) if mode == "without" else (0,)):
                    raise RuntimeError(f"{mode}: the server did not exit cleanly")
                latencies[mode].append(measured)
                walls[mode].append(wall)
                if mode == "with":
                    import polars as pl

                    rows = (
                        pl.scan_parquet(str(log_dir / "bench" / "**" / "*.parquet")).select(pl.len()).collect().item()
                    )
                    served = args.requests + WARM_UP + (round_number == args.rounds - 1)  # + log_capacity's request
                    if rows != served:
                        raise RuntimeError(f"the log holds {rows} rows, {served} were served")
                    logged_rows += args.requests
        without, with_ = np.concatenate(latencies["without"]), np.concatenate(latencies["with"])
        p = {
            name: {q: float(np.percentile(values, q)) for q in (50, 99)}
            for name, values in (("without", without), ("with", with_))
        }
        overhead = {q: p["with"][q] / p["without"][q] - 1 for q in (50, 99)}
        rows_per_second = logged_rows / sum(walls["with"])
        print(f"{args.rounds} rounds x {args.requests:,} single-user requests, {args.clients} clients, loopback")
        for name in ("without", "with"):
            print(f"  {name:7} logging: p50 {p[name][50]:.2f} ms, p99 {p[name][99]:.2f} ms")
        met = overhead[99] <= MAX_P99_OVERHEAD
        print(
            f"  overhead: p50 {overhead[50]:+.1%}, p99 {overhead[99]:+.1%} "
            f"(target <= {MAX_P99_OVERHEAD:.0%} at p99: {'met' if met else 'NOT met'})"
        )
        print(
            f"  logged: {rows_per_second:,.0f} rows per second (every request of the load; all on disk after SIGTERM)"
        )
        print(f"  the log thread alone takes {capacity:,.0f} rows per second (one core at most, off the request path)")
        print(f"  load average (1, 5, 15 min): {[round(v, 2) for v in os.getloadavg()]}")
        args.json.write_text(
            json.dumps(
                {
                    "requests": args.requests,
                    "clients": args.clients,
                    "rounds": args.rounds,
                    "p50_ms": {k: v[50] for k, v in p.items()},
                    "p99_ms": {k: v[99] for k, v in p.items()},
                    "overhead": {"p50": overhead[50], "p99": overhead[99]},
                    "target_met": met,
                    "rows_logged_per_second": rows_per_second,
                    "log_capacity_rows_per_second": capacity,
                    "cores": os.cpu_count(),
                    "load_average": list(os.getloadavg()),
                    "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                },
                indent=1,
            )
            + "\n"
        )
        print(f"results: {args.json}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
