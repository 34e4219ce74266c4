"""Seq2seq models with one interface: the encoder-decoders of notebooks 02-03 and the attention models of 05-07.

Every model here is a registered ``keras.Model`` trained with ``fit`` on
``((encoder_input, decoder_input), decoder_target)``; ``call`` returns logits
(batch, tgt_len, vocab) under teacher forcing.  Decoding (``utils.decoding``) goes
through three methods that a model provides:

* ``encode(encoder_input)`` -> ``(memory, memory_mask, state)``: the encoder outputs
  (batch, src_len, d), the non-PAD mask (batch, src_len) and the decoder's first state
  (a list of (batch, units) tensors);
* ``decode_step(token, state, memory, memory_mask, cache=None)`` -> ``(logits, state, weights)``:
  one decoder step for the whole batch; ``weights`` (batch, src_len) is the attention,
  or ``None`` for a model without attention; ``cache`` is what ``prepare_memory(memory)``
  computed once per decode (an attention model's projected keys; ``None`` otherwise);
* ``decode_sequence(decoder_input, memory, memory_mask, state)`` -> ``(logits, weights)``:
  all steps at once under teacher forcing.

The models: ``RNNSeq2Seq`` (the vanilla RNN of notebook 02 and the LSTM/GRU of
notebook 03) and ``AttentionSeq2Seq`` (notebooks 05-07), whose attention layers live in
``utils.layers``.  The names of ``utils.layers``, ``utils.decoding`` and ``utils.training``
that notebooks reach as ``models.X`` are imported here too.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from utils import beam, decoding
from utils.data import PAD, SOS, _check_int
from utils.decoding import check_encoder_input, prefix_generate  # noqa: F401  (models.X for notebooks)
from utils.layers import (  # noqa: F401
    ATTENTIONS,
    NEG_INF,
    PACKAGE,
    AdditiveAttention,
    DotAttention,
    GeneralAttention,
    MultiHeadCrossAttention,
    masked_softmax,
    register,
)
from utils.training import EpochLine, ExactAccuracyCheckpoint, compile_model, evaluate, fit_model  # noqa: F401


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
        """Greedy decoding, compiled: see ``utils.decoding.generate`` for the contract."""
        return decoding.generate(self, encoder_input, max_len, return_attention=return_attention)

    def beam_search(self, encoder_input, beam_width=4, max_len=None, *, alpha=0.0, return_attention=False):
        """The ``beam_width`` best outputs per source: see ``utils.beam.beam_search`` for the contract."""
        return beam.beam_search(self, encoder_input, beam_width, max_len, alpha=alpha,
                                return_attention=return_attention)


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
        self.output_layer = keras.layers.Dense(vocab_size, name="output", dtype="float32")  # float32 logits

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
    ``attention``: one of ``ATTENTIONS`` (notebooks 05-06).  ``bidirectional=False`` reads the
    source left to right only (one recurrent layer of ``units``), the ablation of notebook 07.
    """

    has_attention = True

    def __init__(self, vocab_size, *, attention="additive", cell="gru", units=128, embedding_dim=64,
                 bidirectional=True, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = _check_int("vocab_size", vocab_size, minimum=4)
        self.units = _check_int("units", units, minimum=2)
        if units % 2 or (attention == "multihead" and units % 4):
            raise ValueError(f"units must be even (divisible by 4 for multihead), got {units}")
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {sorted(ATTENTIONS)}, got {attention!r}")
        if not isinstance(bidirectional, bool):
            raise TypeError(f"bidirectional must be a bool, got {bidirectional!r}")
        self.attention_name = attention
        self.cell = cell
        self.bidirectional = bidirectional
        self.embedding_dim = None if embedding_dim is None else _check_int("embedding_dim", embedding_dim, minimum=1)
        self.source_embedding, self.target_embedding = self._make_inputs()
        if bidirectional:  # forward and backward halves concatenate to `units`, the decoder's width
            self.encoder = keras.layers.Bidirectional(_rnn(cell, units // 2, "encoder_rnn"), name="encoder")
        else:
            self.encoder = _rnn(cell, units, "encoder")
        self.bridge = keras.layers.Dense(units, activation="tanh", name="bridge")  # encoder ends -> s_0
        self.decoder = _rnn(cell, units, "decoder")
        self.attention = ATTENTIONS[attention](units)
        self.W_c = keras.layers.Dense(units, activation="tanh", name="W_c")
        self.output_layer = keras.layers.Dense(vocab_size, name="output", dtype="float32")  # float32 logits

    def encode(self, encoder_input, training=False):
        memory_mask = ops.not_equal(encoder_input, PAD)
        outputs, *ends = self.encoder(self._inputs(encoder_input, self.source_embedding),
                                      mask=memory_mask, training=training)
        if self.bidirectional:  # forward states, then backward states
            n_states = len(ends) // 2
            ends = [ops.concatenate([forward, backward], axis=-1)
                    for forward, backward in zip(ends[:n_states], ends[n_states:])]
        state = [self.bridge(end) for end in ends]
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
                "cell": self.cell, "units": self.units, "embedding_dim": self.embedding_dim,
                "bidirectional": self.bidirectional}
