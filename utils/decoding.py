"""Decoding: fast greedy ``generate`` and the slow reference ``prefix_generate``.

Every model of the series provides ``encode``, ``prepare_memory`` and ``decode_step``
(see ``utils.models``); the decoders here use nothing else.  ``generate`` runs the
encoder once and the decoder one step at a time, carrying its state, for the whole batch,
inside one ``tf.function``: taught in ``notebooks/04_fast_greedy_decoding.ipynb``.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from utils.data import EOS, PAD, SOS, _check_id_array, _check_int


def check_encoder_input(encoder_input, vocab_size):
    """Validate a batch of source ids: int, rank 2, in the vocabulary, right-padded, non-empty rows."""
    encoder_input = _check_id_array("encoder_input", encoder_input, ndim=2).astype(np.int32)
    if encoder_input.shape[0] == 0 or encoder_input.shape[1] == 0:
        raise ValueError(f"encoder_input must have at least one row and one column, got shape {encoder_input.shape}")
    if encoder_input.min() < 0 or encoder_input.max() >= vocab_size:
        raise ValueError(f"encoder_input must hold ids in [0, {vocab_size}), got min "
                         f"{encoder_input.min()} and max {encoder_input.max()}")
    is_pad = encoder_input == PAD
    if is_pad[:, 0].any():
        rows = np.flatnonzero(is_pad[:, 0])[:5].tolist()
        raise ValueError(f"encoder_input rows {rows} start with PAD: every row needs at least one symbol")
    if (is_pad[:, :-1] & ~is_pad[:, 1:]).any():
        raise ValueError("encoder_input must be right-padded: a symbol follows a PAD in some row")
    return encoder_input


def generate(model, encoder_input, max_len=None, *, return_attention=False):
    """Greedy decoding: int32 ids (batch, out_len), each row ending with EOS and PAD after it.

    ``max_len`` (default src_len + 1, enough for reversal's output and its EOS) caps
    the steps; a row that has not emitted EOS by then ends without it.  Decoding
    stops as soon as every row has emitted EOS, so ``out_len <= max_len``.  With
    ``return_attention=True`` (attention models only) also returns the weights
    (batch, out_len, src_len); rows past a row's EOS are 0.

    Inputs: int ids (batch, src_len), right-padded, every row at least one symbol.
    Recurrent models accept any ``src_len``, also longer than they were trained on.
    """
    encoder_input = check_encoder_input(encoder_input, model.vocab_size)
    max_len = encoder_input.shape[1] + 1 if max_len is None else _check_int("max_len", max_len, minimum=1)
    if return_attention and not model.has_attention:
        raise ValueError(f"return_attention=True needs an attention model; {type(model).__name__} has none")
    if not model.built:  # layers that create weights in build() (GeneralAttention) need it first
        model.build_from_config(model.get_build_config())
    if getattr(model, "_generate_fn", None) is None:
        model._generate_fn = tf.function(
            lambda source, steps: greedy_loop(model, source, steps),
            input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([], tf.int32)])
    ids, weights = model._generate_fn(tf.constant(encoder_input), tf.constant(max_len, tf.int32))
    return (ids.numpy(), weights.numpy()) if return_attention else ids.numpy()


def start_state(model, state, max_len):
    """``model.init_decoder_state(state, max_len)`` where the model has one (see ``utils.models``), else ``state``."""
    hook = getattr(model, "init_decoder_state", None)
    return state if hook is None else hook(state, max_len)


def greedy_loop(model, encoder_input, max_len):
    """The loop ``generate`` compiles: (ids (batch, out_len), attention (batch, out_len, src_len))."""
    batch, src_len = tf.shape(encoder_input)[0], tf.shape(encoder_input)[1]
    memory, memory_mask, state = model.encode(encoder_input, training=False)
    cache = model.prepare_memory(memory, memory_mask)  # step-independent work (attention keys), done once
    state = start_state(model, state, max_len)  # fixed shapes for the loop (the Transformer's caches)
    token = tf.fill([batch], SOS)
    finished = tf.zeros([batch], tf.bool)
    ids = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
    attention = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
    step = tf.constant(0)
    while step < max_len and not tf.reduce_all(finished):
        logits, state, weights = model.decode_step(token, state, memory, memory_mask, cache)
        token = tf.where(finished, PAD, tf.argmax(logits, axis=-1, output_type=tf.int32))
        weights = tf.zeros([batch, src_len]) if weights is None else tf.cast(weights, tf.float32)  # float16 too
        ids = ids.write(step, token)
        attention = attention.write(step, tf.where(finished[:, None], 0.0, weights))
        finished = finished | (token == EOS)
        step += 1
    return tf.transpose(ids.stack()), tf.transpose(attention.stack(), [1, 0, 2])


def compiled_forward(model):
    """The teacher-forced ``model((encoder_input, decoder_input))``, compiled once per model for any shapes."""
    if getattr(model, "_prefix_forward", None) is None:
        model._prefix_forward = tf.function(
            lambda source, prefix: model((source, prefix), training=False),
            input_signature=[tf.TensorSpec([None, None], tf.int32)] * 2)
    return model._prefix_forward


def prefix_generate(model, encoder_input, max_len=None):
    """Slow reference greedy decoder: re-runs the teacher-forced model on the growing prefix.

    Same contract as ``Seq2Seq.generate`` (ids only).  Each step re-encodes the source
    and re-decodes the whole prefix: O(out_len^2) decoder steps instead of O(out_len).
    The forward pass is compiled, so the comparison with ``generate`` is fair.
    """
    encoder_input = check_encoder_input(encoder_input, model.vocab_size)
    max_len = encoder_input.shape[1] + 1 if max_len is None else _check_int("max_len", max_len, minimum=1)
    forward = compiled_forward(model)
    batch = encoder_input.shape[0]
    prefix = np.full((batch, 1), SOS, dtype=np.int32)
    finished = np.zeros(batch, dtype=bool)
    for _ in range(max_len):
        logits = forward(encoder_input, prefix).numpy()
        token = np.where(finished, PAD, logits[:, -1].argmax(-1)).astype(np.int32)
        prefix = np.concatenate([prefix, token[:, None]], axis=1)
        finished |= token == EOS
        if finished.all():
            break
    return prefix[:, 1:]
