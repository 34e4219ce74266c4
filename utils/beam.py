"""Beam search for every model of the series, batched and compiled in one ``tf.function``.

It uses the same three methods as greedy ``generate`` (``encode``, ``prepare_memory``,
``decode_step``; see ``utils.models``), so it decodes the RNN models, the attention models
and any later model that provides them.  Taught step by step in
``notebooks/08_beam_search.ipynb``.

The algorithm, for a batch of B sources and width k:

* the k beams of each source are folded into the batch (B*k rows), so one ``decode_step``
  advances all of them;
* a beam's score is the sum of the log-probabilities of its tokens;
* every step each beam proposes all V next tokens; of the k*V candidates of a source the k
  with the best *ranking score* survive (``score / length_penalty(length)``, Wu et al. 2016,
  with ``alpha=0`` the raw sum);
* a beam that emits EOS is finished: it keeps its score and length, and its only candidate
  from then on is PAD at log-probability 0, so it competes with the live beams unchanged;
* decoding stops when every beam is finished or after ``max_len`` steps.

With ``beam_width=1`` this is greedy decoding.  With a width at least the number of
possible outputs nothing is pruned, so the best beam is the best output under the ranking
score (exhaustive search; tested).
"""
from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from utils.data import EOS, PAD, SOS, _check_int, _check_number
from utils.decoding import check_encoder_input, compiled_forward, start_state

INTERFACE = ("encode", "prepare_memory", "decode_step")


def length_penalty(length, alpha):
    """Wu et al. (2016)'s ``((5 + length) / 6) ** alpha``; ``alpha=0`` gives 1 (no normalisation)."""
    return ((5.0 + tf.cast(length, tf.float32)) / 6.0) ** alpha


def _check_alpha(alpha):
    alpha = _check_number("alpha", alpha)
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha}")
    return alpha


def beam_search(model, encoder_input, beam_width=4, max_len=None, *, alpha=0.0, return_attention=False):
    """The ``beam_width`` best outputs per source, best first.

    Returns ``(ids, log_probs)``: ids int32 (batch, beam_width, out_len), each beam ending
    with EOS and PAD after it (a beam still open after ``max_len`` steps ends without EOS),
    and log_probs float32 (batch, beam_width), the sum of the model's log-probabilities of
    each beam's tokens up to and including its EOS.  Beams are sorted by
    ``log_probs / length_penalty(length, alpha)``, length counting EOS.  A width larger
    than the number of distinct outputs leaves beams with log-probability ``-inf``.
    ``return_attention=True`` (attention models) adds the best beam's weights
    (batch, out_len, src_len), 0 after its EOS.

    ``max_len`` defaults to src_len + 1, as for ``generate``.  ``alpha`` >= 0.
    """
    missing = [name for name in INTERFACE if not callable(getattr(model, name, None))]
    if missing:
        raise TypeError(f"model must provide {', '.join(INTERFACE)} (the series' Seq2Seq interface); "
                        f"{type(model).__name__} lacks {', '.join(missing)}")
    beam_width = _check_int("beam_width", beam_width, minimum=1)
    alpha = _check_alpha(alpha)
    if not isinstance(return_attention, bool):
        raise TypeError(f"return_attention must be True or False, got {return_attention!r}")
    encoder_input = check_encoder_input(encoder_input, model.vocab_size)
    max_len = encoder_input.shape[1] + 1 if max_len is None else _check_int("max_len", max_len, minimum=1)
    if return_attention and not model.has_attention:
        raise ValueError(f"return_attention=True needs an attention model; {type(model).__name__} has none")
    if not model.built:
        model.build_from_config(model.get_build_config())
    functions = model.__dict__.setdefault("_beam_fns", {})
    if return_attention not in functions:  # one trace serves every batch, length, width and alpha
        functions[return_attention] = tf.function(
            functools.partial(beam_loop, model, with_attention=return_attention),
            input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([], tf.int32),
                             tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float32)])
    ids, log_probs, weights = functions[return_attention](
        tf.constant(encoder_input), tf.constant(max_len, tf.int32), tf.constant(beam_width, tf.int32),
        tf.constant(alpha, tf.float32))
    if return_attention:
        return ids.numpy(), log_probs.numpy(), weights.numpy()
    return ids.numpy(), log_probs.numpy()


def _fold(x, k):
    """(B, ...) -> (B*k, ...): each row repeated k times, the copies of a row adjacent."""
    return tf.repeat(x, k, axis=0)


def _gather_beams(x, parents, batch, k):
    """Rows (B*k, ...) reordered so that beam j of source b takes beam ``parents[b, j]``'s row."""
    shape = tf.shape(x)
    unfolded = tf.reshape(x, tf.concat([[batch, k], shape[1:]], axis=0))
    return tf.reshape(tf.gather(unfolded, parents, axis=1, batch_dims=1), shape)


def beam_loop(model, encoder_input, max_len, k, alpha, *, with_attention=False):
    """The loop ``beam_search`` compiles: (ids (B, k, T), log_probs (B, k), best weights (B, T, S)).

    ``with_attention=False`` keeps no weights (they are then zeros of shape (B, T, 0)): a write
    of (B, k, S) floats per step that a caller who does not want them should not pay for.
    """
    batch, src_len = tf.shape(encoder_input)[0], tf.shape(encoder_input)[1]
    memory, memory_mask, state = model.encode(encoder_input, training=False)
    cache = model.prepare_memory(memory, memory_mask)  # once per decode, before folding: k copies of the same keys
    state = start_state(model, state, max_len)  # the Transformer's key/value caches, reordered with the beams
    memory, memory_mask, state = tf.nest.map_structure(lambda x: _fold(x, k), (memory, memory_mask, state))
    cache = None if cache is None else tf.nest.map_structure(lambda x: _fold(x, k), cache)
    vocab = model.vocab_size
    # Only beam 0 of each source is live at the start; the others are copies at -inf.
    log_probs = tf.tile(tf.concat([[0.0], tf.fill([k - 1], -np.inf)], 0)[None], [batch, 1])  # (B, k)
    finished = tf.zeros([batch, k], tf.bool)
    lengths = tf.zeros([batch, k], tf.int32)
    token = tf.fill([batch * k], SOS)
    # Once finished, a beam's only continuation is PAD at log-probability 0.
    pad_only = tf.where(tf.range(vocab) == PAD, 0.0, -np.inf)  # (V,)
    tokens = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
    parents = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
    attention = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
    step = tf.constant(0)
    while step < max_len and not tf.reduce_all(finished | tf.math.is_inf(log_probs)):
        logits, state, weights = model.decode_step(token, state, memory, memory_mask, cache)
        step_log_probs = tf.reshape(tf.nn.log_softmax(tf.cast(logits, tf.float32)), [batch, k, vocab])
        step_log_probs = tf.where(finished[..., None], pad_only, step_log_probs)
        candidates = log_probs[..., None] + step_log_probs  # (B, k, V)
        candidate_lengths = lengths + tf.cast(~finished, tf.int32)  # (B, k)
        ranking = candidates / length_penalty(candidate_lengths, alpha)[..., None]
        _, best = tf.math.top_k(tf.reshape(ranking, [batch, k * vocab]), k=k)  # (B, k), sorted
        parent, token_bk = best // vocab, best % vocab
        log_probs = tf.gather(tf.reshape(candidates, [batch, k * vocab]), best, batch_dims=1)
        lengths = tf.gather(candidate_lengths, parent, batch_dims=1)
        finished = tf.gather(finished, parent, batch_dims=1) | (token_bk == EOS)
        state = tf.nest.map_structure(functools.partial(_gather_beams, parents=parent, batch=batch, k=k), state)
        tokens = tokens.write(step, token_bk)
        parents = parents.write(step, parent)
        if with_attention:
            weights = tf.reshape(tf.cast(weights, tf.float32), [batch, k, src_len])  # float16 under mixed precision
            attention = attention.write(step, tf.gather(weights, parent, batch_dims=1))
        else:
            attention = attention.write(step, tf.zeros([batch, k, 0]))
        token = tf.reshape(token_bk, [-1])
        step += 1
    # Final order: by the ranking score, best first.
    final = log_probs / length_penalty(lengths, alpha)
    _, order = tf.math.top_k(final, k=k)
    log_probs = tf.gather(log_probs, order, batch_dims=1)
    ids, weights = _backtrack(tokens.stack(), parents.stack(), attention.stack(), order)
    # PAD after EOS: a finished beam's later tokens are PAD already; weights after EOS are 0.
    after_eos = tf.cumsum(tf.cast(ids == EOS, tf.int32), axis=-1, exclusive=True) > 0
    best_after_eos = after_eos[:, 0]
    weights = tf.where(best_after_eos[..., None], 0.0, weights)
    return ids, log_probs, weights


def _backtrack(tokens, parents, attention, order):
    """Follow the parent pointers back from the final beams ``order`` (B, k).

    tokens, parents (T, B, k); attention (T, B, k, S) -> ids (B, k, T), best weights (B, T, S).
    """
    steps = tf.shape(tokens)[0]
    out_ids = tf.TensorArray(tf.int32, size=steps)
    out_weights = tf.TensorArray(tf.float32, size=steps)
    beam = order
    for t in tf.range(steps - 1, -1, -1):
        out_ids = out_ids.write(t, tf.gather(tokens[t], beam, batch_dims=1))
        out_weights = out_weights.write(t, tf.gather(attention[t], beam[:, 0], batch_dims=1))
        beam = tf.gather(parents[t], beam, batch_dims=1)
    return tf.transpose(out_ids.stack(), [1, 2, 0]), tf.transpose(out_weights.stack(), [1, 0, 2])


def sequence_log_probs(model, encoder_input, ids, *, batch_size=1000):
    """log p(ids | encoder_input) under the model: float32 (batch,), by teacher forcing.

    Each row of ``ids`` (batch, T) is summed up to and including its first EOS (all T
    tokens if it has none), the quantity ``beam_search`` ranks.  Used to tell search
    errors from model errors: if the target scores higher than the output found, the
    search missed it.  The forward pass is compiled once per model (``decoding.compiled_forward``)
    and runs on batches of similar source length, cropped: rescoring many candidates is fast.
    """
    encoder_input = check_encoder_input(encoder_input, model.vocab_size)
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu" or ids.ndim != 2 or len(ids) != len(encoder_input):
        raise ValueError(f"ids must be int (batch, T) with batch {len(encoder_input)}, got {ids.dtype} {ids.shape}")
    ids = ids.astype(np.int32)
    decoder_input = np.concatenate([np.full((len(ids), 1), SOS, np.int32), ids[:, :-1]], axis=1)
    counted = (np.cumsum(ids == EOS, axis=1) - (ids == EOS)) == 0  # up to and including the first EOS
    # Rows in order of source length, each batch cropped to its longest source and its last counted token:
    # PAD columns change no output (masked keys, causal decoder), they only cost time.
    source_lengths, target_lengths = (encoder_input != PAD).sum(axis=1), counted.sum(axis=1)
    order = np.lexsort((target_lengths, source_lengths))
    forward, totals = compiled_forward(model), np.zeros(len(ids), np.float32)
    for start in range(0, len(ids), batch_size):
        rows = order[start:start + batch_size]
        width, steps = max(source_lengths[rows].max(), 1), max(target_lengths[rows].max(), 1)
        logits = forward(encoder_input[rows, :width], decoder_input[rows, :steps])
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32)).numpy()
        per_token = np.take_along_axis(log_probs, ids[rows, :steps, None], axis=-1)[..., 0]
        totals[rows] = (per_token * counted[rows, :steps]).sum(axis=1)
    return totals


# --------------------------------------------------------------------------- KerasHub's samplers
def keras_hub_decoder(model, sampler):
    """A compiled ``decode(source, max_len)`` that runs KerasHub ``sampler`` on ``model``.

    KerasHub's samplers (``keras_hub.samplers.GreedySampler``, ``BeamSampler``, ...) write
    tokens into a ``prompt`` (batch, max_len + 1), here SOS then PAD, calling
    ``next(prompt, cache, index)`` for the logits of position ``index``.  ``next`` feeds the
    model the token at ``index - 1`` through ``decode_step``; the cache carries the decoder
    state and the memory, so that the beam sampler reorders them with its beams.  A row
    that has emitted EOS gets logits that allow only PAD at probability 1, so its score
    stops changing: the convention of ``beam_search``.  Returns what the sampler returns,
    prompt (SOS first) included.  Nothing here imports keras_hub; the caller passes the sampler.
    """
    vocab = model.vocab_size

    def next_logits(prompt, cache, index):
        state, memory, memory_mask, keys = cache
        width = tf.shape(prompt)[1]
        done = tf.reduce_any((prompt == EOS) & (tf.range(width) < index), axis=1)
        logits, state, _ = model.decode_step(prompt[:, index - 1], list(state), memory, memory_mask,
                                             None if isinstance(keys, tuple) else keys)
        pad_only = tf.where(tf.range(vocab) == PAD, 0.0, -np.inf)
        logits = tf.where(done[:, None], pad_only, tf.cast(logits, tf.float32))
        return logits, None, (tuple(state), memory, memory_mask, keys)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([], tf.int32)])
    def decode(source, max_len):
        memory, memory_mask, state = model.encode(source, training=False)
        keys = model.prepare_memory(memory, memory_mask)
        state = start_state(model, state, max_len + 1)
        batch = tf.shape(source)[0]
        prompt = tf.concat([tf.fill([batch, 1], SOS), tf.fill([batch, max_len], PAD)], axis=1)
        mask = tf.concat([tf.ones([batch, 1], tf.bool), tf.zeros([batch, max_len], tf.bool)], axis=1)
        cache = (tuple(state), memory, memory_mask, () if keys is None else keys)
        return sampler(next_logits, prompt, cache=cache, index=1, mask=mask, stop_token_ids=(EOS,))

    return decode
