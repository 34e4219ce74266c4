"""Data-parallel training on 2 logical CPU devices, run by tests/test_recipe.py in a fresh process.

TensorFlow fixes its devices when its runtime starts, so the two logical CPUs must be declared
before any op runs: a process of its own.  Prints one JSON object with the measured differences.
"""
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
import utils  # noqa: E402,F401,I001  (imports TensorFlow quietly; no op has run yet)
import tensorflow as tf  # noqa: E402

CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from utils import data, models, training  # noqa: E402


def build(vocab, strategy=None):
    keras.utils.set_random_seed(0)
    with (strategy or tf.distribute.get_strategy()).scope():
        model = models.AttentionSeq2Seq(vocab, units=16, embedding_dim=8, num_layers=2, dropout=0.0)
        model.build_from_config({})
    return model


def max_abs(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def mean_of_half_means_step(model, batch):
    """One SGD(1.0) step on one device whose loss is the mean of the two halves' own token means."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=data.PAD)
    half = len(batch) // 2
    with tf.GradientTape() as tape:
        loss = sum(loss_fn(part.decoder_target, model((part.encoder_input, part.decoder_input), training=True))
                   for part in (batch[:half], batch[half:])) / 2
    grads = tape.gradient(loss, model.trainable_variables)
    return [w.numpy() - tf.convert_to_tensor(g).numpy() for w, g in zip(model.trainable_variables, grads)]


def main():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results = {"replicas": strategy.num_replicas_in_sync}
    batches = {"equal lengths": data.make_reversal_data(64, min_len=6, max_len=6, n_symbols=6, seed=0),
               "mixed lengths": data.make_reversal_data(64, min_len=1, max_len=12, n_symbols=6, seed=0)}
    for name, batch in batches.items():
        single, parallel = build(batch.vocab_size), build(batch.vocab_size, strategy)
        start = single.get_weights()
        assert max_abs(start, parallel.get_weights()) == 0.0
        one_device = training.sgd_step(single, batch)
        two_devices = training.sgd_step(parallel, batch)
        reference = build(batch.vocab_size)
        results[name] = {"update": max_abs(one_device, start), "two_vs_one": max_abs(two_devices, one_device),
                         "two_vs_mean_of_half_means": max_abs(two_devices[:len(reference.trainable_variables)],
                                                              mean_of_half_means_step(reference, batch))}
    # fit_model, unchanged, trains a model built in the strategy's scope: Adam, bucketing, 2 layers
    model = build(batches["equal lengths"].vocab_size, strategy)
    train = data.make_reversal_data(256, min_len=1, max_len=12, n_symbols=6, seed=1)
    history, _ = training.fit_model(model, train, epochs=1, batch_size=64, verbose=0, bucket_by_length=True)
    results["fit_loss"] = [float(v) for v in history.history["loss"]]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
