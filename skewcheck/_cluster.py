"""The command line's --dask: the Dask client of one run (the `dask` extra, imported only when asked for)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from ._errors import SkewcheckInputError
from ._settings import cluster_spec


def dask_client(spec: str | None) -> AbstractContextManager:
    """A context giving the client of --dask `spec` for the duration of a command (None without it)."""
    if spec is None:
        return nullcontext()
    cluster = cluster_spec(spec)  # a bad value is a usage error, whether Dask is installed or not
    try:
        from ._dask import connect
    except ImportError as exc:
        raise SkewcheckInputError(f"`dask`: {exc}") from None
    return connect(cluster)
