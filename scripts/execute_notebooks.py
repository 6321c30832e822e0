"""Re-execute notebooks in place, top to bottom, and keep only what nbval compares.

Usage: .venv/bin/python scripts/execute_notebooks.py notebooks/05_*.ipynb [...]
(`make notebooks` runs it on every course notebook and solution.) Timing metadata that
nbconvert would add is left out, so a re-run changes a notebook only where its outputs change.
"""

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, *, timeout: int = 600) -> None:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(notebook, path)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"executing {name}", flush=True)
        execute(Path(name))
