"""Tests of utils.training's options: gradient clipping, the exact-accuracy checkpoint, TensorBoard logs."""
import keras
import numpy as np
import pytest

from utils import data, models

N_SYMBOLS = 6
VOCAB = data.vocab_size(N_SYMBOLS)


@pytest.fixture(scope="module")
def records():
    return (data.make_reversal_data(600, min_len=1, max_len=5, n_symbols=N_SYMBOLS, seed=1),
            data.make_reversal_data(100, min_len=1, max_len=5, n_symbols=N_SYMBOLS, seed=2))


def small_model(seed=0):
    keras.utils.set_random_seed(seed)
    return models.AttentionSeq2Seq(VOCAB, attention="dot", units=16, embedding_dim=8)


@pytest.mark.parametrize("option", ["clipnorm", "global_clipnorm"])
def test_clipping_is_keras_own_option(option):
    model = models.compile_model(small_model(), 1e-2, **{option: 1.0})
    assert getattr(model.optimizer, option) == 1.0


@pytest.mark.parametrize("kwargs, error, message", [
    ({"clipnorm": 0}, ValueError, "clipnorm must be a positive finite number"),
    ({"global_clipnorm": -1.0}, ValueError, "global_clipnorm must be a positive finite number"),
    ({"clipnorm": "1"}, TypeError, "clipnorm must be a positive number or None"),
    ({"clipnorm": 1.0, "global_clipnorm": 1.0}, ValueError, "not both")])
def test_bad_clipping_raises(kwargs, error, message):
    with pytest.raises(error, match=message):
        models.compile_model(small_model(), **kwargs)


def test_clipping_on_a_compiled_model_raises(records):
    model = models.compile_model(small_model())
    with pytest.raises(ValueError, match="compiled already"):
        models.fit_model(model, records[0], epochs=1, verbose=0, global_clipnorm=1.0)


def test_checkpoint_records_exact_accuracy_and_restores_the_best_weights(records):
    train, validation = records
    model = small_model()
    checkpoint = models.ExactAccuracyCheckpoint(validation)
    history, _ = models.fit_model(model, train, epochs=4, batch_size=50, learning_rate=1e-2, verbose=0,
                                  callbacks=[checkpoint])
    exact = [score for _, _, score in checkpoint.scores]
    assert len(exact) == 4 and history.history["val_exact"] == exact
    assert checkpoint.best == max(exact) and checkpoint.best_epoch == 1 + int(np.argmax(exact))
    assert models.evaluate(model, validation)["exact"] == checkpoint.best  # the best weights are back


def test_checkpoint_every_steps_and_early_stopping(records):
    train, validation = records
    model = small_model()
    models.compile_model(model, 0.0)  # a learning rate of 0: no evaluation can improve on the first
    checkpoint = models.ExactAccuracyCheckpoint(validation, every_steps=3, patience=2)
    models.fit_model(model, train, epochs=5, batch_size=50, verbose=0, callbacks=[checkpoint])
    assert [step for _, step, _ in checkpoint.scores] == [3, 6, 9]  # stopped after 2 evaluations without gain
    assert checkpoint.best_step == 3


def test_early_stopping_waits_for_start_from_epoch(records):
    train, validation = records
    model = models.compile_model(small_model(), 0.0)  # no evaluation can improve on the first
    checkpoint = models.ExactAccuracyCheckpoint(validation, patience=2, start_from_epoch=3)
    models.fit_model(model, train, epochs=10, batch_size=50, verbose=0, callbacks=[checkpoint])
    assert [epoch for epoch, _, _ in checkpoint.scores] == [1, 2, 3, 4, 5]  # epochs 1-3 uncounted, then 2 more


@pytest.mark.parametrize("kwargs, error, message", [
    ({"every_epochs": 0}, ValueError, "every_epochs must be >= 1"), ({"every_steps": 1.5}, TypeError, "every_steps"),
    ({"start_from_epoch": -1}, ValueError, "start_from_epoch"),
    ({"every_epochs": 1, "every_steps": 1}, ValueError, "not both"), ({"patience": 0}, ValueError, "patience"),
    ({"restore_best": 1}, TypeError, "restore_best")])
def test_bad_checkpoint_arguments_raise(records, kwargs, error, message):
    with pytest.raises(error, match=message):
        models.ExactAccuracyCheckpoint(records[1], **kwargs)


def test_checkpoint_needs_a_record():
    with pytest.raises(TypeError, match="validation must be a Seq2SeqData"):
        models.ExactAccuracyCheckpoint(np.zeros((2, 3)))


def test_tensorboard_logs_are_written(records, tmp_path):
    models.fit_model(small_model(), records[0][:100], epochs=1, batch_size=50, verbose=0, tensorboard_dir=tmp_path)
    assert list(tmp_path.rglob("events.out.tfevents.*"))


def test_sgd_is_an_option_and_a_bad_optimizer_raises():
    model = models.compile_model(small_model(), 0.5, optimizer="sgd", global_clipnorm=1.0)
    assert isinstance(model.optimizer, keras.optimizers.SGD) and model.optimizer.global_clipnorm == 1.0
    with pytest.raises(ValueError, match="optimizer must be one of"):
        models.compile_model(small_model(), optimizer="rmsprop")


def test_warmup_cosine_rises_linearly_then_decays_to_zero():
    from utils import training
    schedule = training.warmup_cosine(1e-3, 100, 10)
    rates = [float(schedule(step)) for step in (0, 5, 10, 55, 100)]
    np.testing.assert_allclose(rates, [0.0, 5e-4, 1e-3, 5e-4, 0.0], atol=1e-9)
    no_warmup = training.warmup_cosine(1e-3, 100)
    np.testing.assert_allclose([float(no_warmup(0)), float(no_warmup(50)), float(no_warmup(100))],
                               [1e-3, 5e-4, 0.0], atol=1e-9)


@pytest.mark.parametrize("args, error, message", [
    ((0.0, 100, 10), ValueError, "peak must be a positive"),
    ((1e-3, 0, 0), ValueError, "steps must be"),
    ((1e-3, 100, 100), ValueError, "warmup must be fewer than steps"),
    (("fast", 100, 10), TypeError, "peak must be"),
])
def test_warmup_cosine_bad_arguments_raise(args, error, message):
    from utils import training
    with pytest.raises(error, match=message):
        training.warmup_cosine(*args)


def test_compile_model_needs_no_distribution_strategy():
    """Keras' JAX and PyTorch backends have none (scripts/device_runs.py trains there)."""
    from utils import training

    class NoStrategy:  # the one method compile_model calls, and no distribute_strategy
        def compile(self, **kwargs):
            self.compiled_with = kwargs

    model = training.compile_model(NoStrategy(), 1e-3, global_clipnorm=5.0)
    assert model.compiled_with["optimizer"].global_clipnorm == 5.0
    assert not hasattr(model, "distribute_strategy")


def test_bucketed_batches_hold_every_row_once_cropped_to_multiples_of_8():
    """data.bucketed_batches(width_multiple=8), as scripts/device_runs.py trains: each row once per epoch,
    only PAD columns cropped, few widths."""
    record = data.make_reversal_data(1000, min_len=1, max_len=30, n_symbols=10, seed=3)

    def padded(array, width):  # a cropped batch back to the record's width
        return np.pad(array, ((0, 0), (0, width - array.shape[1])), constant_values=data.PAD)

    rows, widths = [], set()
    for (source, prefix), target in data.bucketed_batches(record, 64, np.random.default_rng(0), True,
                                                          width_multiple=8):
        widths.add((source.shape[1], prefix.shape[1]))
        for width, full in ((source.shape[1], record.encoder_input.shape[1]),
                            (prefix.shape[1], record.decoder_input.shape[1])):
            assert width % 8 == 0 or width == full
        rows += [a.tobytes() + b.tobytes() + c.tobytes() for a, b, c in zip(
            padded(source, record.encoder_input.shape[1]), padded(prefix, record.decoder_input.shape[1]),
            padded(target, record.decoder_target.shape[1]))]
    expected = [a.tobytes() + b.tobytes() + c.tobytes()
                for a, b, c in zip(record.encoder_input, record.decoder_input, record.decoder_target)]
    assert sorted(rows) == sorted(expected)
    assert len(widths) <= 16
