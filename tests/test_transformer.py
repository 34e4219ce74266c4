"""Tests of utils.transformer: the pieces against Keras and KerasHub with copied weights, the key/value
cache against teacher forcing and prefix re-running, beam search, PAD invariance, saving, bad arguments.

Models are tiny (d_model 16 or 32) with random or briefly trained weights.
"""
import keras
import numpy as np
import pytest
from keras import ops

from utils import beam, data, decoding, models, transformer
from utils.data import EOS, PAD, SOS

N_SYMBOLS = 10
VOCAB = data.vocab_size(N_SYMBOLS)
POSITIONS = list(transformer.POSITIONS)
# each positional scheme, and RoPE with cross-attention positions counted from the source's end and from both ends
SCHEMES = [{"positions": p} for p in POSITIONS] + [{"positions": "rope", "cross_positions": c} for c in ("end", "both")]
SCHEME_IDS = [scheme.get("cross_positions") or scheme["positions"] for scheme in SCHEMES]


def make(positions="sinusoidal", seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    options = {"d_model": 16, "num_heads": 2, "num_layers": 2, "ff_dim": 32, **kwargs}
    model = transformer.TransformerSeq2Seq(VOCAB, positions=positions, **options)
    dummy = np.full((1, 2), SOS + 2, dtype=np.int32)
    model((dummy, dummy))
    return model


def reversal(n, *, max_len=8, seed=7):
    return data.make_reversal_data(n, min_len=1, max_len=max_len, n_symbols=N_SYMBOLS, seed=seed)


@pytest.fixture(scope="module")
def trained():
    """A model that has learned most short reversals: its argmaxes are not near-ties."""
    train = data.make_reversal_data(4000, min_len=1, max_len=6, n_symbols=N_SYMBOLS, seed=3)
    model = make(seed=1, d_model=32, num_heads=4)
    models.fit_model(model, train, epochs=3, batch_size=50, learning_rate=3e-3, verbose=0)
    return model


# ----------------------------------------------------------------- the pieces against Keras and KerasHub
def test_attention_equals_keras_multi_head_attention_with_copied_weights():
    keras.utils.set_random_seed(0)
    query, value = np.random.randn(3, 5, 16).astype("float32"), np.random.randn(3, 7, 16).astype("float32")
    mask = np.ones((3, 5, 7), bool)
    mask[0, :, 4:] = False  # a padded source row
    ours = transformer.MultiHeadAttention(16, 4)
    out, weights = ours(query, value, mask)
    theirs = keras.layers.MultiHeadAttention(4, 4)
    theirs(query, value, attention_mask=mask)
    transformer.copy_attention_weights(ours, theirs)
    their_out, their_weights = theirs(query, value, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(out, their_out, atol=1e-5)
    np.testing.assert_allclose(weights, their_weights, atol=1e-6)
    assert (np.asarray(weights)[0, :, :, 4:] == 0).all()


def test_blocks_equal_keras_hub_pre_ln_blocks_with_copied_weights():
    keras_hub = pytest.importorskip("keras_hub")
    model = make(d_model=16, num_heads=4, ff_dim=24)
    record = reversal(6)
    source = record.encoder_input
    x = np.random.default_rng(0).normal(size=(*source.shape, 16)).astype("float32")
    memory_mask = source != PAD
    hub_encoder = keras_hub.layers.TransformerEncoder(24, 4, normalize_first=True, layer_norm_epsilon=1e-5)
    hub_encoder(x, padding_mask=memory_mask)
    transformer.copy_block_weights(model.encoder_blocks[0], hub_encoder)
    ours, _ = model.encoder_blocks[0](x, memory_mask)
    theirs = hub_encoder(x, padding_mask=memory_mask)
    real = memory_mask[..., None]  # KerasHub also masks PAD queries; only real positions are compared
    np.testing.assert_allclose(np.where(real, ours, 0), np.where(real, theirs, 0), atol=1e-5)

    y = np.random.default_rng(1).normal(size=(6, 5, 16)).astype("float32")
    hub_decoder = keras_hub.layers.TransformerDecoder(24, 4, normalize_first=True, layer_norm_epsilon=1e-5)
    hub_decoder(y, x, encoder_padding_mask=memory_mask)
    transformer.copy_block_weights(model.decoder_blocks[0], hub_decoder)
    ours, _, _ = model.decoder_blocks[0](y, x, memory_mask)
    theirs = hub_decoder(y, x, encoder_padding_mask=memory_mask)  # causal mask by default
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_sinusoidal_encoding_equals_keras_hub():
    keras_hub = pytest.importorskip("keras_hub")
    theirs = keras_hub.layers.SinePositionEncoding()(np.zeros((1, 30, 16), "float32"))[0]
    np.testing.assert_allclose(transformer.sinusoidal_encoding(np.arange(30), 16), theirs, atol=1e-5)


def test_rotation_equals_keras_hub_rotary_embedding_and_scores_depend_on_offsets_only():
    keras_hub = pytest.importorskip("keras_hub")
    x = np.random.default_rng(0).normal(size=(2, 3, 9, 8)).astype("float32")  # (batch, heads, seq, d_head)
    positions = np.broadcast_to(np.arange(9), (2, 9))
    theirs = keras_hub.layers.RotaryEmbedding(sequence_axis=2, feature_axis=-1)(x)
    np.testing.assert_allclose(transformer.rotate(x, positions), theirs, atol=1e-5)
    q, k = x[:, :, :1], x[:, :, 1:2]  # one query and one key, moved together: the score stays
    scores = [float(ops.sum(transformer.rotate(q, np.full((2, 1), p + 3)) * transformer.rotate(k, np.full((2, 1), p))))
              for p in (0, 5, 40)]
    np.testing.assert_allclose(scores, scores[0], rtol=1e-4)


def test_framed_source_and_its_key_positions():
    model = make(positions="rope", cross_positions="both", num_heads=2)
    source = np.array([[5, 6, 7, PAD], [8, PAD, PAD, PAD]], np.int32)
    framed = np.asarray(model.frame_source(source))
    np.testing.assert_array_equal(framed, [[SOS, 5, 6, 7, EOS, PAD], [SOS, 8, EOS, PAD, PAD, PAD]])
    positions = np.asarray(model.memory_positions(framed != PAD))  # (batch, heads, framed width)
    np.testing.assert_array_equal(positions[0, 0, :5], [-1, 0, 1, 2, 3])  # head 0 from the start: x_j at j
    np.testing.assert_array_equal(positions[0, 1, :5], [3, 2, 1, 0, -1])  # head 1 from the end: x_j at n - 1 - j
    np.testing.assert_array_equal(positions[1, 1, :3], [1, 0, -1])
    # reversal's target at step t is x_{n-1-t}: from the end, its key sits at position t, offset 0 from the query,
    # and at step n (EOS) the query meets SOS, whatever n is
    for row, n in ((0, 3), (1, 1)):
        for t in range(n + 1):
            target = SOS if t == n else source[row, n - 1 - t]
            column = 0 if t == n else n - t  # framed column of x_{n-1-t}
            assert framed[row, column] == target and positions[row, 1, column] == t


# ----------------------------------------------------------------- the key/value cache
@pytest.mark.parametrize("scheme", SCHEMES, ids=SCHEME_IDS)
def test_cached_steps_give_the_teacher_forced_logits(scheme):
    model, record = make(**scheme), reversal(16)
    teacher_forced = np.asarray(model((record.encoder_input, record.decoder_input)))
    memory, memory_mask, state = model.encode(record.encoder_input)
    state = model.init_decoder_state(state, record.decoder_input.shape[1])
    for t in range(record.decoder_input.shape[1]):
        logits, state, _ = model.decode_step(record.decoder_input[:, t], state, memory, memory_mask)
        np.testing.assert_allclose(logits, teacher_forced[:, t], atol=1e-5)


@pytest.mark.parametrize("scheme", SCHEMES, ids=SCHEME_IDS)
def test_generate_equals_prefix_reference_and_teacher_forced_argmax(trained, scheme):
    model = trained if scheme == {"positions": "sinusoidal"} else make(**scheme, seed=4)
    source = reversal(300, max_len=6).encoder_input
    ids = model.generate(source)
    np.testing.assert_array_equal(ids, decoding.prefix_generate(model, source))
    decoder_input = np.concatenate([np.full((len(ids), 1), SOS, np.int32), ids[:, :-1]], axis=1)
    argmax = np.asarray(model((source, decoder_input))).argmax(-1)
    up_to_eos = np.cumsum(ids == EOS, axis=1) - (ids == EOS) == 0
    np.testing.assert_array_equal(np.where(up_to_eos, argmax, PAD), ids)


def test_trained_model_learned_something(trained):
    record = reversal(500, max_len=6, seed=11)
    assert models.evaluate(trained, record)["exact"] > 0.5


def test_attention_from_generate_is_the_teacher_forced_cross_attention(trained):
    source = reversal(50, max_len=6).encoder_input
    ids, weights = trained.generate(source, return_attention=True)
    decoder_input = np.concatenate([np.full((len(ids), 1), SOS, np.int32), ids[:, :-1]], axis=1)
    cross = trained.attention_maps(source, decoder_input)["cross"][-1].mean(axis=1)
    live = np.cumsum(ids == EOS, axis=1) - (ids == EOS) == 0
    np.testing.assert_allclose(weights, np.where(live[..., None], cross, 0.0), atol=1e-5)


# ----------------------------------------------------------------- beam search
@pytest.mark.parametrize("scheme", SCHEMES, ids=SCHEME_IDS)
def test_beam_width_one_is_greedy_and_scores_are_the_models(scheme):
    model, source = make(**scheme), reversal(40).encoder_input
    ids, _ = beam.beam_search(model, source, beam_width=1)
    np.testing.assert_array_equal(ids[:, 0], model.generate(source))
    ids, log_probs = beam.beam_search(model, source, beam_width=4)  # caches reordered with the beams
    for j in range(4):
        np.testing.assert_allclose(log_probs[:, j], beam.sequence_log_probs(model, source, ids[:, j]),
                                   rtol=1e-4, atol=1e-4)


def test_keras_hub_beam_sampler_computes_what_ours_does(trained):
    keras_hub = pytest.importorskip("keras_hub")
    source = reversal(100, max_len=6).encoder_input
    sampler = keras_hub.samplers.BeamSampler(num_beams=3, return_all_beams=True)
    hub_ids, hub_log_probs = beam.keras_hub_decoder(trained, sampler)(source, source.shape[1] + 1)
    ids, log_probs = beam.beam_search(trained, source, beam_width=3)
    np.testing.assert_array_equal(hub_ids.numpy()[:, :, 1:ids.shape[-1] + 1], ids)
    np.testing.assert_allclose(hub_log_probs.numpy(), log_probs, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------- PAD invariance
@pytest.mark.parametrize("scheme", SCHEMES, ids=SCHEME_IDS)
def test_extra_pad_columns_change_no_output_and_get_no_attention(scheme):
    model, record = make(**scheme), reversal(20)
    source, target_in = record.encoder_input, record.decoder_input
    wider_source = np.pad(source, ((0, 0), (0, 5)))  # five more PAD columns
    wider_target = np.pad(target_in, ((0, 0), (0, 3)))
    logits = np.asarray(model((source, target_in)))
    np.testing.assert_allclose(np.asarray(model((wider_source, wider_target)))[:, :target_in.shape[1]], logits,
                               atol=1e-5)
    maps, wider = model.attention_maps(source, target_in), model.attention_maps(wider_source, target_in)
    for narrow_cross, wide_cross in zip(maps["cross"], wider["cross"]):
        np.testing.assert_allclose(wide_cross[..., :source.shape[1]], narrow_cross, atol=1e-6)
    for weights in wider["cross"] + wider["encoder"]:
        assert (weights[np.broadcast_to((wider_source == PAD)[:, None, None, :], weights.shape)] == 0).all()
    np.testing.assert_array_equal(model.generate(wider_source)[:, :source.shape[1] + 1], model.generate(source))


# ----------------------------------------------------------------- saving and bad arguments
@pytest.mark.parametrize("scheme", SCHEMES, ids=SCHEME_IDS)
def test_save_load_round_trip(scheme, tmp_path):
    model, source = make(**scheme, dropout=0.1), reversal(30).encoder_input
    path = tmp_path / "transformer.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.generate(source), model.generate(source))
    ids, _ = model.beam_search(source, beam_width=3)
    np.testing.assert_array_equal(loaded.beam_search(source, beam_width=3)[0], ids)


@pytest.mark.parametrize("kwargs, message", [
    ({"d_model": 30, "num_heads": 4}, "num_heads must divide d_model"),
    ({"positions": "learned"}, "positions must be one of"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"num_layers": 0}, "num_layers"),
    ({"d_model": 12, "num_heads": 4, "positions": "rope"}, "even d_head"),
    ({"positions": "rope", "cross_positions": "middle"}, "cross_positions must be one of"),
    ({"cross_positions": "end"}, "needs positions='rope'"),
    ({"d_model": 18, "num_heads": 3, "positions": "rope", "cross_positions": "both"}, "num_heads must be even"),
])
def test_bad_constructor_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        transformer.TransformerSeq2Seq(VOCAB, **kwargs)


def test_prepare_memory_without_the_mask_raises_where_keys_need_positions():
    model, source = make(positions="rope", cross_positions="end"), reversal(2).encoder_input
    memory, _, _ = model.encode(source)
    with pytest.raises(ValueError, match="needs memory_mask"):
        model.prepare_memory(memory)


def test_decode_step_without_the_cache_raises():
    model, source = make(), reversal(2).encoder_input
    memory, memory_mask, state = model.encode(source)
    with pytest.raises(ValueError, match="init_decoder_state"):
        model.decode_step(np.full(2, SOS, np.int32), state, memory, memory_mask)


def test_scheduled_sampling_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="full teacher forcing only"):
        make().set_teacher_forcing(0.5)
    make().set_teacher_forcing(1.0)  # full teacher forcing is accepted
