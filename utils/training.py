"""Training and evaluation: the series' one compile set-up, ``fit_model`` and free-running ``evaluate``.

``fit_model`` prints one compact line per epoch (``EpochLine``); ``evaluate`` decodes
greedily with ``generate`` and scores exact-sequence, token and alignment accuracy
(``utils.metrics``).  Taught in ``notebooks/03_lstm_gru_seq2seq.ipynb``.
"""
from __future__ import annotations

import time

import keras
import numpy as np

from utils import metrics
from utils.data import PAD, to_tf_dataset


def compile_model(model, learning_rate=3e-3):
    """The series' one training set-up: Adam, PAD-ignoring cross-entropy on logits, masked accuracy."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD),
                  metrics=[metrics.MaskedAccuracy()])
    return model


class EpochLine(keras.callbacks.Callback):
    """Prints one compact line per epoch: ``epoch 3/6  loss 0.0123  masked_accuracy 0.9876  (4.1 s)``."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        values = "  ".join(f"{name} {value:.4f}" for name, value in (logs or {}).items())
        print(f"epoch {epoch + 1}/{self.epochs}  {values}  ({time.perf_counter() - self.start:.1f} s)", flush=True)


def fit_model(model, train, *, epochs, batch_size=128, seed=0, validation=None, learning_rate=3e-3,
              verbose=2, callbacks=None, bucket_by_length=False):
    """Compile (if not yet) and train on a ``Seq2SeqData`` record; returns ``(history, seconds)``.

    ``verbose=2``: one line per epoch (``EpochLine``); 0: silent.  ``seconds`` is the wall
    time of ``fit`` alone.  ``learning_rate`` may be a float or a Keras schedule.
    ``bucket_by_length``: batches of similar lengths, cropped (see ``utils.data.to_tf_dataset``).
    """
    if verbose not in (0, 2):
        raise ValueError(f"verbose must be 0 (silent) or 2 (one line per epoch), got {verbose!r}")
    if not getattr(model, "compiled", False):
        compile_model(model, learning_rate)
    validation_data = None if validation is None else to_tf_dataset(validation, 1000, shuffle=False)
    callbacks = list(callbacks or []) + ([EpochLine(epochs)] if verbose == 2 else [])
    start = time.perf_counter()
    dataset = to_tf_dataset(train, batch_size, shuffle=True, seed=seed, bucket_by_length=bucket_by_length)
    # shuffle=False: the dataset shuffles itself (fit's default True only warns for a tf.data input)
    history = model.fit(dataset, epochs=epochs, shuffle=False,
                        validation_data=validation_data, verbose=0, callbacks=callbacks)
    return history, time.perf_counter() - start


def evaluate(model, record, *, batch_size=1000):
    """Free-running (greedy ``generate``) scores on a record: exact, token and, with attention, alignment.

    Returns ``{"exact": ..., "token": ..., "alignment": ... or None, "predicted": ids, "attention": ...}``.
    """
    predicted, attention = [], []
    for start in range(0, len(record), batch_size):
        batch = record.encoder_input[start:start + batch_size]
        out = model.generate(batch, return_attention=model.has_attention)
        ids, weights = out if model.has_attention else (out, None)
        width = record.decoder_target.shape[1]
        predicted.append(np.pad(ids, ((0, 0), (0, width - ids.shape[1])), constant_values=PAD))
        if weights is not None:
            attention.append(np.pad(weights, ((0, 0), (0, width - weights.shape[1]), (0, 0))))
    predicted = np.concatenate(predicted)
    attention = np.concatenate(attention) if attention else None
    return {"exact": metrics.sequence_accuracy(record.decoder_target, predicted),
            "token": metrics.token_accuracy(record.decoder_target, predicted),
            "alignment": None if attention is None else metrics.alignment_accuracy(attention, record.lengths),
            "predicted": predicted, "attention": attention}
