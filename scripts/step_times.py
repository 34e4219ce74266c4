"""Bench part (f), the parallelism con of notebook 10: seconds per training step against sequence length.

Shared by ``scripts/bench.py`` (TensorFlow, on the device it finds) and ``scripts/device_runs.py`` (Keras on
the JAX backend, on a GPU machine without TensorFlow): it needs only Keras and the series' models.
"""
from __future__ import annotations

import statistics
import time

import keras

from utils import data, models, training, transformer

#: the two models of notebook 10's parallelism section, at similar parameter counts
PARALLEL_MODELS = {
    "GRU + attention": lambda vocab: models.AttentionSeq2Seq(vocab, attention="additive", units=128, embedding_dim=64),
    "Transformer": lambda vocab: transformer.TransformerSeq2Seq(vocab, d_model=64, num_heads=4, num_layers=2),
}
PARALLEL_LENGTHS = (10, 25, 50, 100, 200)


def _per_model_and_length(time_step, *, lengths, batch_size, n_symbols, steps_per_execution=1, label=""):
    """``time_step(model, record)`` -> seconds per step, for each model and length; the models compiled once
    each, from seed 0, with ``steps_per_execution``; every row of a length's batch has that length."""
    results = {}
    for name, build in PARALLEL_MODELS.items():
        keras.utils.set_random_seed(0)
        model = build(data.vocab_size(n_symbols))
        training.compile_model(model, 1e-3)
        model.steps_per_execution = steps_per_execution
        results[name] = {"params": None, "seconds_per_step": {}}
        for length in lengths:
            record = data.make_reversal_data(batch_size, min_len=length, max_len=length, n_symbols=n_symbols, seed=0)
            seconds = time_step(model, record)
            results[name]["seconds_per_step"][str(length)] = seconds
            print(f"(f) {label}{name}, length {length}: {seconds * 1000:.2f} ms per step", flush=True)
        results[name]["params"] = model.count_params()
    return results


def step_times(*, lengths=PARALLEL_LENGTHS, batch_size=128, steps=5, n_symbols=10):
    """Median seconds per training step (Keras' compiled train step) for each model and length.

    Two untimed steps per length first (tracing, then one more). ``train_on_batch`` returns the loss as a
    number, so each timed step has finished on the device.
    """
    def time_step(model, record):
        batch = ((record.encoder_input, record.decoder_input), record.decoder_target)
        for _ in range(2):  # tracing for this length, then one more step
            model.train_on_batch(*batch)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            model.train_on_batch(*batch)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    results = _per_model_and_length(time_step, lengths=lengths, batch_size=batch_size, n_symbols=n_symbols)
    return {"batch_size": batch_size, "timed_steps": steps, "models": results}


def fused_step_times(*, lengths=PARALLEL_LENGTHS, batch_size=128, steps=50, n_symbols=10):
    """Seconds per training step inside ``fit`` with ``steps_per_execution=steps``: one compiled call runs all
    ``steps`` steps, so Python's dispatch of each step drops out and what remains is the device's work.

    The epoch repeats one batch ``steps`` times; one untimed epoch first (compiling), then one timed.
    """
    import numpy as np

    def time_step(model, record):
        x = tuple(np.tile(a, (steps, 1)) for a in (record.encoder_input, record.decoder_input))
        y = np.tile(record.decoder_target, (steps, 1))
        model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)  # compiles
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        return (time.perf_counter() - start) / steps

    results = _per_model_and_length(time_step, lengths=lengths, batch_size=batch_size, n_symbols=n_symbols,
                                    steps_per_execution=steps, label="fused ")
    return {"batch_size": batch_size, "steps_per_execution": steps, "models": results}
