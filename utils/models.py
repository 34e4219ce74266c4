"""Seq2seq models with one interface, and their fast (incremental, batched, compiled) decoding.

Every model here is a registered ``keras.Model`` trained with ``fit`` on
``((encoder_input, decoder_input), decoder_target)``; ``call`` returns logits
(batch, tgt_len, vocab) under teacher forcing.  Decoding goes through three methods
that a model provides:

* ``encode(encoder_input)`` -> ``(memory, memory_mask, state)``: the encoder outputs
  (batch, src_len, d), the non-PAD mask (batch, src_len) and the decoder's first state
  (a list of (batch, units) tensors);
* ``decode_step(token, state, memory, memory_mask, cache=None)`` -> ``(logits, state, weights)``:
  one decoder step for the whole batch; ``weights`` (batch, src_len) is the attention,
  or ``None`` for a model without attention; ``cache`` is what ``prepare_memory(memory)``
  computed once per decode (an attention model's projected keys; ``None`` otherwise);
* ``decode_sequence(decoder_input, memory, memory_mask, state)`` -> ``(logits, weights)``:
  all steps at once under teacher forcing.

``Seq2Seq.generate`` runs the encoder once and the decoder one step at a time,
carrying its state, inside one ``tf.function``: see ``notebooks/04_fast_greedy_decoding.ipynb``.
``prefix_generate`` is the slow reference it is tested and benchmarked against.

The models: ``RNNSeq2Seq`` (the vanilla RNN of notebook 02 and the LSTM/GRU of
notebook 03) and ``AttentionSeq2Seq`` (notebooks 05-06), whose attention layers are
``AdditiveAttention`` (Bahdanau), ``DotAttention``/``GeneralAttention`` (Luong) and
``MultiHeadCrossAttention`` (Keras' ``MultiHeadAttention``).
"""
from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from utils import metrics
from utils.data import EOS, PAD, SOS, _check_id_array, _check_int, to_tf_dataset

PACKAGE = "seq2seq"
register = keras.saving.register_keras_serializable(package=PACKAGE)
NEG_INF = -1e9  # added to the scores of PAD positions before the softmax


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


# =========================================================================== attention layers
class _Attention(keras.layers.Layer):
    """Base of the attention layers: ``call(query, memory, memory_mask)``.

    query (batch, tq, dq), memory (batch, ts, dm), memory_mask (batch, ts) bool
    -> context (batch, tq, dm), weights (batch, tq, ts).  Weights on PAD positions
    are exactly 0 and each row sums to 1.
    """

    def project_keys(self, memory):
        """The part of the score that depends on the memory alone (e.g. ``W_2 h_j``).

        ``generate`` computes it once per decode instead of once per step.
        """
        return memory

    def score(self, query, memory, keys=None):  # (batch, tq, ts)
        raise NotImplementedError

    def call(self, query, memory, memory_mask):
        return self.attend(query, memory, memory_mask, self.project_keys(memory))

    def attend(self, query, memory, memory_mask, keys):
        """``call`` with the keys from ``project_keys`` already computed."""
        weights = masked_softmax(self.score(query, memory, keys), memory_mask)
        context = ops.matmul(weights, memory)  # (batch, tq, dm)
        return context, weights


def masked_softmax(scores, memory_mask):
    """Softmax over the last axis of ``scores`` (batch, tq, ts), PAD positions set to exactly 0."""
    mask = ops.expand_dims(ops.cast(memory_mask, scores.dtype), 1)  # (batch, 1, ts)
    weights = ops.softmax(scores + (1.0 - mask) * NEG_INF, axis=-1)
    return weights * mask  # exp(-1e9) underflows to 0 already; this makes it exact by construction


@register
class AdditiveAttention(_Attention):
    """Bahdanau's score ``v^T tanh(W_1 s + W_2 h_j)``; taught in notebook 05."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = _check_int("units", units, minimum=1)
        self.W_1 = keras.layers.Dense(units, use_bias=False, name="W_1")
        self.W_2 = keras.layers.Dense(units, use_bias=False, name="W_2")
        self.v = keras.layers.Dense(1, use_bias=False, name="v")

    def project_keys(self, memory):
        return self.W_2(memory)  # (batch, ts, units)

    def score(self, query, memory, keys=None):
        keys = self.project_keys(memory) if keys is None else keys
        projected_query = ops.expand_dims(self.W_1(query), 2)  # (batch, tq, 1, units)
        return ops.squeeze(self.v(ops.tanh(projected_query + ops.expand_dims(keys, 1))), -1)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@register
class DotAttention(_Attention):
    """Luong's dot score ``s^T h_j`` (query and memory of the same width); notebook 06."""

    def score(self, query, memory, keys=None):
        keys = memory if keys is None else keys
        return ops.matmul(query, ops.transpose(keys, (0, 2, 1)))


@register
class GeneralAttention(_Attention):
    """Luong's general score ``s^T W_a h_j``; notebook 06."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.W_a = None

    def build(self, query_shape, memory_shape, memory_mask_shape=None):
        # Keras matches build()'s arguments to call()'s by name: <argument>_shape.
        self.W_a = keras.layers.Dense(query_shape[-1], use_bias=False, name="W_a")
        self.W_a.build(memory_shape)

    def project_keys(self, memory):
        return self.W_a(memory)  # (batch, ts, dq)

    def score(self, query, memory, keys=None):
        keys = self.project_keys(memory) if keys is None else keys
        return ops.matmul(query, ops.transpose(keys, (0, 2, 1)))


@register
class MultiHeadCrossAttention(keras.layers.Layer):
    """Keras' ``MultiHeadAttention`` as cross-attention; weights averaged over heads."""

    def __init__(self, num_heads, key_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = _check_int("num_heads", num_heads, minimum=1)
        self.key_dim = _check_int("key_dim", key_dim, minimum=1)
        self.attention = keras.layers.MultiHeadAttention(num_heads, key_dim, name="mha")

    def project_keys(self, memory):
        return memory  # MultiHeadAttention projects keys and values inside its call

    def attend(self, query, memory, memory_mask, keys):
        return self(query, memory, memory_mask)

    def call(self, query, memory, memory_mask):
        attention_mask = ops.repeat(ops.expand_dims(memory_mask, 1), ops.shape(query)[1], axis=1)
        context, weights = self.attention(query, memory, attention_mask=attention_mask,
                                          return_attention_scores=True)  # weights (batch, heads, tq, ts)
        return context, ops.mean(weights, axis=1)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim}


ATTENTIONS = {
    "additive": lambda units: AdditiveAttention(units, name="attention"),
    "dot": lambda units: DotAttention(name="attention"),
    "general": lambda units: GeneralAttention(name="attention"),
    "multihead": lambda units: MultiHeadCrossAttention(4, units // 4, name="attention"),
}


# =========================================================================== the interface
class Seq2Seq(keras.Model):
    """What every model of the series shares: teacher-forced ``call`` and fast ``generate``."""

    has_attention = False

    def call(self, inputs, training=False):
        encoder_input, decoder_input = inputs
        memory, memory_mask, state = self.encode(encoder_input, training=training)
        logits, _ = self.decode_sequence(decoder_input, memory, memory_mask, state, training=training)
        return logits

    def prepare_memory(self, memory):
        """Work on the encoder outputs that no decoder step changes, done once per ``generate``."""
        return None

    def teacher_forced_attention(self, encoder_input, decoder_input):
        """Attention weights (batch, tgt_len, src_len) under teacher forcing."""
        if not self.has_attention:
            raise ValueError(f"{type(self).__name__} has no attention weights")
        memory, memory_mask, state = self.encode(encoder_input)
        return self.decode_sequence(decoder_input, memory, memory_mask, state)[1]

    # Keras rebuilds a loaded model by calling it once on a dummy batch.
    def get_build_config(self):
        return {"dummy_call": True}

    def build_from_config(self, config):
        dummy = np.full((1, 2), SOS + 1, dtype=np.int32)
        self((dummy, dummy))

    def generate(self, encoder_input, max_len=None, *, return_attention=False):
        """Greedy decoding: int32 ids (batch, out_len), each row ending with EOS and PAD after it.

        ``max_len`` (default src_len + 1, enough for reversal's output and its EOS) caps
        the steps; a row that has not emitted EOS by then ends without it.  Decoding
        stops as soon as every row has emitted EOS, so ``out_len <= max_len``.  With
        ``return_attention=True`` (attention models only) also returns the weights
        (batch, out_len, src_len); rows past a row's EOS are 0.

        Inputs: int ids (batch, src_len), right-padded, every row at least one symbol.
        Recurrent models accept any ``src_len``, also longer than they were trained on.
        """
        encoder_input = check_encoder_input(encoder_input, self.vocab_size)
        max_len = encoder_input.shape[1] + 1 if max_len is None else _check_int("max_len", max_len, minimum=1)
        if return_attention and not self.has_attention:
            raise ValueError(f"return_attention=True needs an attention model; {type(self).__name__} has none")
        if not self.built:  # layers that create weights in build() (GeneralAttention) need it first
            self.build_from_config(self.get_build_config())
        if getattr(self, "_generate_fn", None) is None:
            self._generate_fn = tf.function(
                self._generate_graph,
                input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([], tf.int32)])
        ids, weights = self._generate_fn(tf.constant(encoder_input), tf.constant(max_len, tf.int32))
        return (ids.numpy(), weights.numpy()) if return_attention else ids.numpy()

    def _generate_graph(self, encoder_input, max_len):
        batch, src_len = tf.shape(encoder_input)[0], tf.shape(encoder_input)[1]
        memory, memory_mask, state = self.encode(encoder_input, training=False)
        cache = self.prepare_memory(memory)  # step-independent work (attention keys), done once
        token = tf.fill([batch], SOS)
        finished = tf.zeros([batch], tf.bool)
        ids = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
        attention = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
        step = tf.constant(0)
        while step < max_len and not tf.reduce_all(finished):
            logits, state, weights = self.decode_step(token, state, memory, memory_mask, cache)
            token = tf.where(finished, PAD, tf.argmax(logits, axis=-1, output_type=tf.int32))
            if weights is None:
                weights = tf.zeros([batch, src_len])
            ids = ids.write(step, token)
            attention = attention.write(step, tf.where(finished[:, None], 0.0, weights))
            finished = finished | (token == EOS)
            step += 1
        return tf.transpose(ids.stack()), tf.transpose(attention.stack(), [1, 0, 2])


def prefix_generate(model, encoder_input, max_len=None):
    """Slow reference greedy decoder: re-runs the teacher-forced model on the growing prefix.

    Same contract as ``Seq2Seq.generate`` (ids only).  Each step re-encodes the source
    and re-decodes the whole prefix: O(out_len^2) decoder steps instead of O(out_len).
    The forward pass is compiled, so the comparison with ``generate`` is fair.
    """
    encoder_input = check_encoder_input(encoder_input, model.vocab_size)
    max_len = encoder_input.shape[1] + 1 if max_len is None else _check_int("max_len", max_len, minimum=1)
    if getattr(model, "_prefix_forward", None) is None:
        model._prefix_forward = tf.function(
            lambda source, prefix: model((source, prefix), training=False),
            input_signature=[tf.TensorSpec([None, None], tf.int32)] * 2)
    batch = encoder_input.shape[0]
    prefix = np.full((batch, 1), SOS, dtype=np.int32)
    finished = np.zeros(batch, dtype=bool)
    for _ in range(max_len):
        logits = model._prefix_forward(encoder_input, prefix).numpy()
        token = np.where(finished, PAD, logits[:, -1].argmax(-1)).astype(np.int32)
        prefix = np.concatenate([prefix, token[:, None]], axis=1)
        finished |= token == EOS
        if finished.all():
            break
    return prefix[:, 1:]


# =========================================================================== the models
RNN_LAYERS = {"simple": keras.layers.SimpleRNN, "gru": keras.layers.GRU, "lstm": keras.layers.LSTM}


def _rnn(cell, units, name, **kwargs):
    if cell not in RNN_LAYERS:
        raise ValueError(f"cell must be one of {sorted(RNN_LAYERS)}, got {cell!r}")
    return RNN_LAYERS[cell](units, return_sequences=True, return_state=True, name=name, **kwargs)


class _TokenInputs:
    """Embedding or one-hot (``embedding_dim=None``, the vanilla RNN's ``x_t``) token inputs."""

    def _make_inputs(self):
        if self.embedding_dim is None:
            return None, None
        return (keras.layers.Embedding(self.vocab_size, self.embedding_dim, name="source_embedding"),
                keras.layers.Embedding(self.vocab_size, self.embedding_dim, name="target_embedding"))

    def _inputs(self, ids, embedding):
        if embedding is None:
            return ops.one_hot(ids, self.vocab_size)
        return embedding(ids)


@register
class RNNSeq2Seq(_TokenInputs, Seq2Seq):
    """Encoder-decoder whose only link is the encoder's last state (the context vector).

    ``cell``: "simple" (notebook 02: ``h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h)``),
    "gru" or "lstm" (notebook 03).  ``embedding_dim=None`` feeds one-hot tokens, as
    the equations of notebook 02 do.
    """

    def __init__(self, vocab_size, *, cell="gru", units=128, embedding_dim=None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = _check_int("vocab_size", vocab_size, minimum=4)
        self.cell = cell
        self.units = _check_int("units", units, minimum=1)
        self.embedding_dim = None if embedding_dim is None else _check_int("embedding_dim", embedding_dim, minimum=1)
        self.source_embedding, self.target_embedding = self._make_inputs()
        self.encoder = _rnn(cell, units, "encoder")
        self.decoder = _rnn(cell, units, "decoder")
        self.output_layer = keras.layers.Dense(vocab_size, name="output")  # logits; softmax is in the loss

    def encode(self, encoder_input, training=False):
        memory_mask = ops.not_equal(encoder_input, PAD)
        outputs, *state = self.encoder(self._inputs(encoder_input, self.source_embedding),
                                       mask=memory_mask, training=training)
        return outputs, memory_mask, state

    def decode_sequence(self, decoder_input, memory, memory_mask, state, training=False):
        outputs, *_ = self.decoder(self._inputs(decoder_input, self.target_embedding),
                                   initial_state=state, training=training)
        return self.output_layer(outputs), None

    def decode_step(self, token, state, memory, memory_mask, cache=None):
        output, state = self.decoder.cell(self._inputs(token, self.target_embedding), state)
        return self.output_layer(output), list(state), None

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "cell": self.cell,
                "units": self.units, "embedding_dim": self.embedding_dim}


@register
class AttentionSeq2Seq(_TokenInputs, Seq2Seq):
    """Bidirectional encoder, recurrent decoder that attends over all encoder states.

    At each step t the decoder state ``s_t`` queries the encoder states ``h_j``;
    the context ``c_t = sum_j alpha_tj h_j`` joins ``s_t`` in the attentional state
    ``tanh(W_c [c_t; s_t])`` that predicts the next token (Luong et al. 2015's
    placement, which lets teacher-forced training run all steps in parallel).
    ``attention``: one of ``ATTENTIONS`` (notebooks 05-06).
    """

    has_attention = True

    def __init__(self, vocab_size, *, attention="additive", cell="gru", units=128, embedding_dim=64, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = _check_int("vocab_size", vocab_size, minimum=4)
        self.units = _check_int("units", units, minimum=2)
        if units % 2 or (attention == "multihead" and units % 4):
            raise ValueError(f"units must be even (divisible by 4 for multihead), got {units}")
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {sorted(ATTENTIONS)}, got {attention!r}")
        self.attention_name = attention
        self.cell = cell
        self.embedding_dim = None if embedding_dim is None else _check_int("embedding_dim", embedding_dim, minimum=1)
        self.source_embedding, self.target_embedding = self._make_inputs()
        # Forward and backward halves concatenate to `units`, the decoder's width.
        self.encoder = keras.layers.Bidirectional(_rnn(cell, units // 2, "encoder_rnn"), name="encoder")
        self.bridge = keras.layers.Dense(units, activation="tanh", name="bridge")  # encoder ends -> s_0
        self.decoder = _rnn(cell, units, "decoder")
        self.attention = ATTENTIONS[attention](units)
        self.W_c = keras.layers.Dense(units, activation="tanh", name="W_c")
        self.output_layer = keras.layers.Dense(vocab_size, name="output")

    def encode(self, encoder_input, training=False):
        memory_mask = ops.not_equal(encoder_input, PAD)
        outputs, *ends = self.encoder(self._inputs(encoder_input, self.source_embedding),
                                      mask=memory_mask, training=training)
        n_states = len(ends) // 2  # forward states, then backward states
        state = [self.bridge(ops.concatenate([forward, backward], axis=-1))
                 for forward, backward in zip(ends[:n_states], ends[n_states:])]
        return outputs, memory_mask, state

    def prepare_memory(self, memory):
        return self.attention.project_keys(memory)

    def _attend(self, decoder_states, memory, memory_mask, keys=None):
        if keys is None:
            context, weights = self.attention(decoder_states, memory, memory_mask)
        else:
            context, weights = self.attention.attend(decoder_states, memory, memory_mask, keys)
        attentional = self.W_c(ops.concatenate([context, decoder_states], axis=-1))
        return self.output_layer(attentional), weights

    def decode_sequence(self, decoder_input, memory, memory_mask, state, training=False):
        decoder_states, *_ = self.decoder(self._inputs(decoder_input, self.target_embedding),
                                          initial_state=state, training=training)
        return self._attend(decoder_states, memory, memory_mask)

    def decode_step(self, token, state, memory, memory_mask, cache=None):
        output, state = self.decoder.cell(self._inputs(token, self.target_embedding), state)
        logits, weights = self._attend(ops.expand_dims(output, 1), memory, memory_mask, cache)
        return logits[:, 0], list(state), weights[:, 0]

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "attention": self.attention_name,
                "cell": self.cell, "units": self.units, "embedding_dim": self.embedding_dim}


# =========================================================================== training and evaluation
def compile_model(model, learning_rate=3e-3):
    """The series' one training set-up: Adam, PAD-ignoring cross-entropy on logits, masked accuracy."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD),
                  metrics=[metrics.MaskedAccuracy()])
    return model


class EpochLine(keras.callbacks.Callback):
    """Prints one compact line per epoch: ``epoch 3/6  loss 0.0123  masked_accuracy 0.9876  (4.1 s)``."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        values = "  ".join(f"{name} {value:.4f}" for name, value in (logs or {}).items())
        print(f"epoch {epoch + 1}/{self.epochs}  {values}  ({time.perf_counter() - self.start:.1f} s)", flush=True)


def fit_model(model, train, *, epochs, batch_size=128, seed=0, validation=None, learning_rate=3e-3,
              verbose=2, callbacks=None, bucket_by_length=False):
    """Compile (if not yet) and train on a ``Seq2SeqData`` record; returns ``(history, seconds)``.

    ``verbose=2``: one line per epoch (``EpochLine``); 0: silent.  ``seconds`` is the wall
    time of ``fit`` alone.  ``learning_rate`` may be a float or a Keras schedule.
    ``bucket_by_length``: batches of similar lengths, cropped (see ``utils.data.to_tf_dataset``).
    """
    if verbose not in (0, 2):
        raise ValueError(f"verbose must be 0 (silent) or 2 (one line per epoch), got {verbose!r}")
    if not getattr(model, "compiled", False):
        compile_model(model, learning_rate)
    validation_data = None if validation is None else to_tf_dataset(validation, 1000, shuffle=False)
    callbacks = list(callbacks or []) + ([EpochLine(epochs)] if verbose == 2 else [])
    start = time.perf_counter()
    dataset = to_tf_dataset(train, batch_size, shuffle=True, seed=seed, bucket_by_length=bucket_by_length)
    # shuffle=False: the dataset shuffles itself (fit's default True only warns for a tf.data input)
    history = model.fit(dataset, epochs=epochs, shuffle=False,
                        validation_data=validation_data, verbose=0, callbacks=callbacks)
    return history, time.perf_counter() - start


def evaluate(model, record, *, batch_size=1000):
    """Free-running (greedy ``generate``) scores on a record: exact, token and, with attention, alignment.

    Returns ``{"exact": ..., "token": ..., "alignment": ... or None, "predicted": ids, "attention": ...}``.
    """
    predicted, attention = [], []
    for start in range(0, len(record), batch_size):
        batch = record.encoder_input[start:start + batch_size]
        out = model.generate(batch, return_attention=model.has_attention)
        ids, weights = out if model.has_attention else (out, None)
        width = record.decoder_target.shape[1]
        predicted.append(np.pad(ids, ((0, 0), (0, width - ids.shape[1])), constant_values=PAD))
        if weights is not None:
            attention.append(np.pad(weights, ((0, 0), (0, width - weights.shape[1]), (0, 0))))
    predicted = np.concatenate(predicted)
    attention = np.concatenate(attention) if attention else None
    return {"exact": metrics.sequence_accuracy(record.decoder_target, predicted),
            "token": metrics.token_accuracy(record.decoder_target, predicted),
            "alignment": None if attention is None else metrics.alignment_accuracy(attention, record.lengths),
            "predicted": predicted, "attention": attention}
