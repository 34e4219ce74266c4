"""Attention: masking, normalisation, serialisation and the .keras round trip.

The attention layers of ``utils.models`` (taught in notebooks 05-05) and the
``AttentionSeq2Seq`` model built on them, each attention kind in turn.  Tiny
models (16 units), untrained: these are properties of the computation, not of
what a model learned.
"""
import keras
import numpy as np
import pytest

from utils import data, models

KINDS = sorted(models.ATTENTIONS)  # additive, dot, general, multihead
N_SYMBOLS = 7
VOCAB = data.vocab_size(N_SYMBOLS)
UNITS = 16

# Right-padded sources of lengths 5, 3, 1 and 4: every row has PAD columns but the first.
ENCODER_INPUT = np.array([[3, 4, 5, 6, 7],
                          [8, 9, 3, 0, 0],
                          [5, 0, 0, 0, 0],
                          [9, 8, 7, 6, 0]], dtype=np.int32)
MEMORY_MASK = ENCODER_INPUT != data.PAD
LENGTHS = MEMORY_MASK.sum(axis=1)
MAX_LEN = 6  # decoding steps: fixed, so that inputs of different widths decode as long


def make_layer(kind, width=8):
    """A fresh attention layer of ``kind`` for queries and memories ``width`` wide."""
    if kind == "multihead":
        return models.MultiHeadCrossAttention(2, width // 2)
    return models.ATTENTIONS[kind](width)


def layer_inputs(seed=0, batch=4, tgt_len=3, width=8):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(batch, tgt_len, width)).astype("float32")      # (batch, tq, d)
    memory = rng.normal(size=(batch, MEMORY_MASK.shape[1], width)).astype("float32")  # (batch, ts, d)
    return query, memory


@pytest.fixture(scope="module", params=KINDS)
def tiny_model(request):
    keras.utils.set_random_seed(0)
    model = models.AttentionSeq2Seq(VOCAB, attention=request.param, units=UNITS, embedding_dim=8)
    model.build_from_config(model.get_build_config())
    return model


# --------------------------------------------------------------------------- layers
@pytest.mark.parametrize("kind", KINDS)
def test_layer_weights_are_zero_on_pad_and_rows_sum_to_one(kind):
    query, memory = layer_inputs()
    context, weights = make_layer(kind)(query, memory, MEMORY_MASK)
    weights = np.asarray(weights)
    assert weights.shape == (4, 3, 5) and np.asarray(context).shape == (4, 3, 8)
    pad = np.broadcast_to(~MEMORY_MASK[:, None, :], weights.shape)
    assert np.all(weights[pad] == 0.0)  # exactly 0, not merely small
    assert np.all(weights[~pad] > 0.0)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_memory_at_pad_positions_changes_nothing(kind):
    query, memory = layer_inputs()
    layer = make_layer(kind)
    context, weights = layer(query, memory, MEMORY_MASK)
    other = memory.copy()
    pad_values = 10.0 * np.random.default_rng(1).normal(size=memory.shape).astype("float32")
    other[~MEMORY_MASK] = pad_values[~MEMORY_MASK]  # whatever the encoder wrote at PAD positions
    assert not np.array_equal(other, memory)
    other_context, other_weights = layer(query, other, MEMORY_MASK)
    np.testing.assert_array_equal(np.asarray(other_weights), np.asarray(weights))
    np.testing.assert_allclose(np.asarray(other_context), np.asarray(context), rtol=0, atol=1e-6)


def test_masked_softmax_ignores_pad_scores():
    scores = np.random.default_rng(2).normal(size=(4, 3, 5)).astype("float32")
    weights = np.asarray(models.masked_softmax(scores, MEMORY_MASK))
    changed = scores.copy()
    changed[np.broadcast_to(~MEMORY_MASK[:, None, :], scores.shape)] = 1e4
    np.testing.assert_array_equal(np.asarray(models.masked_softmax(changed, MEMORY_MASK)), weights)
    # The rows equal a plain softmax over the real positions alone.
    for row, length in enumerate(LENGTHS):
        real = np.exp(scores[row, :, :length] - scores[row, :, :length].max(-1, keepdims=True))
        np.testing.assert_allclose(weights[row, :, :length], real / real.sum(-1, keepdims=True), atol=1e-6)


# --------------------------------------------------------------------------- the model
def test_generate_attention_is_zero_on_pad_and_rows_sum_to_one(tiny_model):
    ids, weights = tiny_model.generate(ENCODER_INPUT, MAX_LEN, return_attention=True)
    assert weights.shape == (len(ENCODER_INPUT), ids.shape[1], ENCODER_INPUT.shape[1])
    assert np.all(weights[np.broadcast_to(~MEMORY_MASK[:, None, :], weights.shape)] == 0.0)
    # Steps up to and including a row's EOS are distributions; steps after it are all 0.
    is_eos = ids == data.EOS
    after_eos = np.cumsum(is_eos, axis=1) - is_eos > 0
    sums = weights.sum(axis=-1)
    np.testing.assert_allclose(sums[~after_eos], 1.0, atol=1e-6)
    assert np.all(sums[after_eos] == 0.0)


def test_teacher_forced_attention_is_zero_on_pad_and_rows_sum_to_one(tiny_model):
    decoder_input = np.full((len(ENCODER_INPUT), 4), data.SOS + 3, dtype=np.int32)
    decoder_input[:, 0] = data.SOS
    weights = np.asarray(tiny_model.teacher_forced_attention(ENCODER_INPUT, decoder_input))
    assert weights.shape == (len(ENCODER_INPUT), 4, ENCODER_INPUT.shape[1])
    assert np.all(weights[np.broadcast_to(~MEMORY_MASK[:, None, :], weights.shape)] == 0.0)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-6)


def test_extra_pad_columns_leave_generate_unchanged(tiny_model):
    ids, weights = tiny_model.generate(ENCODER_INPUT, MAX_LEN, return_attention=True)
    wider = np.pad(ENCODER_INPUT, ((0, 0), (0, 3)), constant_values=data.PAD)  # three more PAD columns
    wider_ids, wider_weights = tiny_model.generate(wider, MAX_LEN, return_attention=True)
    np.testing.assert_array_equal(wider_ids, ids)
    assert np.all(wider_weights[:, :, ENCODER_INPUT.shape[1]:] == 0.0)
    np.testing.assert_allclose(wider_weights[:, :, :ENCODER_INPUT.shape[1]], weights, rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- serialisation
@pytest.mark.parametrize("kind", KINDS)
def test_layer_is_registered_and_its_config_round_trips(kind):
    layer = make_layer(kind)
    cls = type(layer)
    name = f"{models.PACKAGE}>{cls.__name__}"
    assert keras.saving.get_registered_name(cls) == name
    assert keras.saving.get_registered_object(name) is cls
    config = layer.get_config()
    assert cls.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is cls and restored.get_config() == config


@pytest.mark.parametrize("kind", KINDS)
def test_layer_from_config_computes_the_same(kind):
    query, memory = layer_inputs()
    layer = make_layer(kind)
    context, weights = layer(query, memory, MEMORY_MASK)
    copy = type(layer).from_config(layer.get_config())
    copy(query, memory, MEMORY_MASK)  # builds its weights
    copy.set_weights(layer.get_weights())
    copy_context, copy_weights = copy(query, memory, MEMORY_MASK)
    np.testing.assert_array_equal(np.asarray(copy_context), np.asarray(context))
    np.testing.assert_array_equal(np.asarray(copy_weights), np.asarray(weights))


def test_keras_round_trip_gives_identical_generate_and_attention(tiny_model, tmp_path):
    path = tmp_path / f"{tiny_model.attention_name}.keras"
    tiny_model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded) is models.AttentionSeq2Seq
    assert reloaded.get_config() == tiny_model.get_config()
    assert type(reloaded.attention) is type(tiny_model.attention)
    ids, weights = tiny_model.generate(ENCODER_INPUT, MAX_LEN, return_attention=True)
    reloaded_ids, reloaded_weights = reloaded.generate(ENCODER_INPUT, MAX_LEN, return_attention=True)
    np.testing.assert_array_equal(reloaded_ids, ids)
    np.testing.assert_array_equal(reloaded_weights, weights)
