"""Attention layers of the series, each with ``call(query, memory, memory_mask)``.

query (batch, tq, dq), memory (batch, ts, dm), memory_mask (batch, ts) bool ->
context (batch, tq, dm), weights (batch, tq, ts).  Weights on PAD positions are exactly 0
and each row sums to 1.  Taught in ``notebooks/05_bahdanau_attention.ipynb`` (additive)
and ``notebooks/06_luong_attention_and_keras_layers.ipynb`` (dot, general, multi-head).
Every layer is registered with Keras, so a saved model restores without custom code.
"""
from __future__ import annotations

import keras
from keras import ops

from utils.data import _check_int

PACKAGE = "seq2seq"
register = keras.saving.register_keras_serializable(package=PACKAGE)
NEG_INF = -1e9  # the score of a PAD position before the softmax (in float32: see masked_softmax)


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
    """Softmax over the last axis of ``scores`` (batch, tq, ts), PAD positions set to exactly 0.

    A PAD position's score is replaced by ``NEG_INF`` (notebook 05's form).  The softmax runs in
    float32 whatever the dtype of ``scores``: under mixed precision -1e9 does not fit in float16
    (it becomes -inf, and adding ``0 * -inf`` gives NaN), and float32 keeps the weights accurate.
    The weights come back in the dtype of ``scores``.
    """
    mask = ops.expand_dims(ops.cast(memory_mask, "bool"), 1)  # (batch, 1, ts)
    weights = ops.softmax(ops.where(mask, ops.cast(scores, "float32"), NEG_INF), axis=-1)
    weights = ops.where(mask, weights, 0.0)  # exp(-1e9) underflows to 0 already; this makes it exact by construction
    return ops.cast(weights, scores.dtype)


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
