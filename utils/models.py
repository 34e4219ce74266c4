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
  or ``None`` for a model without attention; ``cache`` is what ``prepare_memory(memory, memory_mask)``
  computed once per decode (an attention model's projected keys; ``None`` otherwise);
* ``decode_sequence(decoder_input, memory, memory_mask, state)`` -> ``(logits, weights)``:
  all steps at once under teacher forcing;
* ``init_decoder_state(state, max_len)``, optional: the state a decode of ``max_len`` steps starts
  from, called once before the decoder's loop (``decoding.start_state``; without it the state is
  ``encode``'s); ``utils.transformer`` allocates its key/value cache here, so no loop variable changes shape.

The models: ``RNNSeq2Seq`` (the vanilla RNN of notebook 02 and the LSTM/GRU of
notebook 03) and ``AttentionSeq2Seq`` (notebooks 05-07), whose attention layers live in
``utils.layers``; ``utils.transformer.TransformerSeq2Seq`` (notebook 10) has the same interface.
The names of ``utils.layers``, ``utils.decoding`` and ``utils.training`` that notebooks reach as
``models.X`` are imported here too.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from utils import beam, decoding
from utils.data import PAD, SOS, _check_dropout, _check_int, _check_number
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

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.teacher_forcing = None  # scheduled sampling off: see set_teacher_forcing
        # the coin flips of scheduled sampling; an explicit seed draws nothing from the global random state,
        # so that the initial weights of every model stay what they were without it
        self.sampling_seed = keras.random.SeedGenerator(0)

    def call(self, inputs, training=False):
        encoder_input, decoder_input = inputs
        memory, memory_mask, state = self.encode(encoder_input, training=training)
        if training and self.teacher_forcing is not None:
            return self.scheduled_sampling_logits(decoder_input, memory, memory_mask, state)
        logits, _ = self.decode_sequence(decoder_input, memory, memory_mask, state, training=training)
        return logits

    # ------------------------------------------------------------------- scheduled sampling
    def set_teacher_forcing(self, ratio, *, seed=0):
        """Scheduled sampling (Bengio et al. 2015): feed the decoder the true previous token with probability ``ratio``.

        ``ratio``: ``None`` or 1.0, full teacher forcing (the default); a number in [0, 1], fixed; or a
        callable of the optimiser's step count returning the ratio, e.g. any
        ``keras.optimizers.schedules.LearningRateSchedule`` (``ExponentialDecay`` gives Bengio et al.'s
        exponential decay) or a function written with ``keras.ops``.  At every training step and for every
        row and position, a coin with that probability chooses between the true token ``y_{t-1}`` and the
        model's own greedy prediction from the step before; step 0 always reads SOS.  Only training
        (``call(training=True)``) samples: evaluation and validation loss stay teacher-forced.  ``seed``
        makes the coin flips reproducible.  The compiled train step is rebuilt on the next ``fit``.
        """
        if ratio is not None and not callable(ratio):
            ratio = _check_number("ratio", ratio, allowed="None, a number in [0, 1] or a callable of the step")
            if not 0.0 <= ratio <= 1.0:
                raise ValueError(f"ratio must be in [0, 1], got {ratio}")
            ratio = None if ratio == 1.0 else ratio
        seed = _check_int("seed", seed, minimum=0)
        self.teacher_forcing = ratio
        if ratio is not None and not self.built:
            # With scheduled sampling, fit cannot build the model symbolically and its first train step would
            # mark it built before its layers are (Keras warns): build it on a dummy batch, as a loaded model is.
            with self.distribute_strategy.scope():
                self.build_from_config(self.get_build_config())
        self.sampling_seed.state.assign(ops.convert_to_tensor([seed, 0], dtype=self.sampling_seed.state.dtype))
        self.train_function = None  # `call` branches on teacher_forcing in Python: trace the train step again
        return self

    def teacher_forcing_ratio(self):
        """The ratio at the current training step (a float tensor); 1.0 when scheduled sampling is off."""
        if self.teacher_forcing is None:
            return ops.convert_to_tensor(1.0)
        if callable(self.teacher_forcing):
            step = self.optimizer.iterations if getattr(self, "optimizer", None) is not None else 0
            return ops.clip(ops.cast(self.teacher_forcing(step), "float32"), 0.0, 1.0)
        return ops.convert_to_tensor(self.teacher_forcing, dtype="float32")

    def scheduled_sampling_logits(self, decoder_input, memory, memory_mask, state):
        """Training logits (batch, tgt_len, vocab) when each input token is the truth or the model's own guess.

        The decoder runs one step at a time (``decode_step``, inside ``keras.ops.scan``), since step t's
        input may be step t-1's prediction.  The prediction is the argmax, with no gradient through the
        choice (as in Bengio et al.).  Positions whose target is PAD are fed too; the loss ignores them.
        """
        decoder_input = ops.convert_to_tensor(decoder_input, dtype="int32")
        cache = self.prepare_memory(memory, memory_mask)
        state = decoding.start_state(self, state, ops.shape(decoder_input)[1])
        coins = keras.random.uniform(ops.shape(decoder_input), seed=self.sampling_seed) < self.teacher_forcing_ratio()
        first = ops.expand_dims(ops.arange(ops.shape(decoder_input)[1]) == 0, 0)
        use_truth = ops.logical_or(coins, first)  # step 0 always reads SOS

        def step(carry, inputs):
            previous_logits, state = carry
            truth, take_truth = inputs[:, 0], inputs[:, 1]
            guess = ops.cast(ops.argmax(previous_logits, axis=-1), "int32")
            token = ops.where(take_truth > 0, truth, guess)
            logits, state, _ = self.decode_step(token, state, memory, memory_mask, cache, training=True)
            carry = (logits, list(state))
            return carry, carry  # scan stacks what it returns; the TensorFlow backend wants the carry's structure

        start = ops.zeros((ops.shape(decoder_input)[0], self.vocab_size), dtype="float32")
        # one (tgt_len, batch, 2) tensor of (true token, coin): Keras' TensorFlow scan checks the lengths of
        # several inputs against each other in a way that fails when the length is unknown (bucketed batches)
        time_major = ops.transpose(ops.stack([decoder_input, ops.cast(use_truth, "int32")], axis=-1), (1, 0, 2))
        _, (logits, _) = ops.scan(step, (start, list(state)), time_major)
        return ops.transpose(logits, (1, 0, 2))

    def prepare_memory(self, memory, memory_mask=None):
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
    """Token inputs (embedding, or one-hot with ``embedding_dim=None``: the vanilla RNN's ``x_t``) and the
    stacked recurrent layers with dropout that both model families share."""

    def _make_inputs(self):
        if self.embedding_dim is None:
            return None, None
        return (keras.layers.Embedding(self.vocab_size, self.embedding_dim, name="source_embedding"),
                keras.layers.Embedding(self.vocab_size, self.embedding_dim, name="target_embedding"))

    def _inputs(self, ids, embedding):
        if embedding is None:
            return ops.one_hot(ids, self.vocab_size)
        return embedding(ids)

    def _check_depth(self, num_layers, dropout):
        self.num_layers = _check_int("num_layers", num_layers, minimum=1)
        self.dropout = _check_dropout(dropout)
        # no layer at all when 0: a model without dropout has exactly the layers it always had
        self.dropout_layer = keras.layers.Dropout(self.dropout, seed=1) if self.dropout else None

    def _drop(self, x, training):
        return self.dropout_layer(x, training=training) if self.dropout_layer is not None and training else x

    def _state_size(self):
        return 2 if self.cell == "lstm" else 1  # tensors of state per recurrent layer

    def _decoder_layers(self):
        return [self.decoder, *self.upper_decoders]

    def _run_decoder(self, embedded, state, training):
        """All decoder layers over the sequence; ``state`` holds each layer's initial state in turn."""
        k, x = self._state_size(), self._drop(embedded, training)
        for i, layer in enumerate(self._decoder_layers()):
            x, *_ = layer(x, initial_state=state[i * k:(i + 1) * k], training=training)
            if i < self.num_layers - 1:
                x = self._drop(x, training)
        return x

    def _step_decoder(self, embedded, state, training=False):
        """One step of every decoder layer's cell: (batch, d) -> the top layer's output and the new state."""
        k, x, new_state = self._state_size(), self._drop(embedded, training), []
        for i, layer in enumerate(self._decoder_layers()):
            x, layer_state = layer.cell(x, state[i * k:(i + 1) * k], training=training)
            new_state += list(layer_state)
            if i < self.num_layers - 1:
                x = self._drop(x, training)
        return x, new_state


@register
class RNNSeq2Seq(_TokenInputs, Seq2Seq):
    """Encoder-decoder whose only link is the encoder's last state (the context vector).

    ``cell``: "simple" (notebook 02: ``h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h)``),
    "gru" or "lstm" (notebook 03).  ``embedding_dim=None`` feeds one-hot tokens, as
    the equations of notebook 02 do.  ``num_layers`` stacks recurrent layers in the encoder
    and the decoder; decoder layer i starts from encoder layer i's last state (Sutskever et
    al. 2014).  ``dropout``, in training only, drops units of the embedded tokens and of the
    outputs of every layer below the top (PyTorch's ``nn.GRU(dropout=...)`` drops the latter).
    """

    def __init__(self, vocab_size, *, cell="gru", units=128, embedding_dim=None, num_layers=1, dropout=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = _check_int("vocab_size", vocab_size, minimum=4)
        self.cell = cell
        self.units = _check_int("units", units, minimum=1)
        self.embedding_dim = None if embedding_dim is None else _check_int("embedding_dim", embedding_dim, minimum=1)
        self._check_depth(num_layers, dropout)
        self.source_embedding, self.target_embedding = self._make_inputs()
        self.encoder = _rnn(cell, units, "encoder")
        self.decoder = _rnn(cell, units, "decoder")
        self.upper_encoders = [_rnn(cell, units, f"encoder_{i + 1}") for i in range(1, self.num_layers)]
        self.upper_decoders = [_rnn(cell, units, f"decoder_{i + 1}") for i in range(1, self.num_layers)]
        self.output_layer = keras.layers.Dense(vocab_size, name="output", dtype="float32")  # float32 logits

    def encode(self, encoder_input, training=False):
        memory_mask = ops.not_equal(encoder_input, PAD)
        x, state = self._drop(self._inputs(encoder_input, self.source_embedding), training), []
        for i, layer in enumerate([self.encoder, *self.upper_encoders]):
            x, *layer_state = layer(x, mask=memory_mask, training=training)
            state += layer_state
            if i < self.num_layers - 1:
                x = self._drop(x, training)
        return x, memory_mask, state

    def decode_sequence(self, decoder_input, memory, memory_mask, state, training=False):
        outputs = self._run_decoder(self._inputs(decoder_input, self.target_embedding), state, training)
        return self.output_layer(outputs), None

    def decode_step(self, token, state, memory, memory_mask, cache=None, training=False):
        output, state = self._step_decoder(self._inputs(token, self.target_embedding), state, training)
        return self.output_layer(output), state, None

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "cell": self.cell,
                "units": self.units, "embedding_dim": self.embedding_dim, "num_layers": self.num_layers,
                "dropout": self.dropout}


@register
class AttentionSeq2Seq(_TokenInputs, Seq2Seq):
    """Bidirectional encoder, recurrent decoder that attends over all encoder states.

    At each step t the decoder state ``s_t`` queries the encoder states ``h_j``;
    the context ``c_t = sum_j alpha_tj h_j`` joins ``s_t`` in the attentional state
    ``tanh(W_c [c_t; s_t])`` that predicts the next token (Luong et al. 2015's
    placement, which lets teacher-forced training run all steps in parallel).
    ``attention``: one of ``ATTENTIONS`` (notebooks 05-06).  ``bidirectional=False`` reads the
    source left to right only (one recurrent layer of ``units``), the ablation of notebook 07.
    ``num_layers`` stacks encoder and decoder layers (decoder layer i starts from a bridge of
    encoder layer i's last states; the top decoder layer's ``s_t`` attends over the top encoder
    layer's outputs); ``dropout`` as in ``RNNSeq2Seq``.
    """

    has_attention = True

    def __init__(self, vocab_size, *, attention="additive", cell="gru", units=128, embedding_dim=64,
                 bidirectional=True, num_layers=1, dropout=0.0, **kwargs):
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
        self._check_depth(num_layers, dropout)
        self.source_embedding, self.target_embedding = self._make_inputs()

        def encoder_layer(name):
            if bidirectional:  # forward and backward halves concatenate to `units`, the decoder's width
                return keras.layers.Bidirectional(_rnn(cell, units // 2, f"{name}_rnn"), name=name)
            return _rnn(cell, units, name)

        self.encoder = encoder_layer("encoder")
        self.bridge = keras.layers.Dense(units, activation="tanh", name="bridge")  # encoder ends -> s_0
        self.decoder = _rnn(cell, units, "decoder")
        suffixes = [f"_{i + 1}" for i in range(1, self.num_layers)]
        self.upper_encoders = [encoder_layer(f"encoder{x}") for x in suffixes]
        self.upper_bridges = [keras.layers.Dense(units, activation="tanh", name=f"bridge{x}") for x in suffixes]
        self.upper_decoders = [_rnn(cell, units, f"decoder{x}") for x in suffixes]
        self.attention = ATTENTIONS[attention](units)
        self.W_c = keras.layers.Dense(units, activation="tanh", name="W_c")
        self.output_layer = keras.layers.Dense(vocab_size, name="output", dtype="float32")  # float32 logits

    def encode(self, encoder_input, training=False):
        memory_mask = ops.not_equal(encoder_input, PAD)
        x, state = self._drop(self._inputs(encoder_input, self.source_embedding), training), []
        layers = zip([self.encoder, *self.upper_encoders], [self.bridge, *self.upper_bridges])
        for i, (layer, bridge) in enumerate(layers):
            x, *ends = layer(x, mask=memory_mask, training=training)
            if self.bidirectional:  # forward states, then backward states
                n_states = len(ends) // 2
                ends = [ops.concatenate([forward, backward], axis=-1)
                        for forward, backward in zip(ends[:n_states], ends[n_states:])]
            state += [bridge(end) for end in ends]
            if i < self.num_layers - 1:
                x = self._drop(x, training)
        return x, memory_mask, state

    def prepare_memory(self, memory, memory_mask=None):
        return self.attention.project_keys(memory)

    def _attend(self, decoder_states, memory, memory_mask, keys=None):
        if keys is None:
            context, weights = self.attention(decoder_states, memory, memory_mask)
        else:
            context, weights = self.attention.attend(decoder_states, memory, memory_mask, keys)
        attentional = self.W_c(ops.concatenate([context, decoder_states], axis=-1))
        return self.output_layer(attentional), weights

    def decode_sequence(self, decoder_input, memory, memory_mask, state, training=False):
        decoder_states = self._run_decoder(self._inputs(decoder_input, self.target_embedding), state, training)
        return self._attend(decoder_states, memory, memory_mask)

    def decode_step(self, token, state, memory, memory_mask, cache=None, training=False):
        output, state = self._step_decoder(self._inputs(token, self.target_embedding), state, training)
        logits, weights = self._attend(ops.expand_dims(output, 1), memory, memory_mask, cache)
        return logits[:, 0], state, weights[:, 0]

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "attention": self.attention_name,
                "cell": self.cell, "units": self.units, "embedding_dim": self.embedding_dim,
                "bidirectional": self.bidirectional, "num_layers": self.num_layers, "dropout": self.dropout}
