"""The driver: features read in chunks of columns and judged in threads, with progress, the
warnings they raise (de-duplicated), and cancellation.

The pool's queued work is cancelled at once on an error or Ctrl-C: a plain `with ThreadPoolExecutor()` waits, on the way out, for every task still queued: after
Ctrl-C on a wide input that is hundreds of features compared for nothing. Here only the tasks
already running finish (one feature per thread); the queued ones are dropped.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from ._errors import SkewcheckInputError, SkewcheckWarning

if TYPE_CHECKING:
    from ._io import Source

Result = TypeVar("Result")
Columns = tuple[Mapping[str, Any], Mapping[str, pl.Series]]  # the offline sides and online columns of a chunk

# Bytes of feature data read per step: bounds memory on wide, long inputs.
CHUNK_BYTES = 64 * 1024 * 1024
WORKERS = os.cpu_count() or 1


def column_chunks(names: list[str], rows: int) -> Iterator[list[str]]:
    """Features read together: within the memory budget, but enough to keep every core busy."""
    per_chunk = max(WORKERS, CHUNK_BYTES // max(1, rows * 8 * 2))
    for start in range(0, len(names), per_chunk):
        yield names[start : start + per_chunk]


def read_columns(side: Source, names: list[str]) -> dict[str, pl.Series]:
    """The columns of `names` that `side` has, read at once; a read failure is an input error."""
    present = [n for n in names if n in side.schema]
    if not present:
        return {}
    try:
        # one chunk a column: gathers by row pairs and sorts are faster than over the file's row groups
        frame = side.frame.select(present).collect().rechunk()
    except pl.exceptions.PolarsError as exc:
        raise SkewcheckInputError(
            f"{side.label}: cannot read column(s) {', '.join(present)} ({str(exc).splitlines()[0]})"
        ) from None
    return {name: frame.get_column(name) for name in present}


@contextmanager
def worker_pool(workers: int) -> Iterator[ThreadPoolExecutor]:
    """A thread pool of `workers` threads, shut down on exit; on an exception, without its queue."""
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def run_features(
    names: list[str],
    rows: int,
    read: Callable[[list[str]], Columns],
    judge: Callable[[str, Any, pl.Series | None], Result],
    *,
    progress: bool | None,
) -> tuple[list[Result], tuple[str, ...]]:
    """`judge(name, offline, online)` for every feature, and the warnings raised, sorted and once each.

    Features are judged in threads (numpy and polars release the GIL). At most two chunks are held at
    once, which bounds memory: the next chunk is read once the one before the current has been judged,
    while the current one is, so that a thread that finishes finds a feature waiting.
    """
    results: list[Result] = []
    with recorded_warnings() as notes:
        chunks = list(column_chunks(names, rows))
        in_flight: deque[list[tuple[str, Future]]] = deque()
        with _progress(len(names), enabled=progress) as advance, worker_pool(WORKERS) as pool, worker_pool(1) as reader:
            next_read = reader.submit(read, chunks[0])
            for index, chunk in enumerate(chunks):
                offline, online = next_read.result()
                in_flight.append(
                    [(name, pool.submit(judge, name, offline.get(name), online.get(name))) for name in chunk]
                )
                del offline, online
                while len(in_flight) > (1 if index + 1 < len(chunks) else 0):
                    for name, job in in_flight.popleft():
                        results.append(job.result())
                        advance(name)
                if index + 1 < len(chunks):
                    next_read = reader.submit(read, chunks[index + 1])
    return results, tuple(notes)


@contextmanager
def recorded_warnings() -> Iterator[list[str]]:
    """Record the SkewcheckWarnings raised inside (in any thread); on exit the yielded list holds their
    texts, sorted and once each."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SkewcheckWarning)
        yield notes
    notes.extend(sorted({f"{w.message}" for w in caught if issubclass(w.category, SkewcheckWarning)}))


@contextmanager
def _progress(total: int, *, enabled: bool | None):
    """Yield a callable that advances a progress bar on stderr (a no-op when disabled)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield lambda name: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("comparing {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("features", total=total)
        yield lambda name: bar.update(task, advance=1, description=name)
