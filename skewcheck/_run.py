"""The driver's parts: features read in chunks of columns, and threads that stop on an error.

The pool's queued work is cancelled at once on an error or Ctrl-C.
A plain `with ThreadPoolExecutor()` waits, on the way out, for every task still queued: after
Ctrl-C on a wide input that is hundreds of features compared for nothing. Here only the tasks
already running finish (one feature per thread); the queued ones are dropped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING

import polars as pl

from ._errors import SkewcheckInputError

if TYPE_CHECKING:
    from ._io import Source

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
        frame = side.frame.select(present).collect()
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
