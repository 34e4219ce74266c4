"""The Transformer encoder-decoder (Vaswani et al. 2017) with the series' ``Seq2Seq`` interface.

Taught piece by piece in ``notebooks/10_the_transformer.ipynb``, where each piece is checked
against Keras' ``MultiHeadAttention`` and KerasHub's ``TransformerEncoder``/``TransformerDecoder``
(``normalize_first=True``) with copied weights.  The forms the code runs:

* attention, per head: ``softmax(Q K^T / sqrt(d_head)) V`` with ``Q = x W_q``, ``K = m W_k``,
  ``V = m W_v`` (each with a bias, as Keras'), heads concatenated and projected by ``W_o``;
  a masked key gets weight exactly 0;
* blocks are pre-LN (``normalize_first``): ``x + Sublayer(LayerNorm(x))``, a final LayerNorm
  after each stack (Xiong et al. 2020: stable without a learning-rate warm-up);
* the feed-forward sublayer is ``relu(x W_1 + b_1) W_2 + b_2``;
* ``positions="sinusoidal"``: ``PE[p, 2i] = sin(p / 10000^(2i/d))``, ``PE[p, 2i+1] = cos(...)``
  added to ``sqrt(d_model) * embedding``; ``positions="rope"``: no added encoding, queries and
  keys of every self-attention rotated by their position (RoPE, Su et al. 2021, the
  rotate-half form of KerasHub's ``RotaryEmbedding``); cross-attention then sees content only,
  unless ``cross_positions`` is set:
* ``cross_positions`` ("start", "end" or "both", with ``positions="rope"``): the source is framed by
  markers, ``SOS x_0 ... x_{n-1} EOS``, and cross-attention rotates each decoder query by its
  position t and each source key by the key's position counted from the source's start
  (``j``, so SOS is at -1 and EOS at n) or from its end (``n - 1 - j``, so SOS is at n and EOS at
  -1); "both" counts from the start in the first half of the heads and from the end in the
  second.  A query and key then score a function of their offset: reversal's target at step t,
  ``x_{n-1-t}``, is at offset 0 in the end frame for every n, and SOS is at offset 0 at the
  step that must emit EOS.  It builds in that an output is aligned with a source end, which
  reversal's and copying's are, and translation's are not.  The weights returned leave out the
  markers' columns (the weight on them is not shown), so they stay (..., source length).

Incremental decoding: ``decode_step`` reads a key/value cache that ``init_decoder_state``
allocates for ``max_len`` steps, (batch, heads, max_len, d_head) per decoder layer, with the
step's position; each step writes one position.  ``utils.decoding.generate`` and
``utils.beam.beam_search`` call it before their loops, so both decode this model unchanged.
"""
from __future__ import annotations

import math

import keras
from keras import ops

from utils.data import EOS, PAD, SOS, _check_dropout, _check_int
from utils.layers import NEG_INF, register
from utils.models import Seq2Seq

POSITIONS = ("sinusoidal", "rope")
CROSS_POSITIONS = (None, "start", "end", "both")
MAX_WAVELENGTH = 10_000


# --------------------------------------------------------------------------- positions
def sinusoidal_encoding(positions, d_model, max_wavelength=MAX_WAVELENGTH):
    """Vaswani et al.'s encoding of float ``positions`` (...,) -> (..., d_model), sin on even features, cos on odd."""
    feature = ops.arange(d_model)
    timescale = ops.power(float(max_wavelength), ops.cast(2 * (feature // 2), "float32") / d_model)
    angles = ops.expand_dims(ops.cast(positions, "float32"), -1) / timescale
    return ops.where(feature % 2 == 0, ops.sin(angles), ops.cos(angles))


def rotate(x, positions, max_wavelength=MAX_WAVELENGTH):
    """RoPE: rotate ``x`` (batch, heads, seq, d_head) by ``positions`` (batch, seq), rotate-half pairing.

    ``positions`` may also be (batch, heads, seq): a position per head (``cross_positions="both"``).

    Feature i of the first half pairs with feature i of the second half; the pair turns by the angle
    ``position / max_wavelength^(2i/d_head)``.  A query at p and a key at q then score a function of p - q.
    """
    half = ops.shape(x)[-1] // 2
    inverse_frequency = 1.0 / ops.power(float(max_wavelength), ops.cast(ops.arange(half) * 2, "float32")
                                        / ops.cast(2 * half, "float32"))
    angles = ops.expand_dims(ops.cast(positions, "float32"), -1) * inverse_frequency  # (batch, seq, half)
    angles = ops.concatenate([angles, angles], axis=-1)
    if len(angles.shape) == 3:
        angles = ops.expand_dims(angles, 1)  # (batch, 1, seq, d_head): the same for every head
    first, second = x[..., :half], x[..., half:]
    rotated_half = ops.concatenate([-second, first], axis=-1)
    return x * ops.cast(ops.cos(angles), x.dtype) + rotated_half * ops.cast(ops.sin(angles), x.dtype)


def causal_mask(length):
    """(length, length) bool: query t may see keys 0..t."""
    index = ops.arange(length)
    return ops.expand_dims(index, 1) >= ops.expand_dims(index, 0)


# --------------------------------------------------------------------------- attention
@register
class MultiHeadAttention(keras.layers.Layer):
    """``softmax(Q K^T / sqrt(d_head)) V`` for each of ``num_heads`` heads, concatenated, then ``W_o``.

    ``call(query (batch, tq, d), value (batch, tk, d), mask (batch, tq, tk) or (batch, 1, tk) bool)``
    -> output (batch, tq, d), weights (batch, heads, tq, tk).  ``rotary=True`` rotates queries and
    keys by ``query_positions``/``key_positions`` (batch, t) before the scores (RoPE).
    """

    def __init__(self, d_model, num_heads, *, dropout=0.0, rotary=False, **kwargs):
        super().__init__(**kwargs)
        self.d_model = _check_int("d_model", d_model, minimum=1)
        self.num_heads = _check_int("num_heads", num_heads, minimum=1)
        if d_model % num_heads:
            raise ValueError(f"num_heads must divide d_model: {d_model} is not a multiple of {num_heads}")
        self.d_head = d_model // num_heads
        if rotary and self.d_head % 2:
            raise ValueError(f"rotary positions need an even d_head (d_model / num_heads), got {self.d_head}")
        self.dropout = _check_dropout(dropout)
        self.rotary = bool(rotary)
        self.W_q = keras.layers.Dense(d_model, name="W_q")
        self.W_k = keras.layers.Dense(d_model, name="W_k")
        self.W_v = keras.layers.Dense(d_model, name="W_v")
        self.W_o = keras.layers.Dense(d_model, name="W_o")
        self.weights_dropout = keras.layers.Dropout(self.dropout, seed=2) if self.dropout else None

    def build(self, query_shape, value_shape, mask_shape=None, *args, **kwargs):
        self.W_q.build(query_shape)
        self.W_k.build(value_shape)
        self.W_v.build(value_shape)
        self.W_o.build((*query_shape[:-1], self.d_model))

    def split_heads(self, x):
        """(batch, t, d_model) -> (batch, heads, t, d_head)."""
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        return ops.transpose(ops.reshape(x, (batch, length, self.num_heads, self.d_head)), (0, 2, 1, 3))

    def keys_values(self, value, key_positions=None):
        """Projected, split (and, if rotary, rotated) keys and values: each (batch, heads, tk, d_head)."""
        keys = self.split_heads(self.W_k(value))
        if self.rotary:
            keys = rotate(keys, key_positions)
        return keys, self.split_heads(self.W_v(value))

    def queries(self, query, query_positions=None):
        queries = self.split_heads(self.W_q(query))
        return rotate(queries, query_positions) if self.rotary else queries

    def attend(self, queries, keys, values, mask, training=False):
        """Split queries/keys/values -> output (batch, tq, d_model), weights (batch, heads, tq, tk)."""
        scores = ops.matmul(queries, ops.transpose(keys, (0, 1, 3, 2))) / math.sqrt(self.d_head)
        mask = ops.expand_dims(ops.cast(mask, "bool"), 1)  # (batch, 1, tq or 1, tk)
        weights = ops.softmax(ops.where(mask, ops.cast(scores, "float32"), NEG_INF), axis=-1)
        weights = ops.where(mask, weights, 0.0)  # exactly 0 on masked keys
        attended = weights if self.weights_dropout is None else self.weights_dropout(weights, training=training)
        context = ops.matmul(ops.cast(attended, values.dtype), values)  # (batch, heads, tq, d_head)
        batch, length = ops.shape(context)[0], ops.shape(context)[2]
        context = ops.reshape(ops.transpose(context, (0, 2, 1, 3)), (batch, length, self.d_model))
        return self.W_o(context), weights

    def call(self, query, value, mask, query_positions=None, key_positions=None, training=False):
        keys, values = self.keys_values(value, key_positions)
        return self.attend(self.queries(query, query_positions), keys, values, mask, training=training)

    def get_config(self):
        return {**super().get_config(), "d_model": self.d_model, "num_heads": self.num_heads,
                "dropout": self.dropout, "rotary": self.rotary}


# --------------------------------------------------------------------------- blocks
class _Block(keras.layers.Layer):
    """What both blocks share: pre-LN residual sublayers and the feed-forward sublayer."""

    def __init__(self, d_model, num_heads, ff_dim, *, dropout=0.0, rotary=False, **kwargs):
        super().__init__(**kwargs)
        self.d_model = _check_int("d_model", d_model, minimum=1)
        self.num_heads = _check_int("num_heads", num_heads, minimum=1)
        self.ff_dim = _check_int("ff_dim", ff_dim, minimum=1)
        self.dropout = _check_dropout(dropout)
        self.rotary = bool(rotary)
        self.feedforward_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="feedforward_norm")
        self.W_1 = keras.layers.Dense(ff_dim, activation="relu", name="W_1")
        self.W_2 = keras.layers.Dense(d_model, name="W_2")
        self.residual_dropout = keras.layers.Dropout(self.dropout, seed=3) if self.dropout else None

    def build(self, x_shape, *args, **kwargs):
        self.feedforward_norm.build(x_shape)
        self.W_1.build(x_shape)
        self.W_2.build((*x_shape[:-1], self.ff_dim))

    def _attention(self, name):
        return MultiHeadAttention(self.d_model, self.num_heads, dropout=self.dropout, rotary=self.rotary, name=name)

    def _drop(self, x, training):
        return self.residual_dropout(x, training=training) if self.residual_dropout is not None else x

    def feedforward(self, x, training=False):
        """``x + W_2(relu(W_1 LayerNorm(x)))``."""
        return x + self._drop(self.W_2(self.W_1(self.feedforward_norm(x))), training)

    def get_config(self):
        return {**super().get_config(), "d_model": self.d_model, "num_heads": self.num_heads,
                "ff_dim": self.ff_dim, "dropout": self.dropout, "rotary": self.rotary}


@register
class EncoderBlock(_Block):
    """Pre-LN encoder block: self-attention over the non-PAD source, then feed-forward.

    ``call(x (batch, ts, d), source_mask (batch, ts) bool, positions (batch, ts))``
    -> x, weights (batch, heads, ts, ts).
    """

    def __init__(self, d_model, num_heads, ff_dim, **kwargs):
        super().__init__(d_model, num_heads, ff_dim, **kwargs)
        self.self_attention_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="self_attention_norm")
        self.self_attention = self._attention("self_attention")

    def build(self, x_shape, *args, **kwargs):
        super().build(x_shape)
        self.self_attention_norm.build(x_shape)
        self.self_attention.build(x_shape, x_shape)

    def call(self, x, source_mask, positions=None, training=False):
        normed = self.self_attention_norm(x)
        attended, weights = self.self_attention(normed, normed, ops.expand_dims(source_mask, 1),
                                                positions, positions, training=training)
        return self.feedforward(x + self._drop(attended, training), training), weights


@register
class DecoderBlock(_Block):
    """Pre-LN decoder block: causal self-attention, cross-attention over the memory, feed-forward.

    Teacher-forced ``call(x (batch, tq, d), memory, memory_mask, positions)`` -> x, self weights
    (batch, heads, tq, tq), cross weights (batch, heads, tq, ts).  ``step`` does one position with
    the key/value cache.
    """

    def __init__(self, d_model, num_heads, ff_dim, *, cross_rotary=False, **kwargs):
        super().__init__(d_model, num_heads, ff_dim, **kwargs)
        self.cross_rotary = bool(cross_rotary)
        self.self_attention_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="self_attention_norm")
        self.self_attention = self._attention("self_attention")
        self.cross_attention_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="cross_attention_norm")
        # no positions by default: query and key positions index different sequences; cross_rotary rotates
        # queries by their position and keys by the memory positions the model passes (cross_positions)
        self.cross_attention = MultiHeadAttention(self.d_model, self.num_heads, dropout=self.dropout,
                                                  rotary=self.cross_rotary, name="cross_attention")

    def build(self, x_shape, memory_shape, *args, **kwargs):
        super().build(x_shape)
        for norm in (self.self_attention_norm, self.cross_attention_norm):
            norm.build(x_shape)
        self.self_attention.build(x_shape, x_shape)
        self.cross_attention.build(x_shape, memory_shape)

    def _cross_and_feedforward(self, x, positions, cross_keys, cross_values, memory_mask, training):
        queries = self.cross_attention.queries(self.cross_attention_norm(x), positions)
        attended, cross_weights = self.cross_attention.attend(queries, cross_keys, cross_values,
                                                              ops.expand_dims(memory_mask, 1), training=training)
        return self.feedforward(x + self._drop(attended, training), training), cross_weights

    def call(self, x, memory, memory_mask, positions=None, memory_positions=None, training=False):
        # causality alone: a row's PAD inputs come after its last real one, so no real position sees them
        mask = ops.expand_dims(causal_mask(ops.shape(x)[1]), 0)
        normed = self.self_attention_norm(x)
        attended, self_weights = self.self_attention(normed, normed, mask, positions, positions, training=training)
        cross_keys, cross_values = self.cross_attention.keys_values(memory, memory_positions)
        x, cross_weights = self._cross_and_feedforward(x + self._drop(attended, training), positions, cross_keys,
                                                       cross_values, memory_mask, training)
        return x, self_weights, cross_weights

    def step(self, x, position, cached_keys, cached_values, cross_keys, cross_values, memory_mask):
        """One position: x (batch, 1, d) at ``position`` (batch,) -> x, the caches with it written, cross weights."""
        normed = self.self_attention_norm(x)
        positions = ops.expand_dims(position, 1)
        keys, values = self.self_attention.keys_values(normed, positions)  # (batch, heads, 1, d_head)
        max_len = ops.shape(cached_keys)[2]
        here = ops.reshape(ops.arange(max_len), (1, 1, max_len, 1)) == ops.reshape(position, (-1, 1, 1, 1))
        cached_keys = ops.where(here, keys, cached_keys)
        cached_values = ops.where(here, values, cached_values)
        visible = ops.expand_dims(ops.expand_dims(ops.arange(max_len), 0) <= positions, 1)  # (batch, 1, max_len)
        attended, _ = self.self_attention.attend(self.self_attention.queries(normed, positions), cached_keys,
                                                 cached_values, visible)
        x, cross_weights = self._cross_and_feedforward(x + attended, positions, cross_keys, cross_values,
                                                       memory_mask, False)
        return x, cached_keys, cached_values, cross_weights

    def get_config(self):
        return {**super().get_config(), "cross_rotary": self.cross_rotary}


# --------------------------------------------------------------------------- the model
@register
class TransformerSeq2Seq(Seq2Seq):
    """Pre-LN Transformer encoder-decoder with the series' interface (``call``, ``generate``, ``beam_search``).

    ``d_model`` wide, ``num_layers`` encoder and ``num_layers`` decoder blocks of ``num_heads`` heads
    (which must divide ``d_model``), feed-forward width ``ff_dim`` (default ``4 * d_model``),
    ``dropout`` on attention weights and residual branches in training, ``positions`` one of
    ``POSITIONS`` and ``cross_positions`` one of ``CROSS_POSITIONS`` (see the module docstring).
    Source and target have separate embeddings.
    The attention that ``generate(return_attention=True)`` returns is the last decoder block's
    cross-attention, averaged over heads; ``attention_maps`` gives every layer and head.
    """

    has_attention = True

    def __init__(self, vocab_size, *, d_model=64, num_heads=4, num_layers=2, ff_dim=None, dropout=0.0,
                 positions="sinusoidal", cross_positions=None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = _check_int("vocab_size", vocab_size, minimum=4)
        self.d_model = _check_int("d_model", d_model, minimum=2)
        self.num_heads = _check_int("num_heads", num_heads, minimum=1)  # its blocks check that it divides d_model
        self.num_layers = _check_int("num_layers", num_layers, minimum=1)
        self.ff_dim = 4 * d_model if ff_dim is None else _check_int("ff_dim", ff_dim, minimum=1)
        self.dropout = _check_dropout(dropout)
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {positions!r}")
        self.positions = positions
        if cross_positions not in CROSS_POSITIONS:
            raise ValueError(f"cross_positions must be one of {CROSS_POSITIONS}, got {cross_positions!r}")
        if cross_positions is not None and positions != "rope":
            raise ValueError(f"cross_positions={cross_positions!r} needs positions='rope', got {positions!r}")
        if cross_positions == "both" and num_heads % 2:
            raise ValueError(f"cross_positions='both' splits the heads in two: num_heads must be even, "
                             f"got {num_heads}")
        self.cross_positions = cross_positions
        rotary = positions == "rope"
        self.source_embedding = keras.layers.Embedding(vocab_size, d_model, name="source_embedding")
        self.target_embedding = keras.layers.Embedding(vocab_size, d_model, name="target_embedding")
        block_options = {"dropout": self.dropout, "rotary": rotary}
        self.encoder_blocks = [EncoderBlock(d_model, num_heads, self.ff_dim, name=f"encoder_{i}", **block_options)
                               for i in range(num_layers)]
        self.decoder_blocks = [DecoderBlock(d_model, num_heads, self.ff_dim, name=f"decoder_{i}",
                                            cross_rotary=cross_positions is not None, **block_options)
                               for i in range(num_layers)]
        self.encoder_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="encoder_norm")
        self.decoder_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="decoder_norm")
        self.embedding_dropout = keras.layers.Dropout(self.dropout, seed=4) if self.dropout else None
        self.output_layer = keras.layers.Dense(vocab_size, name="output", dtype="float32")  # float32 logits

    # ------------------------------------------------------------------ pieces
    def _embed(self, ids, embedding, positions, training):
        x = embedding(ids) * math.sqrt(self.d_model)
        if self.positions == "sinusoidal":
            x = x + ops.cast(sinusoidal_encoding(positions, self.d_model), x.dtype)
        return self.embedding_dropout(x, training=training) if self.embedding_dropout is not None else x

    @staticmethod
    def _positions(ids):
        batch, length = ops.shape(ids)[0], ops.shape(ids)[1]
        return ops.broadcast_to(ops.expand_dims(ops.arange(length), 0), (batch, length))

    @staticmethod
    def frame_source(ids):
        """``x_0 ... x_{n-1} PAD ...`` -> ``SOS x_0 ... x_{n-1} EOS PAD ...``, one column longer each side."""
        batch, width = ops.shape(ids)[0], ops.shape(ids)[1]
        lengths = ops.sum(ops.cast(ops.not_equal(ids, PAD), "int32"), axis=1, keepdims=True)  # PAD only trails
        framed = ops.concatenate([ops.full((batch, 1), SOS, "int32"), ids, ops.full((batch, 1), PAD, "int32")], 1)
        return ops.where(ops.expand_dims(ops.arange(width + 2), 0) == lengths + 1, EOS, framed)

    @staticmethod
    def _source_lengths(memory_mask):
        """(batch, 1): the source's n from the framed memory's mask (n tokens and the two markers)."""
        return ops.sum(ops.cast(memory_mask, "int32"), axis=1, keepdims=True) - 2

    def memory_positions(self, memory_mask):
        """Each cross-attention key's position (batch, heads, ts): from the framed source's start or end.

        ``None`` without ``cross_positions``.  Framed column i holds x_{i-1}: from the start it is at
        i - 1, from the end at n - i, for a source of n tokens.
        """
        if self.cross_positions is None:
            return None
        column = ops.expand_dims(ops.arange(ops.shape(memory_mask)[1]), 0)
        n = self._source_lengths(memory_mask)
        frames = {"start": column - 1 + ops.zeros_like(n), "end": n - column}  # each (batch, width)
        half = self.num_heads // 2
        per_head = {"start": ["start"] * self.num_heads, "end": ["end"] * self.num_heads,
                    "both": ["start"] * half + ["end"] * (self.num_heads - half)}[self.cross_positions]
        return ops.stack([frames[frame] for frame in per_head], axis=1)

    def _source_weights(self, weights, memory_mask):
        """Weights over the framed memory (..., ts + 2) -> over the source (..., ts), the markers left out."""
        if self.cross_positions is None:
            return weights
        # framed column i + 1 is source column i; a row's EOS marker falls on a PAD column, zeroed here
        width = ops.shape(weights)[-1] - 2
        real = ops.expand_dims(ops.arange(width), 0) < self._source_lengths(memory_mask)  # (batch, ts)
        real = ops.reshape(real, (ops.shape(real)[0],) + (1,) * (len(weights.shape) - 2) + (width,))
        return ops.where(real, weights[..., 1:-1], 0.0)

    def _encode(self, encoder_input, training=False):
        encoder_input = ops.convert_to_tensor(encoder_input, dtype="int32")
        if self.cross_positions is not None:
            encoder_input = self.frame_source(encoder_input)
        memory_mask = ops.not_equal(encoder_input, PAD)
        positions = self._positions(encoder_input)
        x, weights = self._embed(encoder_input, self.source_embedding, positions, training), []
        for block in self.encoder_blocks:
            x, block_weights = block(x, memory_mask, positions, training=training)
            weights.append(block_weights)
        return self.encoder_norm(x), memory_mask, weights

    def _decode(self, decoder_input, memory, memory_mask, training=False):
        decoder_input = ops.convert_to_tensor(decoder_input, dtype="int32")
        positions = self._positions(decoder_input)
        memory_positions = self.memory_positions(memory_mask)
        x = self._embed(decoder_input, self.target_embedding, positions, training)
        self_weights, cross_weights = [], []
        for block in self.decoder_blocks:
            x, block_self, block_cross = block(x, memory, memory_mask, positions, memory_positions, training=training)
            self_weights.append(block_self)
            cross_weights.append(block_cross)
        return self.output_layer(self.decoder_norm(x)), self_weights, cross_weights

    # ------------------------------------------------------------------ the series' interface
    def encode(self, encoder_input, training=False):
        memory, memory_mask, _ = self._encode(encoder_input, training)
        # the decoder's state starts as the position of the next step; init_decoder_state adds the caches
        return memory, memory_mask, [ops.zeros((ops.shape(memory)[0],), dtype="int32")]

    def decode_sequence(self, decoder_input, memory, memory_mask, state=None, training=False):
        logits, _, cross_weights = self._decode(decoder_input, memory, memory_mask, training)
        return logits, self._source_weights(ops.mean(cross_weights[-1], axis=1), memory_mask)

    def prepare_memory(self, memory, memory_mask=None):
        """Every decoder block's cross-attention keys and values, computed once per decode.

        ``memory_mask`` places the keys when ``cross_positions`` is set (and is then required).
        """
        if self.cross_positions is not None and memory_mask is None:
            raise ValueError("prepare_memory needs memory_mask when cross_positions is set: the keys' "
                             "positions count from the source's end")
        positions = self.memory_positions(memory_mask) if memory_mask is not None else None
        return [tensor for block in self.decoder_blocks
                for tensor in block.cross_attention.keys_values(memory, positions)]

    def init_decoder_state(self, state, max_len):
        """[position, then each block's key and value cache (batch, heads, max_len, d_head), zeros]."""
        position = state[0]
        shape = (ops.shape(position)[0], self.num_heads, max_len, self.d_model // self.num_heads)
        return [position] + [ops.zeros(shape, dtype=self.compute_dtype) for _ in range(2 * self.num_layers)]

    def decode_step(self, token, state, memory, memory_mask, cache=None, training=False):
        if len(state) != 1 + 2 * self.num_layers:
            raise ValueError("decode_step needs the key/value caches: pass the state through "
                             "init_decoder_state(state, max_len) first")
        if cache is None:
            cache = self.prepare_memory(memory, memory_mask)
        position = state[0]
        x = self._embed(ops.expand_dims(token, 1), self.target_embedding, ops.expand_dims(position, 1), False)
        new_state = [position + 1]
        for i, block in enumerate(self.decoder_blocks):
            x, keys, values, cross_weights = block.step(x, position, state[1 + 2 * i], state[2 + 2 * i],
                                                        cache[2 * i], cache[2 * i + 1], memory_mask)
            new_state += [keys, values]
        logits = self.output_layer(self.decoder_norm(x))
        return logits[:, 0], new_state, self._source_weights(ops.mean(cross_weights, axis=1)[:, 0], memory_mask)

    def set_teacher_forcing(self, ratio, *, seed=0):
        """Only full teacher forcing (``None`` or 1.0): the Transformer trains every position at once."""
        if ratio is not None and not (isinstance(ratio, (int, float)) and ratio == 1.0):
            raise ValueError(f"TransformerSeq2Seq trains with full teacher forcing only (ratio None or 1.0), "
                             f"got {ratio!r}")
        return super().set_teacher_forcing(None, seed=seed)

    def call(self, inputs, training=False):
        encoder_input, decoder_input = inputs
        memory, memory_mask, _ = self._encode(encoder_input, training)
        return self._decode(decoder_input, memory, memory_mask, training)[0]

    def attention_maps(self, encoder_input, decoder_input):
        """Every layer's and head's weights under teacher forcing, as numpy arrays.

        ``{"encoder": [(batch, heads, ts, ts)] * layers, "decoder": [(batch, heads, tq, tq)] * layers,
        "cross": [(batch, heads, tq, ts)] * layers}``.
        """
        memory, memory_mask, encoder_weights = self._encode(encoder_input)
        _, self_weights, cross_weights = self._decode(decoder_input, memory, memory_mask)
        as_numpy = lambda weights: [ops.convert_to_numpy(w) for w in weights]  # noqa: E731
        if self.cross_positions is not None:  # over the source only (see _source_weights)
            encoder_weights = [self._source_weights(w, memory_mask)[..., 1:-1, :] for w in encoder_weights]
            cross_weights = [self._source_weights(w, memory_mask) for w in cross_weights]
        return {"encoder": as_numpy(encoder_weights), "decoder": as_numpy(self_weights),
                "cross": as_numpy(cross_weights)}

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "d_model": self.d_model,
                "num_heads": self.num_heads, "num_layers": self.num_layers, "ff_dim": self.ff_dim,
                "dropout": self.dropout, "positions": self.positions, "cross_positions": self.cross_positions}


# --------------------------------------------------------------------------- comparisons with Keras and KerasHub
def copy_attention_weights(ours, keras_attention):
    """Copy ``ours`` (a built ``MultiHeadAttention`` above) into a built ``keras.layers.MultiHeadAttention``.

    Keras keeps each projection as an ``EinsumDense`` with kernel (d_model, heads, d_head) and bias
    (heads, d_head), and the output kernel as (heads, d_head, d_model): the same numbers, reshaped.
    """
    heads, d_head, d_model = ours.num_heads, ours.d_head, ours.d_model
    for mine, theirs in ((ours.W_q, keras_attention._query_dense), (ours.W_k, keras_attention._key_dense),
                         (ours.W_v, keras_attention._value_dense)):
        kernel, bias = mine.get_weights()
        theirs.set_weights([kernel.reshape(-1, heads, d_head), bias.reshape(heads, d_head)])
    kernel, bias = ours.W_o.get_weights()
    keras_attention._output_dense.set_weights([kernel.reshape(heads, d_head, d_model), bias])


def copy_block_weights(ours, hub_block):
    """Copy an ``EncoderBlock``/``DecoderBlock`` into a built KerasHub ``TransformerEncoder``/``TransformerDecoder``.

    The KerasHub block must have ``normalize_first=True``, ``layer_norm_epsilon=1e-5`` and ``ff_dim`` as
    its ``intermediate_dim``; nothing here imports KerasHub (notebook 10 and the tests pass the block).
    """
    pairs = [(ours.self_attention_norm, hub_block._self_attention_layer_norm),
             (ours.feedforward_norm, hub_block._feedforward_layer_norm),
             (ours.W_1, hub_block._feedforward_intermediate_dense),
             (ours.W_2, hub_block._feedforward_output_dense)]
    copy_attention_weights(ours.self_attention, hub_block._self_attention_layer)
    if isinstance(ours, DecoderBlock):
        pairs.append((ours.cross_attention_norm, hub_block._cross_attention_layer_norm))
        copy_attention_weights(ours.cross_attention, hub_block._cross_attention_layer)
    for mine, theirs in pairs:
        theirs.set_weights(mine.get_weights())
