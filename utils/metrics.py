"""Metrics on id arrays (NumPy) and a masked accuracy for ``model.compile``.

Taught in ``notebooks/01_the_reversal_task.ipynb`` (token vs exact-sequence accuracy),
``notebooks/03_lstm_gru_seq2seq.ipynb`` (edit distance of a derailed output),
``notebooks/05_bahdanau_attention.ipynb`` (alignment accuracy) and
``notebooks/11_pronouncing_english_g2p.ipynb`` (word and phoneme error rates against several references).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops
from rapidfuzz.distance import Levenshtein

from utils.data import PAD, _check_id_array


def _align(target, predicted):
    """Check two (n, T) id arrays and PAD the narrower one so both have the same width."""
    target = _check_id_array("target", target, ndim=2)
    predicted = _check_id_array("predicted", predicted, ndim=2)
    if target.shape[0] != predicted.shape[0]:
        raise ValueError(f"target and predicted must have as many rows, got shapes "
                         f"{target.shape} and {predicted.shape}")
    width = max(target.shape[1], predicted.shape[1])
    padding = ((0, 0), (0, width - target.shape[1])), ((0, 0), (0, width - predicted.shape[1]))
    return (np.pad(target, padding[0], constant_values=PAD),
            np.pad(predicted, padding[1], constant_values=PAD))


def token_accuracy(target, predicted) -> float:
    """Share of non-PAD target positions (EOS included) that ``predicted`` gets right.

    ``target`` and ``predicted`` are (n, T) and (n, T') int arrays; the narrower is
    PAD-padded, so a prediction that stops early is wrong at the missing positions.
    """
    target, predicted = _align(target, predicted)
    mask = target != PAD  # the target's tokens up to and including EOS
    if not mask.any():
        raise ValueError("target has no non-PAD token to score")
    return float((target == predicted)[mask].mean())


def sequence_correct(target, predicted) -> np.ndarray:
    """Per row: True when every token up to and including the target's EOS matches."""
    target, predicted = _align(target, predicted)
    mask = target != PAD  # the target's tokens up to and including EOS
    return np.all((target == predicted) | ~mask, axis=1)


def sequence_accuracy(target, predicted) -> float:
    """Exact-sequence accuracy: share of rows whose whole output, EOS included, is right."""
    correct = sequence_correct(target, predicted)
    if correct.size == 0:
        raise ValueError("target has no rows to score")
    return float(correct.mean())


def edit_distance(a, b) -> int:
    """Levenshtein distance between two 1-D id sequences: the fewest insertions, deletions and
    substitutions of one token that turn ``a`` into ``b``.

    Unlike counting position by position, one skipped token costs 1, not one per shifted
    token after it.  ``a`` and ``b`` are 1-D int arrays or lists (lengths may differ; PAD and
    EOS are tokens like any other, so crop the rows first if they should not count).
    Taught in ``notebooks/03_lstm_gru_seq2seq.ipynb`` (the rows that derail free-running).
    """
    a = _check_id_array("a", a, ndim=1)
    b = _check_id_array("b", b, ndim=1)
    return int(Levenshtein.distance(a.tolist(), b.tolist()))


def _check_pronunciations(references, hypotheses):
    """Lists of the same length: references[i] a non-empty collection of sequences, hypotheses[i] one sequence."""
    for name, value in (("references", references), ("hypotheses", hypotheses)):
        if isinstance(value, (str, np.ndarray)) or not hasattr(value, "__len__"):
            raise TypeError(f"{name} must be a list with one entry per word, got {type(value).__name__}")
    if len(references) != len(hypotheses):
        raise ValueError(f"references and hypotheses must have one entry per word each, got "
                         f"{len(references)} and {len(hypotheses)}")
    if not references:
        raise ValueError("references has no words to score")
    for i, (refs, hypothesis) in enumerate(zip(references, hypotheses)):
        if isinstance(hypothesis, str) or isinstance(refs, str):
            raise TypeError(f"entry {i}: a pronunciation is a sequence of phonemes, not the string "
                            f"{hypothesis if isinstance(hypothesis, str) else refs!r}")
        if len(refs) == 0 or any(isinstance(r, str) or len(r) == 0 for r in refs):
            raise ValueError(f"references[{i}] must be one or more non-empty phoneme sequences, got {refs!r}")


def closest_reference(references, hypothesis):
    """``(distance, reference)``: the reference with the fewest edits to ``hypothesis`` (the first on a tie)."""
    distances = [Levenshtein.distance(list(reference), list(hypothesis)) for reference in references]
    best = int(np.argmin(distances))
    return distances[best], tuple(references[best])


def word_error_rate(references, hypotheses) -> float:
    """Share of words whose hypothesis equals none of their references (the usual G2P protocol).

    ``references[i]``: every correct pronunciation of word i (sequences of phonemes);
    ``hypotheses[i]``: the model's one pronunciation.  Taught in notebook 11.
    """
    _check_pronunciations(references, hypotheses)
    wrong = [tuple(h) not in {tuple(r) for r in refs} for refs, h in zip(references, hypotheses)]
    return float(np.mean(wrong))


def phoneme_error_rate(references, hypotheses) -> float:
    """Phoneme edits over reference phonemes: sum over words of the Levenshtein distance to the closest
    reference, divided by the sum of those references' lengths (rapidfuzz's Levenshtein)."""
    _check_pronunciations(references, hypotheses)
    edits = total = 0
    for refs, hypothesis in zip(references, hypotheses):
        distance, reference = closest_reference(refs, hypothesis)
        edits += distance
        total += len(reference)
    return edits / total


def edit_operations(reference, hypothesis) -> list[tuple[str, object, object]]:
    """The fewest edits that turn ``reference`` into ``hypothesis``, as ``(kind, in_reference, in_hypothesis)``
    with kind "replace" (a, b), "delete" (a, None) or "insert" (None, b): rapidfuzz's ``Levenshtein.editops``."""
    reference, hypothesis = list(reference), list(hypothesis)
    operations = []
    for op in Levenshtein.editops(reference, hypothesis):
        a = reference[op.src_pos] if op.tag in ("replace", "delete") else None
        b = hypothesis[op.dest_pos] if op.tag in ("replace", "insert") else None
        operations.append((op.tag, a, b))
    return operations


def _check_attention(attention, lengths):
    attention = np.asarray(attention)
    if attention.dtype.kind != "f":
        raise TypeError(f"attention must hold float weights, got dtype {attention.dtype}")
    if attention.ndim != 3:
        raise ValueError(f"attention must have rank 3 (batch, out_len, src_len), got shape {attention.shape}")
    lengths = _check_id_array("lengths", lengths, ndim=1)
    if lengths.shape[0] != attention.shape[0]:
        raise ValueError(f"lengths must have one entry per attention row, got {lengths.shape[0]} "
                         f"for {attention.shape[0]}")
    if lengths.size and (lengths.min() < 1 or lengths.max() > attention.shape[2]):
        raise ValueError(f"lengths must be in [1, src_len={attention.shape[2]}], got "
                         f"min {lengths.min()} and max {lengths.max()}")
    if lengths.size and lengths.max() > attention.shape[1]:
        raise ValueError(f"attention has {attention.shape[1]} output steps, fewer than the longest "
                         f"length {lengths.max()}")
    return attention, lengths


def alignment_offsets(attention, lengths) -> np.ndarray:
    """(batch, out_len) int: where step t's largest weight lies, relative to source position length-1-t.

    0 is the anti-diagonal; +1 one position to the right.  Steps at or past a row's length
    are masked out (a ``numpy.ma`` masked array).  Taught in notebook 07.
    """
    attention, lengths = _check_attention(attention, lengths)
    steps = np.arange(attention.shape[1])
    offsets = attention.argmax(axis=2) - (lengths[:, None] - 1 - steps[None, :])
    return np.ma.masked_array(offsets, mask=steps[None, :] >= lengths[:, None])


def alignment_hits(attention, lengths) -> np.ndarray:
    """(batch, out_len) bool: step t < length attends most to source position length-1-t.

    Steps at or past a row's length are False (there is nothing to align).
    """
    return (alignment_offsets(attention, lengths) == 0).filled(False)


def alignment_accuracy(attention, lengths) -> float:
    """For reversal: share of output steps t < length whose largest weight is on length-1-t.

    ``attention`` is (batch, out_len, src_len); ``lengths`` (batch,) source lengths.
    """
    hits = alignment_hits(attention, lengths)
    if hits.shape[0] == 0:
        raise ValueError("attention has no rows to score")
    return float(hits.sum() / np.asarray(lengths).sum())


def accuracy_by_length(target, predicted, lengths) -> dict[int, dict[str, float]]:
    """``{length: {"token": ..., "sequence": ..., "count": ...}}`` over the rows of each length."""
    target, predicted = _align(target, predicted)
    lengths = _check_id_array("lengths", lengths, ndim=1)
    if lengths.shape[0] != target.shape[0]:
        raise ValueError(f"lengths must have one entry per row, got {lengths.shape[0]} for {target.shape[0]}")
    results = {}
    for length in np.unique(lengths):
        rows = lengths == length
        results[int(length)] = {"token": token_accuracy(target[rows], predicted[rows]),
                                "sequence": sequence_accuracy(target[rows], predicted[rows]),
                                "count": int(rows.sum())}
    return results


# --------------------------------------------------------------------------- Keras
@keras.saving.register_keras_serializable(package="seq2seq")
class MaskedAccuracy(keras.metrics.Metric):
    """Teacher-forced token accuracy over non-PAD targets, for ``model.compile``.

    ``y_true`` (batch, T) ids; ``y_pred`` (batch, T, vocab) logits or probabilities.
    Counts hits and scored tokens over the whole epoch, so it equals
    :func:`token_accuracy` of the argmax, not an average of per-batch ratios.
    """

    def __init__(self, name="masked_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        mask = ops.cast(ops.not_equal(y_true, PAD), "float32")
        self.hits.assign_add(ops.sum(ops.cast(ops.equal(y_true, predicted), "float32") * mask))
        self.total.assign_add(ops.sum(mask))

    def result(self):
        return self.hits / ops.maximum(self.total, 1.0)

    def reset_state(self):
        self.hits.assign(0.0)
        self.total.assign(0.0)
