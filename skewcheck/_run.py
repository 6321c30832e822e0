"""Threads of the driver: a pool whose queued work is cancelled at once on an error or Ctrl-C.

A plain `with ThreadPoolExecutor()` waits, on the way out, for every task still queued: after
Ctrl-C on a wide input that is hundreds of features compared for nothing. Here only the tasks
already running finish (one feature per thread); the queued ones are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager


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
