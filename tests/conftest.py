"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shop_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The course's generated shop tables (seed 42, a quarter of the users), generated once: name -> path.

    Tests read them and never write there (write into their own `tmp_path`).
    """
    from data.generate import generate

    return generate(tmp_path_factory.mktemp("shop"), scale=0.25)
