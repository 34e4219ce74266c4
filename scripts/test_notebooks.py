"""Run every notebook under nbval, two pytest processes at a time (`make notebooks`).

nbval makes one test per cell, and a notebook's cells share one kernel, so a notebook must run whole in one
process. Some notebooks load a model that an earlier one saved in models/ (04 and 05 load 03's, 08 loads 07's)
and fall back to training it; run side by side, one could read a file the other is still writing. So a
notebook joins the chain of the notebook whose model it loads (found from the `NN_name.keras` file names in its
source), and each chain runs in one process, in order. The chains go longest first (the last recorded wall
times, bench/results.json) to two workers: on the 2-core CI machine two kernels finish sooner than one, because
TensorFlow's small ops keep about one core busy each.

pytest-xdist's `--dist loadgroup` was meant for this, but with pytest 9.2 it ignores the groups (it renames
node ids through an attribute pytest no longer reads) and splits a notebook's cells between workers.

Usage: python scripts/test_notebooks.py [--workers N] [notebooks/NN_name.ipynb ...]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAVED_MODEL = re.compile(r"\b(\d\d)_[\w-]+\.keras\b")
DEFAULT_SECONDS = 120.0  # a notebook with no recorded wall time yet


def chains(paths):
    """Group notebooks so that each runs after, and in the same process as, the notebooks whose models it loads."""
    by_prefix = {path.name[:2]: path for path in paths}
    parent = {prefix: prefix for prefix in by_prefix}

    def root(prefix):
        while parent[prefix] != prefix:
            prefix = parent[prefix]
        return prefix

    for prefix, path in by_prefix.items():
        source = "".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"])
        for other in set(SAVED_MODEL.findall(source)) - {prefix}:
            if other in by_prefix:
                parent[root(prefix)] = root(other)
    groups = {}
    for prefix in sorted(by_prefix):
        groups.setdefault(root(prefix), []).append(by_prefix[prefix])
    return list(groups.values())


def recorded_seconds():
    results = ROOT / "bench" / "results.json"
    return json.loads(results.read_text()).get("notebooks", {}) if results.exists() else {}


def run_chain(chain):
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-q", *map(str, chain)], cwd=ROOT,
                          capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path, help="default: notebooks/[0-9][0-9]_*.ipynb")
    parser.add_argument("--workers", type=int, default=2, help="pytest processes at a time (default 2)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers must be a positive integer, got {args.workers}")
    paths = sorted(p.resolve() for p in args.notebooks) or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    seconds = recorded_seconds()
    queue = sorted(chains(paths), key=lambda c: -sum(seconds.get(p.name, DEFAULT_SECONDS) for p in c))
    print(f"{len(paths)} notebooks in {len(queue)} chains, {args.workers} at a time:", flush=True)
    for chain in queue:
        print("  " + " -> ".join(p.name for p in chain), flush=True)
    start, failed = time.perf_counter(), []
    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
        futures = {pool.submit(run_chain, chain): chain for chain in queue}
        for future in concurrent.futures.as_completed(futures):
            code, output, wall = future.result()
            names = " -> ".join(p.name for p in futures[future])
            print(f"\n=== {names}: {'passed' if code == 0 else 'FAILED'} in {wall:.0f} s ===\n{output}", flush=True)
            if code != 0:
                failed.append(names)
    print(f"all chains: {time.perf_counter() - start:.0f} s; "
          + (f"FAILED: {'; '.join(failed)}" if failed else "every notebook passed"), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
