"""make bench-scale: skewcheck at scale, from 10M rows a side to 200M (2.7x this machine's memory).

Items, with the targets of issue 12:

  linear   `skewcheck compare OFF/ ON/ --key id --timestamp ts` on parquet datasets (directories of
           5M-row files) of 10M, 30M, 60M and 200M rows x 20 features a side, with the default memory
           budget: every size completes, rows per second stay level (a cost that grows linearly), and
           the 200M run (about 70 GB in memory) peaks at or under 6 GB.
  capped   30M rows with `--memory-limit 2GB`: peak at or under 2.5 GB, and a report identical to the
           uncapped 30M run's (JSON equal apart from timings).
  dask     60M rows with `--dask` on a cluster of 2 worker processes with 4 GB each (started here with
           Dask's own `dask scheduler` and `dask worker` commands, as a real cluster is): completes, and
           its report equals the local engine's; its time is reported against the local engine's.

The datasets are prefixes of one generated dataset (benchmarks/datasets.py `scale_dataset`), linked
into a directory per size. Every run is a fresh process; its peak memory is that of the process
(os.wait4), and for Dask also the largest resident memory of the workers, sampled every 0.2 s.

Usage: python benchmarks/scale.py [--sizes 10M,30M,60M,200M] [--only linear,capped,dask] [--work-dir DIR]
                                  [--json PATH]
Exit status 1 if a run fails or two reports that must be equal differ; a missed target is reported, not an
error (timings on a shared machine are noisy).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
from run import MB, SKEWCHECK, BenchmarkError, checked, compare_has_option, load_average, machine, measure

BENCH_DIR = Path(__file__).resolve().parent
GB = 2**30
SIZES = (10_000_000, 30_000_000, 60_000_000, 200_000_000)
ITEMS = ("linear", "capped", "dask")
# Targets from issue 12.
MAX_200M_PEAK_GB = 6.0
CAPPED_LIMIT = "2GB"
MAX_CAPPED_PEAK_GB = 2.5
CAPPED_ROWS = 30_000_000
DASK_ROWS = 60_000_000
DASK_WORKERS = 2
DASK_WORKER_MEMORY = "4GB"
# Settings that say how a comparison ran, not what it found: they may differ between equal reports.
HOW_RUN = ("engine", "memory_limit", "spill_dir", "dask")
FLOAT_RTOL = 1e-9


@dataclass
class Result:
    item: str
    rows: int
    seconds: float
    peak_mb: float
    rows_per_second: float
    target: str = ""
    met: bool | None = None
    note: str = ""
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Sizes:
    """Rows a side of each item, and of each generated file."""

    linear: tuple[int, ...] = SIZES
    capped: int = CAPPED_ROWS
    dask: int = DASK_ROWS
    chunk: int = datasets.SCALE_CHUNK_ROWS


QUICK = Sizes(linear=(20_000, 40_000), capped=40_000, dask=40_000, chunk=10_000)


def dataset_dirs(work: Path, rows: int, chunk: int) -> tuple[Path, Path]:
    """Directories OFF/ and ON/ holding (hard links to) the files of the first `rows` rows."""
    full = datasets.scale_dataset(work, rows, chunk_rows=chunk)
    offline, online = full.first(rows)
    root = work / f"scale_sets/c{chunk}_r{rows}"
    for side, files in (("offline", offline), ("online", online)):
        folder = root / side
        if sorted(p.name for p in folder.glob("*.parquet")) != sorted(p.name for p in files):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            for path in files:
                os.link(path, folder / path.name)
    return root / "offline", root / "online"


def compare_command(rows: int, chunk: int, work: Path, report: Path) -> list[str]:
    offline, online = dataset_dirs(work, rows, chunk)
    return [SKEWCHECK, "compare", str(offline), str(online), "--key", "id", "--timestamp", "ts", "--json", str(report)]


def stable(report_path: Path) -> dict:
    """The report without what says how it was run (engine, memory budget, spill directory)."""
    report = json.loads(report_path.read_text())
    report.pop("engine", None)
    report["settings"] = {k: v for k, v in report.get("settings", {}).items() if k not in HOW_RUN}
    return report


def same(a, b) -> bool:
    """Equal reports: the same structure and values, floats to 1e-9 relative (the exactness promised)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=FLOAT_RTOL) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def bench_linear(work: Path, sizes: Sizes) -> list[Result]:
    results = []
    for rows in sizes.linear:
        report = work / f"scale_report_r{rows}.json"
        run = checked(
            measure(compare_command(rows, sizes.chunk, work, report)), f"skewcheck compare {rows:,} rows", ok=(0, 1)
        )
        result = Result("linear", rows, run.seconds, run.peak_mb, rows / run.seconds)
        if rows == max(SIZES):
            result.target = f"peak <= {MAX_200M_PEAK_GB:g} GB"
            result.met = run.peak_mb * MB <= MAX_200M_PEAK_GB * GB
        result.details = {"engine": json.loads(report.read_text()).get("engine")}
        results.append(result)
        print(_line(result), flush=True)
    return results


def reference_run(work: Path, chunk: int, rows: int, linear: list[Result]) -> tuple[Path, Result]:
    """The report and run of the plain comparison of `rows` rows: the linear item's, else run now."""
    report = work / f"scale_report_r{rows}.json"
    done = next((r for r in linear if r.rows == rows), None)
    if done is None:
        run = checked(measure(compare_command(rows, chunk, work, report)), "skewcheck compare", ok=(0, 1))
        done = Result("linear", rows, run.seconds, run.peak_mb, rows / run.seconds)
    return report, done


def bench_capped(work: Path, sizes: Sizes, linear: list[Result]) -> Result:
    """The capped run against the uncapped run of the same rows."""
    rows = sizes.capped
    if not compare_has_option("--memory-limit"):
        return Result("capped", rows, 0, 0, 0, note="not available: compare has no --memory-limit")
    uncapped, capped = reference_run(work, sizes.chunk, rows, linear)[0], work / f"scale_report_r{rows}_capped.json"
    command = [*compare_command(rows, sizes.chunk, work, capped), "--memory-limit", CAPPED_LIMIT]
    run = checked(measure(command), "skewcheck compare --memory-limit", ok=(0, 1))
    if not same(stable(uncapped), stable(capped)):
        raise BenchmarkError(f"the capped report {capped} differs from the uncapped {uncapped}")
    return Result(
        "capped",
        rows,
        run.seconds,
        run.peak_mb,
        rows / run.seconds,
        target=f"peak <= {MAX_CAPPED_PEAK_GB:g} GB, report identical",
        met=run.peak_mb * MB <= MAX_CAPPED_PEAK_GB * GB,
        note=f"--memory-limit {CAPPED_LIMIT}; report identical to the uncapped run",
    )


def bench_dask(work: Path, sizes: Sizes, linear: list[Result]) -> Result:
    """The Dask run against the local engine's run of the same rows."""
    rows = sizes.dask
    if not compare_has_option("--dask"):
        return Result("dask", rows, 0, 0, 0, note="not available: compare has no --dask")
    local, local_run = reference_run(work, sizes.chunk, rows, linear)
    report = work / f"scale_report_r{rows}_dask.json"
    command = [*compare_command(rows, sizes.chunk, work, report), "--dask"]
    with dask_cluster(DASK_WORKERS, DASK_WORKER_MEMORY) as (address, worker_peak):
        run = checked(measure([*command, address]), "skewcheck compare --dask", ok=(0, 1))
    if not same(stable(local), stable(report)):
        raise BenchmarkError(f"the Dask report {report} differs from the local engine's {local}")
    return Result(
        "dask",
        rows,
        run.seconds,
        run.peak_mb,
        rows / run.seconds,
        target="completes; report identical to the local engine's",
        met=True,
        note=(
            f"{DASK_WORKERS} workers x {DASK_WORKER_MEMORY}, largest worker peak {worker_peak():,.0f} MB; "
            f"{run.seconds / local_run.seconds:.2f}x the local engine's {local_run.seconds:.0f} s"
        ),
        details={"worker_peak_mb": worker_peak(), "local_seconds": local_run.seconds},
    )


class dask_cluster:
    """A Dask scheduler and `workers` worker processes, started with Dask's own commands, on loopback."""

    def __init__(self, workers: int, memory: str):
        self.workers, self.memory, self.processes, self.peak = workers, memory, [], 0.0
        self.scratch = Path(tempfile.mkdtemp(prefix="skewcheck-dask-"))

    def __enter__(self):
        import psutil

        port = _free_port()
        address = f"tcp://127.0.0.1:{port}"
        bin_dir = Path(sys.executable).parent
        self.processes.append(
            subprocess.Popen(
                [bin_dir / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        self.processes.append(
            subprocess.Popen(
                [
                    *(bin_dir / "dask", "worker", address),
                    *("--nworkers", str(self.workers), "--nthreads", "1", "--memory-limit", self.memory),
                    *("--local-directory", str(self.scratch), "--no-dashboard"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(self.workers, timeout=120)
        self.stop = threading.Event()
        nanny = psutil.Process(self.processes[1].pid)

        def sample():
            while not self.stop.wait(0.2):
                try:
                    rss = [p.memory_info().rss for p in nanny.children(recursive=True)]
                except psutil.Error:
                    continue
                self.peak = max([self.peak, *(r / MB for r in rss)])

        threading.Thread(target=sample, daemon=True).start()
        return address, lambda: self.peak

    def __exit__(self, *exc):
        self.stop.set()
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _line(r: Result) -> str:
    met = {True: "met", False: "NOT MET", None: ""}[r.met]
    return (
        f"{r.item:7} {r.rows:>12,} rows  {r.seconds:8.1f} s  {r.rows_per_second:>12,.0f} rows/s  "
        f"peak {r.peak_mb:>9,.0f} MB  {r.target} {met}  {r.note}".rstrip()
    )


def _items(text: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in text.split(","))
    unknown = [item for item in items if item not in ITEMS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown item {unknown[0]!r}: expected {', '.join(ITEMS)}")
    return items


def parse_size(text: str) -> int:
    text = text.strip().upper()
    factor = {"M": 1_000_000, "K": 1_000}.get(text[-1:], 1)
    return int(float(text.rstrip("MK")) * factor)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(f"{s // 1_000_000}M" for s in SIZES), help="linear item sizes")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny sizes, files of 10,000 rows")
    parser.add_argument("--only", type=_items, default=ITEMS, help=f"comma-separated items among {', '.join(ITEMS)}")
    parser.add_argument("--work-dir", type=Path, default=BENCH_DIR / ".work")
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "scale_results.json")
    args = parser.parse_args(argv)
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB RAM; load {load_average()}")
    sizes = QUICK if args.quick else Sizes(linear=tuple(parse_size(s) for s in args.sizes.split(",")))
    results, failures = [], []
    for item in args.only:
        try:
            if item == "linear":
                results.extend(bench_linear(args.work_dir, sizes))
            elif item == "capped":
                results.append(bench_capped(args.work_dir, sizes, [r for r in results if r.item == "linear"]))
                print(_line(results[-1]), flush=True)
            else:
                results.append(bench_dask(args.work_dir, sizes, [r for r in results if r.item == "linear"]))
                print(_line(results[-1]), flush=True)
        except BenchmarkError as exc:
            failures.append(f"{item}: {exc}")
            print(f"FAILED {item}: {exc}", flush=True)
    args.json.write_text(
        json.dumps(
            {
                "machine": info,
                "load_after": load_average(),
                "results": [asdict(r) for r in results],
                "failures": failures,
            },
            indent=2,
        )
    )
    print(f"results: {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
