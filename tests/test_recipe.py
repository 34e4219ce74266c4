"""Tests of the training recipe's model options: depth and dropout, scheduled sampling, gradient norms,
and data-parallel training on two logical CPU devices."""
import json
import pathlib
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from utils import data, models, training

N_SYMBOLS = 6
VOCAB = data.vocab_size(N_SYMBOLS)
ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def record():
    return data.make_reversal_data(256, min_len=1, max_len=8, n_symbols=N_SYMBOLS, seed=3)


DEEP = {
    "simple": lambda **kw: models.RNNSeq2Seq(VOCAB, cell="simple", units=12, **kw),
    "gru": lambda **kw: models.RNNSeq2Seq(VOCAB, cell="gru", units=12, embedding_dim=8, **kw),
    "lstm": lambda **kw: models.RNNSeq2Seq(VOCAB, cell="lstm", units=12, embedding_dim=8, **kw),
    "attention gru": lambda **kw: models.AttentionSeq2Seq(VOCAB, units=12, embedding_dim=8, **kw),
    "attention lstm": lambda **kw: models.AttentionSeq2Seq(VOCAB, cell="lstm", units=12, embedding_dim=8, **kw),
    "attention forward-only": lambda **kw: models.AttentionSeq2Seq(VOCAB, units=12, embedding_dim=8,
                                                                   bidirectional=False, **kw),
}


def built(kind, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    model = DEEP[kind](**kwargs)
    model.build_from_config({})
    return model


def teacher_forced_logits(model, record, training=False):
    return np.asarray(model((record.encoder_input, record.decoder_input), training=training))


# ----------------------------------------------------------------------------- depth and dropout
@pytest.mark.parametrize("kind", sorted(DEEP))
def test_stacked_layers_decode_step_by_step_as_they_run_in_parallel(kind, record):
    """generate (one step of every layer's cell at a time) equals the argmax of the teacher-forced logits
    fed with generate's own output: the step-by-step decoder is the stacked sequence decoder."""
    model = built(kind, num_layers=3, dropout=0.3)
    assert len(model.upper_encoders) == len(model.upper_decoders) == 2
    rows = record[:64]
    ids = model.generate(rows.encoder_input, 9)
    fed = np.concatenate([np.full((64, 1), data.SOS), ids[:, :-1]], axis=1)
    logits = np.asarray(model((rows.encoder_input, fed)))
    live = np.cumsum(ids == data.EOS, axis=1) - (ids == data.EOS) == 0  # up to and including EOS
    assert np.array_equal(logits.argmax(-1)[live], ids[live])


@pytest.mark.parametrize("kind", ["gru", "attention lstm"])
def test_dropout_acts_in_training_only(kind, record):
    model = built(kind, num_layers=2, dropout=0.5)
    rows = record[:32]
    assert np.array_equal(teacher_forced_logits(model, rows), teacher_forced_logits(model, rows))
    assert not np.allclose(teacher_forced_logits(model, rows, training=True), teacher_forced_logits(model, rows))
    plain = built(kind)  # no dropout: training and inference agree
    assert np.allclose(teacher_forced_logits(plain, rows, training=True), teacher_forced_logits(plain, rows),
                       atol=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "attention gru"])
def test_one_layer_without_dropout_has_the_layers_it_always_had(kind):
    model = built(kind)
    assert model.dropout_layer is None and model.upper_encoders == [] and model.upper_decoders == []
    deep = built(kind, num_layers=2)
    extra = sum(layer.count_params() for layer in deep.upper_encoders + deep.upper_decoders
                + getattr(deep, "upper_bridges", []))
    assert deep.count_params() == model.count_params() + extra > model.count_params()


@pytest.mark.parametrize("kind", ["simple", "attention gru"])
def test_deep_model_round_trips_through_keras_file(kind, record, tmp_path):
    model = built(kind, num_layers=2, dropout=0.25)
    path = tmp_path / "deep.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert (loaded.num_layers, loaded.dropout) == (2, 0.25)
    assert np.array_equal(loaded.generate(record.encoder_input[:50]), model.generate(record.encoder_input[:50]))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"num_layers": 0}, ValueError, "num_layers must be >= 1"),
    ({"num_layers": 1.5}, TypeError, "num_layers must be an int"),
    ({"dropout": 1.0}, ValueError, r"dropout must be in \[0, 1\)"),
    ({"dropout": -0.1}, ValueError, r"dropout must be in \[0, 1\)"),
    ({"dropout": "0.1"}, TypeError, "dropout must be a number"),
    ({"dropout": True}, TypeError, "dropout must be a number")])
@pytest.mark.parametrize("kind", ["gru", "attention gru"])
def test_bad_depth_or_dropout_raises(kind, kwargs, error, message):
    with pytest.raises(error, match=message):
        DEEP[kind](**kwargs)


# ----------------------------------------------------------------------------- scheduled sampling
@pytest.mark.parametrize("kind", ["simple", "lstm", "attention gru", "attention lstm"])
def test_scheduled_sampling_at_ratio_one_is_teacher_forcing(kind, record):
    """The step-by-step scan with every coin on the truth gives the parallel teacher-forced logits."""
    model = built(kind, num_layers=2)
    rows = record[:64]
    memory, mask, state = model.encode(rows.encoder_input)
    parallel, _ = model.decode_sequence(rows.decoder_input, memory, mask, state)
    model.set_teacher_forcing(lambda step: 1.0)  # a callable: scheduled sampling stays on
    stepped = model.scheduled_sampling_logits(rows.decoder_input, memory, mask, state)
    np.testing.assert_allclose(np.asarray(stepped), np.asarray(parallel), atol=1e-5)


@pytest.mark.parametrize("kind", ["gru", "attention gru"])
def test_scheduled_sampling_at_ratio_zero_runs_free(kind, record):
    """With every coin on the model's guess, training's argmax up to EOS is greedy decoding's output."""
    model = built(kind, num_layers=2).set_teacher_forcing(0.0)
    rows = record[:64]
    memory, mask, state = model.encode(rows.encoder_input)
    logits = np.asarray(model.scheduled_sampling_logits(rows.decoder_input, memory, mask, state))
    ids = model.generate(rows.encoder_input, rows.decoder_input.shape[1])
    live = np.cumsum(ids == data.EOS, axis=1) - (ids == data.EOS) == 0
    assert np.array_equal(logits.argmax(-1)[live], ids[live])


def test_scheduled_sampling_mixes_truth_and_guesses_at_the_ratio(record):
    """At ratio 0.5 the logits differ from both extremes, and the same seed gives the same coins."""
    rows = record[:64]

    def logits(ratio, seed=0):
        model = built("attention gru").set_teacher_forcing(ratio, seed=seed)
        memory, mask, state = model.encode(rows.encoder_input)
        return np.asarray(model.scheduled_sampling_logits(rows.decoder_input, memory, mask, state))

    half, truth, guess = logits(0.5), logits(lambda step: 1.0), logits(0.0)
    assert np.array_equal(half, logits(0.5))
    assert not np.allclose(half, logits(0.5, seed=1))
    assert not np.allclose(half, truth) and not np.allclose(half, guess)


def test_coin_share_follows_the_ratio():
    model = built("gru").set_teacher_forcing(0.3, seed=5)
    coins = keras.random.uniform((400, 50), seed=model.sampling_seed) < model.teacher_forcing_ratio()
    assert abs(float(np.mean(coins)) - 0.3) < 0.01  # 20,000 coins: 4.5 standard errors


def test_decaying_ratio_reads_the_optimiser_step():
    schedule = keras.optimizers.schedules.ExponentialDecay(1.0, decay_steps=10, decay_rate=0.5)
    model = models.compile_model(built("gru")).set_teacher_forcing(schedule)
    model.optimizer.iterations.assign(20)
    assert float(model.teacher_forcing_ratio()) == pytest.approx(0.25)


def test_fit_with_scheduled_sampling_trains_and_keeps_no_setting_in_the_file(record, tmp_path):
    model = built("attention gru", num_layers=2, dropout=0.1)
    before = [w.copy() for w in model.get_weights()]
    history, _ = models.fit_model(model, record, epochs=2, batch_size=64, verbose=0, teacher_forcing=0.5,
                                  bucket_by_length=True)
    assert model.teacher_forcing == 0.5
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][1] < history.history["loss"][0]
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    model.save(tmp_path / "sampled.keras")  # a training setting, not part of the model
    assert keras.saving.load_model(tmp_path / "sampled.keras").teacher_forcing is None
    models.fit_model(model, record, epochs=1, batch_size=64, verbose=0)  # back to full teacher forcing
    assert model.teacher_forcing is None


def test_fit_with_scheduled_sampling_builds_an_unbuilt_model_without_warnings(record):
    keras.utils.set_random_seed(0)
    model = DEEP["attention gru"]()  # not built: scheduled sampling's train step would be its first call
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras warns when it marks a model built before its layers are
        models.fit_model(model, record[:64], epochs=1, batch_size=64, verbose=0, teacher_forcing=0.5)
    assert model.built and all(layer.built for layer in model._flatten_layers())


@pytest.mark.parametrize("ratio, error, message", [
    (1.5, ValueError, r"ratio must be in \[0, 1\]"),
    (-0.1, ValueError, r"ratio must be in \[0, 1\]"),
    ("0.5", TypeError, "ratio must be None, a number"),
    (True, TypeError, "ratio must be None, a number")])
def test_bad_teacher_forcing_ratio_raises(ratio, error, message):
    with pytest.raises(error, match=message):
        built("gru").set_teacher_forcing(ratio)


# ----------------------------------------------------------------------------- gradient norms
def test_gradient_norms_are_the_global_norm_before_clipping(record):
    """The recorded norm is tf.linalg.global_norm of the gradient, and global_clipnorm=1 caps the step."""
    model = built("simple")
    start = [w.copy() for w in model.get_weights()]
    out = training.gradient_norms(model, record, steps=1, batch_size=256, learning_rate=0.1, global_clipnorm=1e-3)
    twin = built("simple")
    twin.set_weights(start)
    batch = next(iter(data.to_tf_dataset(record, 256, shuffle=True, seed=0)))
    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=data.PAD)(
            batch[1], twin(batch[0], training=True))
    grads = tape.gradient(loss, twin.trainable_variables)
    assert out["loss"][0] == pytest.approx(float(loss), rel=1e-5)
    assert out["norm"][0] == pytest.approx(float(tf.linalg.global_norm(grads)), rel=1e-5)
    assert out["norm"][0] > 1e-3  # so the clip bites: Adam's first step then moves each weight by <= lr
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(model.get_weights(), start)) <= 0.1 + 1e-6


def test_gradient_norms_counts_steps_across_epochs(record):
    out = training.gradient_norms(built("gru"), record[:128], steps=5, batch_size=64)
    assert out["loss"].shape == out["norm"].shape == (5,) and np.all(np.isfinite(out["norm"]))


# ----------------------------------------------------------------------------- exposure bias
def test_teacher_forced_accuracy_reads_each_position_after_the_true_prefix(record):
    """Against an independent path: the model re-run on each true prefix, scored at its last position."""
    model, rows = built("attention gru"), record[:40]
    predicted = np.stack([np.argmax(np.asarray(model((rows.encoder_input, rows.decoder_input[:, :t + 1])))[:, t], -1)
                          for t in range(rows.decoder_input.shape[1])], axis=1)
    real = rows.decoder_target != data.PAD
    expected = float(np.mean((predicted == rows.decoder_target)[real]))
    assert training.teacher_forced_accuracy(model, rows, batch_size=16) == pytest.approx(expected, abs=1e-12)


def test_teacher_forced_accuracy_rejects_bad_batch_size(record):
    with pytest.raises(ValueError, match="batch_size"):
        training.teacher_forced_accuracy(built("gru"), record[:8], batch_size=0)


# ----------------------------------------------------------------------------- data parallel
def test_data_parallel_step_on_two_logical_devices():
    """MirroredStrategy on 2 logical CPUs: equal-length halves give one device's step to float tolerance;
    with unequal halves the step is the mean of each half's own token mean (what Keras' per-replica
    loss computes), which the check reproduces on one device."""
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "data_parallel_check.py")], capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    equal, mixed = result["equal lengths"], result["mixed lengths"]
    assert equal["update"] > 0.01 and equal["two_vs_one"] < 1e-6
    assert mixed["two_vs_mean_of_half_means"] < 1e-6 < mixed["two_vs_one"]
    assert all(np.isfinite(result["fit_loss"]))
