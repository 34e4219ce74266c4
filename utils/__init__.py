"""Shared code for the seq2seq-with-attention notebook series.

Along the pipeline: ``utils.data`` (tasks, padding, files), ``utils.layers`` (attention),
``utils.models`` (the ``Seq2Seq`` interface and the models), ``utils.decoding`` (greedy
``generate`` and the slow reference), ``utils.beam`` (beam search), ``utils.transformer`` (the
Transformer), ``utils.training`` (compile, fit, evaluate),
``utils.metrics`` (token, exact-sequence and alignment accuracy) and ``utils.plotting``.
Importing ``utils`` registers the models and layers with Keras so that ``keras.saving.load_model`` can restore them.
"""
import contextlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # quiet TensorFlow's C++ logs
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@contextlib.contextmanager
def _stderr_silenced():
    """Point file descriptor 2 at /dev/null for the duration (C++ writes bypass sys.stderr)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


if "tensorflow" not in sys.modules:
    # TensorFlow 2.21 prints absl INFO lines at import ("oneDNN custom operations are on",
    # "Could not find cuda drivers") before it reads TF_CPP_MIN_LOG_LEVEL; hide the import's stderr only.
    with _stderr_silenced():
        import tensorflow  # noqa: F401

from utils import beam, data, decoding, layers, metrics, models, plotting, training, transformer  # noqa: E402,F401,I001  (models and transformer register the Keras classes)
