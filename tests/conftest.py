"""Put the repository root on sys.path so the tests import the local ``utils``.

With a GPU, TensorFlow would reserve all of its memory in the first of the two worker processes
(``make unit`` runs ``pytest -n 2``); growing the allocation on demand lets both share it.
"""
import os
import pathlib
import sys

os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
