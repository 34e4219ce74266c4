"""Tests of utils.beam.beam_search: greedy at width 1, scores the model's own, exhaustive equality,
the output contract, bad input, saving, and KerasHub's samplers on the same model.

Models are tiny (16 units) with random or briefly trained weights, so the file runs in seconds.
"""
import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from utils import beam, data, models
from utils.data import EOS, PAD, SOS

N_SYMBOLS = 10
VOCAB = data.vocab_size(N_SYMBOLS)


def make(kind, vocab=VOCAB, seed=0):
    keras.utils.set_random_seed(seed)
    if kind in ("simple", "gru", "lstm"):
        model = models.RNNSeq2Seq(vocab, cell=kind, units=16, embedding_dim=None if kind == "simple" else 8)
    else:
        model = models.AttentionSeq2Seq(vocab, attention=kind, units=16, embedding_dim=8)
    dummy = np.full((1, 2), SOS + 2, dtype=np.int32)
    model((dummy, dummy))
    return model


def sources(n, *, max_len=8, n_symbols=N_SYMBOLS, seed=7):
    return data.make_reversal_data(n, min_len=1, max_len=max_len, n_symbols=n_symbols, seed=seed).encoder_input


def teacher_forced_log_probs(model, encoder_input, ids):
    """Sum of log p(token) of each row of ``ids`` (batch, T) up to and including its first EOS."""
    decoder_input = np.concatenate([np.full((len(ids), 1), SOS, np.int32), ids[:, :-1]], axis=1)
    logits = model((encoder_input, decoder_input), training=False)
    per_token = np.take_along_axis(tf.nn.log_softmax(logits).numpy(), ids[..., None], axis=-1)[..., 0]
    counted = np.cumsum(ids == EOS, axis=1) - (ids == EOS) == 0  # up to and including the first EOS
    return (per_token * counted).sum(axis=1)


@pytest.fixture(scope="module")
def trained_attention():
    train = data.make_reversal_data(2000, min_len=1, max_len=6, n_symbols=N_SYMBOLS, seed=3)
    model = make("additive", seed=1)
    models.fit_model(model, train, epochs=2, batch_size=50, learning_rate=1e-2, verbose=0)
    return model


KINDS = ["simple", "gru", "lstm", "additive", "dot", "general", "multihead"]


@pytest.mark.parametrize("kind", KINDS)
def test_width_one_is_greedy(kind):
    model, source = make(kind), sources(64)
    ids, _ = beam.beam_search(model, source, beam_width=1)
    greedy = model.generate(source)
    np.testing.assert_array_equal(ids[:, 0], greedy)


def test_width_one_is_greedy_on_trained_weights_with_attention(trained_attention):
    source = sources(200, max_len=10)
    ids, _, weights = beam.beam_search(trained_attention, source, beam_width=1, return_attention=True)
    greedy, greedy_weights = trained_attention.generate(source, return_attention=True)
    np.testing.assert_array_equal(ids[:, 0], greedy)
    np.testing.assert_allclose(weights, greedy_weights, atol=1e-6)


@pytest.mark.parametrize("kind", ["gru", "additive"])
@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_scores_are_the_models_log_probabilities_of_the_returned_ids(kind, alpha):
    model, source = make(kind), sources(32)
    ids, log_probs = beam.beam_search(model, source, beam_width=4, alpha=alpha)
    for j in range(4):
        np.testing.assert_allclose(log_probs[:, j], teacher_forced_log_probs(model, source, ids[:, j]),
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beams_are_sorted_best_first_and_distinct(trained_attention, alpha):
    source = sources(50)
    ids, log_probs = beam.beam_search(trained_attention, source, beam_width=5, alpha=alpha)
    lengths = np.where((ids == EOS).any(-1), (ids == EOS).argmax(-1) + 1, ids.shape[-1])
    ranking = log_probs / ((5 + lengths) / 6) ** alpha
    assert (np.diff(ranking, axis=1) <= 1e-6).all()
    for row in ids:
        assert len({tuple(beam_ids) for beam_ids in row}) == len(row)


def test_output_contract_eos_then_pad(trained_attention):
    source = sources(100)
    ids, _ = beam.beam_search(trained_attention, source, beam_width=3)
    assert ids.dtype == np.int32 and ids.shape[:2] == (100, 3) and ids.shape[2] <= source.shape[1] + 1
    for row in ids.reshape(-1, ids.shape[-1]):
        eos = np.flatnonzero(row == EOS)
        if eos.size:
            assert (row[eos[0] + 1:] == PAD).all(), row
        else:
            assert len(row) == source.shape[1] + 1, row


def all_outputs(vocab, max_len):
    """Every output a decoder can produce in at most max_len steps: ends with EOS, or runs max_len steps."""
    symbols = [t for t in range(vocab) if t != EOS]
    for length in range(1, max_len + 1):
        for body in itertools.product(symbols, repeat=length - 1):
            yield [*body, EOS] + [PAD] * (max_len - length)
    for body in itertools.product(symbols, repeat=max_len):
        yield list(body)


@pytest.mark.parametrize("kind", ["gru", "additive"])
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_enough_beam_equals_exhaustive_search(kind, alpha):
    n_symbols, max_len = 2, 3
    vocab = data.vocab_size(n_symbols)  # 5: PAD, SOS, EOS and two symbols
    model = make(kind, vocab=vocab, seed=4)
    candidates = np.array(list(all_outputs(vocab, max_len)), dtype=np.int32)  # 1 + 4 + 16 + 64 = 85
    for source in sources(4, max_len=3, n_symbols=n_symbols, seed=11):
        source = source[None]
        scores = teacher_forced_log_probs(model, np.repeat(source, len(candidates), 0), candidates)
        lengths = np.where((candidates == EOS).any(-1), (candidates == EOS).argmax(-1) + 1, max_len)
        best = candidates[np.argmax(scores / ((5 + lengths) / 6) ** alpha)]
        ids, log_probs = beam.beam_search(model, source, beam_width=len(candidates), max_len=max_len, alpha=alpha)
        found = np.pad(ids[0, 0], (0, max_len - ids.shape[-1]), constant_values=PAD)
        np.testing.assert_array_equal(found, best)
        # every candidate is among the beams, each once
        assert np.isfinite(log_probs).all()
        np.testing.assert_allclose(np.sort(log_probs[0]), np.sort(scores), rtol=1e-4, atol=1e-4)


def test_width_beyond_the_number_of_outputs_leaves_minus_inf_beams():
    model = make("gru", vocab=data.vocab_size(2), seed=4)
    _, log_probs = beam.beam_search(model, sources(2, max_len=2, n_symbols=2), beam_width=40, max_len=2)
    assert np.isfinite(log_probs[:, :21]).all() and np.isneginf(log_probs[:, 21:]).all()  # 1 + 4 + 16 outputs


def test_attention_of_the_best_beam_matches_teacher_forcing(trained_attention):
    source = sources(40)
    ids, _, weights = beam.beam_search(trained_attention, source, beam_width=4, return_attention=True)
    best = ids[:, 0]
    decoder_input = np.concatenate([np.full((len(best), 1), SOS, np.int32), best[:, :-1]], axis=1)
    forced = trained_attention.teacher_forced_attention(source, decoder_input).numpy()
    live = np.cumsum(best == EOS, axis=1) - (best == EOS) == 0
    np.testing.assert_allclose(weights * live[..., None], forced * live[..., None], atol=1e-5)
    assert (weights[~live] == 0).all()


def test_batch_of_one_and_large_batch_agree(trained_attention):
    source = sources(20)
    ids, log_probs = beam.beam_search(trained_attention, source, beam_width=3)
    for i in range(0, 20, 7):
        one_ids, one_log_probs = beam.beam_search(trained_attention, source[i:i + 1], beam_width=3)
        width = one_ids.shape[-1]
        np.testing.assert_array_equal(one_ids[0], ids[i, :, :width])
        assert (ids[i, :, width:] == PAD).all()
        np.testing.assert_allclose(one_log_probs[0], log_probs[i], rtol=1e-5, atol=1e-5)


def test_saved_and_reloaded_model_decodes_the_same(trained_attention, tmp_path):
    path = tmp_path / "model.keras"
    trained_attention.save(path)
    restored = keras.saving.load_model(path)
    source = sources(50)
    for a, b in zip(beam.beam_search(trained_attention, source, 4), beam.beam_search(restored, source, 4)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_model_method_is_the_function(trained_attention):
    source = sources(10)
    for a, b in zip(trained_attention.beam_search(source, 2), beam.beam_search(trained_attention, source, 2)):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize("beam_width, error, message", [
    (0, ValueError, "beam_width must be >= 1"), (-2, ValueError, "beam_width must be >= 1"),
    (2.0, TypeError, "beam_width must be an int"), (True, TypeError, "beam_width must be an int"),
    ("4", TypeError, "beam_width must be an int")])
def test_bad_beam_width_raises(beam_width, error, message):
    with pytest.raises(error, match=message):
        beam.beam_search(make("gru"), sources(2), beam_width=beam_width)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"max_len": 0}, ValueError, "max_len must be >= 1"), ({"max_len": 2.5}, TypeError, "max_len must be an int"),
    ({"alpha": -0.1}, ValueError, "alpha must be a finite number >= 0"),
    ({"alpha": float("nan")}, ValueError, "alpha must be"), ({"alpha": "0.6"}, TypeError, "alpha must be a number"),
    ({"return_attention": 1}, TypeError, "return_attention must be True or False")])
def test_bad_options_raise(kwargs, error, message):
    with pytest.raises(error, match=message):
        beam.beam_search(make("additive"), sources(2), **kwargs)


def test_return_attention_needs_an_attention_model():
    with pytest.raises(ValueError, match="needs an attention model"):
        beam.beam_search(make("gru"), sources(2), return_attention=True)


def test_model_without_the_interface_raises():
    with pytest.raises(TypeError, match="lacks encode, prepare_memory, decode_step"):
        beam.beam_search(keras.Sequential([keras.layers.Dense(3)]), sources(2))


def test_bad_encoder_input_raises():
    with pytest.raises(ValueError, match="right-padded"):
        beam.beam_search(make("gru"), np.array([[3, PAD, 4]]))


# ----------------------------------------------------------------- KerasHub's samplers on the same model
@pytest.mark.parametrize("kind", ["gru", "additive"])
def test_keras_hub_samplers_compute_what_ours_do(kind, trained_attention):
    keras_hub = pytest.importorskip("keras_hub")
    model = trained_attention if kind == "additive" else make("gru", seed=2)
    source = sources(300, max_len=10)
    max_len = source.shape[1] + 1
    greedy = beam.keras_hub_decoder(model, keras_hub.samplers.GreedySampler())(source, max_len).numpy()[:, 1:]
    ours = model.generate(source)
    np.testing.assert_array_equal(greedy[:, :ours.shape[1]], ours)
    assert (greedy[:, ours.shape[1]:] == PAD).all()
    sampler = keras_hub.samplers.BeamSampler(num_beams=4, return_all_beams=True)
    hub_ids, hub_log_probs = beam.keras_hub_decoder(model, sampler)(source, max_len)
    ids, log_probs = beam.beam_search(model, source, beam_width=4)
    np.testing.assert_array_equal(hub_ids.numpy()[:, :, 1:ids.shape[-1] + 1], ids)
    np.testing.assert_allclose(hub_log_probs.numpy(), log_probs, rtol=1e-4, atol=1e-4)


def test_sequence_log_probs_is_the_teacher_forced_sum(trained_attention):
    source = sources(30)
    ids, log_probs = beam.beam_search(trained_attention, source, beam_width=2)
    for j in range(2):
        np.testing.assert_allclose(beam.sequence_log_probs(trained_attention, source, ids[:, j], batch_size=7),
                                   teacher_forced_log_probs(trained_attention, source, ids[:, j]), rtol=1e-5, atol=1e-5)


def test_sequence_log_probs_rejects_mismatched_ids():
    with pytest.raises(ValueError, match="ids must be int"):
        beam.sequence_log_probs(make("gru"), sources(3), np.zeros((2, 4), np.int32))
