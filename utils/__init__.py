"""Shared code for the seq2seq-with-attention notebook series.

``utils.data`` (tasks, padding, files), ``utils.metrics`` (token, exact-sequence and
alignment accuracy), ``utils.plotting`` (curves and heatmaps) and ``utils.models``
(the seq2seq models and their fast decoding). Importing ``utils`` registers the
models and layers with Keras so that ``keras.saving.load_model`` can restore them.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # quiet TensorFlow's C++ logs before it loads

from utils import data, metrics, models, plotting  # noqa: E402,F401  (models registers the Keras classes)
