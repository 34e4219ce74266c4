"""Tests of utils.models: fast decoding against the slow reference, EOS/PAD, bad inputs, saving.

``Seq2Seq.generate`` (incremental, batched, compiled) must give exactly the ids of
``prefix_generate`` (re-running the teacher-forced model on the growing prefix), on random
and on briefly trained weights.  Models are tiny (16 units) so the file runs in well under a minute.
"""
import keras
import numpy as np
import pytest

from utils import data, models
from utils.data import EOS, PAD

N_SYMBOLS = 10
VOCAB = data.vocab_size(N_SYMBOLS)
UNITS = 16
CELLS = ["simple", "gru", "lstm"]


def built(model):
    """Call ``model`` once on a dummy batch so that its weights exist."""
    dummy = np.full((1, 2), data.SOS + 2, dtype=np.int32)
    model((dummy, dummy))
    return model


def rnn_model(cell, embedding_dim=None, seed=0):
    keras.utils.set_random_seed(seed)
    return built(models.RNNSeq2Seq(VOCAB, cell=cell, units=UNITS, embedding_dim=embedding_dim))


def sources(n, *, min_len=1, max_len=8, seed=7):
    return data.make_reversal_data(n, min_len=min_len, max_len=max_len, n_symbols=N_SYMBOLS,
                                   seed=seed).encoder_input


def set_eos_bias(model, value):
    """Set the output bias of EOS to ``value``: +1e4 makes every row stop at once, -1e4 never."""
    bias = model.output_layer.bias.numpy()
    bias[EOS] = value
    model.output_layer.bias.assign(bias)


def assert_eos_then_pad(ids, max_len):
    """The output contract: int32, at most max_len wide, PAD after each row's first EOS."""
    assert ids.dtype == np.int32
    assert 1 <= ids.shape[1] <= max_len
    for row in ids:
        eos = np.flatnonzero(row == EOS)
        if eos.size:
            assert (row[eos[0] + 1:] == PAD).all(), row
        else:  # a row that never emitted EOS ran for all max_len steps
            assert ids.shape[1] == max_len, row


@pytest.fixture(scope="module")
def gru_model():
    """A GRU model with random weights, shared by the tests that only read it."""
    return rnn_model("gru")


# ----------------------------------------------------------------- trained weights (shared, a few s each)
@pytest.fixture(scope="module")
def trained():
    """Briefly trained RNN models, one per cell (embeddings for gru/lstm, one-hot for simple)."""
    train = data.make_reversal_data(1500, min_len=1, max_len=6, n_symbols=N_SYMBOLS, seed=3)
    trained_models = {}
    for cell in CELLS:
        model = rnn_model(cell, embedding_dim=None if cell == "simple" else 8, seed=1)
        models.fit_model(model, train, epochs=3, batch_size=50, learning_rate=1e-2, verbose=0)
        trained_models[cell] = model
    return trained_models


# ----------------------------------------------------------------- generate == prefix_generate
@pytest.mark.parametrize("embedding_dim", [None, 8])
@pytest.mark.parametrize("cell", CELLS)
def test_generate_matches_prefix_reference_on_random_weights(cell, embedding_dim):
    model = rnn_model(cell, embedding_dim)
    encoder_input = sources(64)
    fast = model.generate(encoder_input)
    slow = models.prefix_generate(model, encoder_input)
    np.testing.assert_array_equal(fast, slow)
    assert len({tuple(row) for row in fast}) > 1, "random weights should give input-dependent outputs"


@pytest.mark.parametrize("attention", sorted(models.ATTENTIONS))
def test_attention_generate_matches_prefix_reference_on_random_weights(attention):
    keras.utils.set_random_seed(0)
    model = built(models.AttentionSeq2Seq(VOCAB, attention=attention, units=UNITS, embedding_dim=8))
    encoder_input = sources(32)
    ids, weights = model.generate(encoder_input, return_attention=True)
    np.testing.assert_array_equal(ids, models.prefix_generate(model, encoder_input))
    assert weights.shape == (*ids.shape, encoder_input.shape[1])


@pytest.mark.parametrize("cell", CELLS)
def test_generate_matches_prefix_reference_on_trained_weights(trained, cell):
    model = trained[cell]
    encoder_input = sources(200, max_len=6, seed=11)
    fast = model.generate(encoder_input)
    np.testing.assert_array_equal(fast, models.prefix_generate(model, encoder_input))
    assert (fast == EOS).any(axis=1).mean() > 0.5, "a trained model should stop on its own"


def test_trained_model_learned_something(trained):
    """Sanity check that the 'trained' weights are not random: most first tokens are right."""
    record = data.make_reversal_data(200, min_len=1, max_len=6, n_symbols=N_SYMBOLS, seed=12)
    predicted = trained["gru"].generate(record.encoder_input)
    assert (predicted[:, 0] == record.decoder_target[:, 0]).mean() > 0.5


# ----------------------------------------------------------------- EOS and PAD
@pytest.mark.parametrize("cell", CELLS)
def test_everything_after_eos_is_pad(trained, cell):
    encoder_input = sources(300, max_len=6, seed=13)
    assert_eos_then_pad(trained[cell].generate(encoder_input), max_len=encoder_input.shape[1] + 1)


def test_trained_rows_emit_no_pad_before_eos(trained):
    ids = trained["gru"].generate(sources(300, max_len=6, seed=14))
    for row in ids:
        eos = np.flatnonzero(row == EOS)
        end = eos[0] if eos.size else len(row)
        assert (row[:end] != PAD).all(), row


@pytest.mark.parametrize("cell", CELLS)
def test_row_that_never_emits_eos_stops_at_max_len(cell):
    model = rnn_model(cell)
    set_eos_bias(model, -1e4)
    encoder_input = sources(8)
    ids = model.generate(encoder_input, max_len=13)
    assert ids.shape == (8, 13)
    assert not (ids == EOS).any()
    np.testing.assert_array_equal(ids, models.prefix_generate(model, encoder_input, max_len=13))


def test_decoding_stops_early_once_every_row_has_emitted_eos():
    model = rnn_model("gru")
    set_eos_bias(model, 1e4)
    ids = model.generate(sources(8), max_len=30)
    np.testing.assert_array_equal(ids, np.full((8, 1), EOS))


def test_max_len_defaults_to_source_length_plus_one():
    model = rnn_model("gru")
    set_eos_bias(model, -1e4)
    assert model.generate(sources(4, min_len=5, max_len=5)).shape == (4, 6)


def test_generate_is_compiled_once_for_any_batch_size_and_length():
    model = rnn_model("lstm", embedding_dim=8)
    for n, length in [(1, 3), (7, 12), (300, 5), (2, 40)]:
        model.generate(sources(n, min_len=length, max_len=length), max_len=length + 2)
    assert model._generate_fn.experimental_get_tracing_count() == 1


# ----------------------------------------------------------------- batch sizes
@pytest.mark.parametrize("cell", CELLS)
def test_batch_of_one_and_large_batch_agree_row_by_row(cell):
    model = rnn_model(cell, embedding_dim=8)
    encoder_input = sources(1000, max_len=10, seed=21)
    large = model.generate(encoder_input)
    assert large.shape[0] == 1000
    assert_eos_then_pad(large, max_len=11)
    for i in [0, 1, 499, 999]:
        single = model.generate(encoder_input[i:i + 1])
        assert single.shape[0] == 1
        width = single.shape[1]
        np.testing.assert_array_equal(single[0], large[i, :width])
        assert (large[i, width:] == PAD).all()


# ----------------------------------------------------------------- inputs longer than trained on
@pytest.mark.parametrize("cell", CELLS)
def test_inputs_longer_than_trained_on_are_accepted(trained, cell):
    """Recurrent models take any source length (defined behaviour, documented in ``generate``)."""
    model = trained[cell]  # trained on lengths 1-6
    encoder_input = sources(16, min_len=30, max_len=40, seed=31)
    ids = model.generate(encoder_input)
    assert_eos_then_pad(ids, max_len=41)
    np.testing.assert_array_equal(ids, models.prefix_generate(model, encoder_input))


# ----------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("bad_input, error, message", [
    (np.zeros((3, 5), np.int32), ValueError, "start with PAD"),                          # all-PAD rows
    (np.array([[4, 5, 6], [0, 0, 0]], np.int32), ValueError, r"rows \[1\] start with PAD"),
    (np.array([[4, 0, 5]], np.int32), ValueError, "right-padded"),
    (np.array([[4, 5, VOCAB]], np.int32), ValueError, "ids in"),
    (np.array([[4, -1, 5]], np.int32), ValueError, "ids in"),
    (np.array([[4.0, 5.0]]), TypeError, "integer token ids"),
    (np.array([4, 5, 6], np.int32), ValueError, "rank 2"),
    (np.zeros((0, 4), np.int32), ValueError, "at least one row"),
    (np.zeros((2, 0), np.int32), ValueError, "at least one row"),
])
@pytest.mark.parametrize("decode", ["generate", "prefix_generate"])
def test_bad_encoder_input_raises_a_clear_error(gru_model, decode, bad_input, error, message):
    model = gru_model
    run = model.generate if decode == "generate" else lambda x, **kw: models.prefix_generate(model, x, **kw)
    with pytest.raises(error, match=message):
        run(bad_input)


@pytest.mark.parametrize("max_len, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError),
                                            (True, TypeError), ("10", TypeError)])
def test_bad_max_len_raises(gru_model, max_len, error):
    model = gru_model
    with pytest.raises(error, match="max_len"):
        model.generate(sources(2), max_len=max_len)
    with pytest.raises(error, match="max_len"):
        models.prefix_generate(model, sources(2), max_len=max_len)


def test_max_len_accepts_numpy_ints(gru_model):
    assert gru_model.generate(sources(2), max_len=np.int64(3)).shape[1] <= 3


def test_return_attention_needs_an_attention_model(gru_model):
    with pytest.raises(ValueError, match="return_attention"):
        gru_model.generate(sources(2), return_attention=True)


@pytest.mark.parametrize("kwargs, error", [(dict(cell="rnn"), ValueError), (dict(units=0), ValueError),
                                           (dict(embedding_dim=2.0), TypeError)])
def test_bad_constructor_arguments_raise(kwargs, error):
    with pytest.raises(error):
        models.RNNSeq2Seq(VOCAB, **kwargs)


# ----------------------------------------------------------------- save and load
@pytest.mark.parametrize("cell", CELLS)
def test_save_load_round_trip_gives_identical_generate(trained, cell, tmp_path):
    model = trained[cell]
    path = tmp_path / f"{cell}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is models.RNNSeq2Seq
    assert restored.get_config() == model.get_config()
    encoder_input = sources(100, max_len=12, seed=41)
    np.testing.assert_array_equal(restored.generate(encoder_input), model.generate(encoder_input))
    record = data.make_reversal_data(4, min_len=3, max_len=3, n_symbols=N_SYMBOLS, seed=42)
    inputs = (record.encoder_input, record.decoder_input)
    np.testing.assert_allclose(restored(inputs), model(inputs), atol=1e-6)  # teacher-forced logits
