"""pytest set-up shared by the unit tests and nbval.

nbval compares only cells marked ``# NBVAL_CHECK_OUTPUT`` (we run ``--nbval-lax``);
stderr (TensorFlow's and Keras' warnings) is never compared.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
