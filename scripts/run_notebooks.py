"""Execute notebooks top to bottom, each in a fresh kernel, saving the outputs in place.

Prints one line per notebook with its wall time.  If a cell fails, the notebook is not
overwritten; the script names the notebook and the cell, prints the error and exits 1.

Usage: python scripts/run_notebooks.py notebooks/01_*.ipynb [...]
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

CELL_TIMEOUT_S = 900


def run(path: pathlib.Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):  # nbformat 4.5 wants an id on every cell; new cells lack one
        if "id" not in cell:
            cell["id"] = hashlib.sha1(f"{path.name}:{index}:{cell.source}".encode()).hexdigest()[:8]
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    for cell in notebook.cells:  # per-cell timestamps only make noisy diffs
        cell.metadata.pop("execution", None)
    nbformat.write(notebook, path)
    return seconds


def failing_cell(path, error):
    notebook = nbformat.read(path, as_version=4)
    code_cells = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code"]
    for number, index in enumerate(code_cells, start=1):
        if notebook.cells[index].source.strip() and notebook.cells[index].source in str(error):
            return f"code cell {number} (cell {index} of the notebook)"
    return "a cell (see the traceback)"


def main(paths):
    if not paths:
        print("usage: run_notebooks.py NOTEBOOK.ipynb [...]", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    total = time.perf_counter()
    for i, name in enumerate(paths, start=1):
        path = pathlib.Path(name)
        try:
            seconds = run(path)
        except CellExecutionError as error:
            print(f"[{i}/{len(paths)}] {path.name}  FAILED", flush=True)
            print(f"\n{path}: {failing_cell(path, error)} raised an error; the notebook was not saved.\n",
                  file=sys.stderr)
            print(str(error)[-4000:], file=sys.stderr)
            return 1
        # one line, after the kernel's own chatter
        print(f"[{i}/{len(paths)}] {path.name}  {seconds:6.1f} s", flush=True)
    print(f"all {len(paths)} notebooks ran in {time.perf_counter() - total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
