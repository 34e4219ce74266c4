"""Tests of utils.metrics on small hand-computed cases (the expected numbers are worked out by hand)."""
import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from utils import metrics

# Two rows, PAD = 0, EOS = 2.  Row 0: symbols 5 4 3 then EOS (4 scored tokens);
# row 1: symbol 6 then EOS (2 scored tokens).  6 scored tokens in all.
TARGET = np.array([[5, 4, 3, 2, 0],
                   [6, 2, 0, 0, 0]])


# --------------------------------------------------------------------------- token / sequence accuracy
@pytest.mark.parametrize("predicted, token, sequence", [
    # perfect
    ([[5, 4, 3, 2, 0], [6, 2, 0, 0, 0]], 6 / 6, 2 / 2),
    # one symbol wrong in row 0: 5 of 6 tokens, row 0 not exact
    ([[5, 4, 9, 2, 0], [6, 2, 0, 0, 0]], 5 / 6, 1 / 2),
    # garbage after EOS (and in PAD positions) is ignored by both
    ([[5, 4, 3, 2, 7], [6, 2, 8, 8, 8]], 6 / 6, 2 / 2),
    # EOS missing in row 1 (the model kept writing): row 1 not exact, 5 of 6 tokens
    ([[5, 4, 3, 2, 0], [6, 6, 2, 0, 0]], 5 / 6, 1 / 2),
    # EOS too early in row 0: 5 4 EOS -> positions 2 and 3 wrong: 4 of 6
    ([[5, 4, 2, 0, 0], [6, 2, 0, 0, 0]], 4 / 6, 1 / 2),
    # everything wrong
    ([[7, 7, 7, 7, 7], [7, 7, 7, 7, 7]], 0 / 6, 0 / 2),
    # predicting PAD everywhere scores nothing
    ([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0]], 0 / 6, 0 / 2),
])
def test_token_and_sequence_accuracy(predicted, token, sequence):
    predicted = np.array(predicted)
    assert metrics.token_accuracy(TARGET, predicted) == pytest.approx(token)
    assert metrics.sequence_accuracy(TARGET, predicted) == pytest.approx(sequence)


def test_shorter_prediction_is_wrong_where_it_is_missing():
    # width 2: row 0 has 5 4 right, 3 and EOS missing (2 of 4); row 1 has 6 EOS (2 of 2): 4 of 6
    predicted = np.array([[5, 4], [6, 2]])
    assert metrics.token_accuracy(TARGET, predicted) == pytest.approx(4 / 6)
    assert metrics.sequence_accuracy(TARGET, predicted) == pytest.approx(1 / 2)
    assert metrics.sequence_correct(TARGET, predicted).tolist() == [False, True]


def test_longer_prediction_is_scored_up_to_the_target_eos():
    predicted = np.array([[5, 4, 3, 2, 9, 9, 9], [6, 2, 0, 0, 0, 0, 9]])
    assert metrics.token_accuracy(TARGET, predicted) == 1.0
    assert metrics.sequence_accuracy(TARGET, predicted) == 1.0
    # ... but a wrong token before the target's EOS still counts
    predicted[1, 1] = 5
    assert metrics.token_accuracy(TARGET, predicted) == pytest.approx(5 / 6)
    assert metrics.sequence_correct(TARGET, predicted).tolist() == [True, False]


def test_exact_needs_the_eos_itself():
    target = np.array([[3, 3, 2]])
    assert metrics.sequence_accuracy(target, np.array([[3, 3, 3]])) == 0.0  # no EOS where it belongs
    assert metrics.sequence_accuracy(target, np.array([[3, 3, 0]])) == 0.0  # PAD instead of EOS
    assert metrics.sequence_accuracy(target, np.array([[3, 3, 2]])) == 1.0
    assert metrics.token_accuracy(target, np.array([[3, 3, 0]])) == pytest.approx(2 / 3)


def test_target_pad_is_not_scored_even_if_the_target_is_wider():
    target = np.array([[4, 2, 0, 0, 0, 0, 0, 0]])
    assert metrics.token_accuracy(target, np.array([[4, 2]])) == 1.0
    assert metrics.sequence_accuracy(target, np.array([[4, 2]])) == 1.0


def test_accuracy_by_length():
    target = np.array([[5, 4, 3, 2, 0],
                       [6, 2, 0, 0, 0],
                       [3, 3, 4, 2, 0]])
    predicted = np.array([[5, 4, 3, 2, 0],   # length 3: exact (4 of 4)
                          [7, 2, 0, 0, 0],   # length 1: 1 of 2, not exact
                          [3, 3, 4, 4, 0]])  # length 3: 3 of 4, not exact
    by_length = metrics.accuracy_by_length(target, predicted, [3, 1, 3])
    assert sorted(by_length) == [1, 3]
    assert by_length[3]["token"] == pytest.approx(7 / 8)
    assert by_length[3]["sequence"] == pytest.approx(1 / 2)
    assert by_length[3]["count"] == 2
    assert by_length[1] == {"token": pytest.approx(1 / 2), "sequence": 0.0, "count": 1}


# --------------------------------------------------------------------------- alignment
def _one_hot_attention(positions, src_len):
    """(batch, out_len, src_len) attention with all weight on positions[b][t]."""
    positions = np.asarray(positions)
    attention = np.zeros((*positions.shape, src_len), dtype=np.float32)
    for b, t in np.ndindex(positions.shape):
        attention[b, t, positions[b, t]] = 1.0
    return attention


def test_perfect_anti_diagonal_scores_one():
    # lengths 3 and 2, out_len 4 (max_len + 1 for EOS), src_len 4.
    # Row 0: t=0,1,2 -> 2,1,0; step 3 (EOS) may look anywhere.  Row 1: t=0,1 -> 1,0; the rest anywhere.
    attention = _one_hot_attention([[2, 1, 0, 3], [1, 0, 3, 3]], src_len=4)
    assert metrics.alignment_accuracy(attention, [3, 2]) == 1.0
    assert metrics.alignment_hits(attention, [3, 2]).tolist() == [[True, True, True, False],
                                                                  [True, True, False, False]]


def test_diagonal_scores_its_hand_computed_share():
    # Diagonal: step t looks at position t.  Expected position is length-1-t.
    # Row 0 (length 3): t=0 -> 0 (want 2) miss, t=1 -> 1 (want 1) hit, t=2 -> 2 (want 0) miss.
    # Row 1 (length 2): t=0 -> 0 (want 1) miss, t=1 -> 1 (want 0) miss.   1 hit of 5 steps.
    attention = _one_hot_attention([[0, 1, 2, 3], [0, 1, 2, 3]], src_len=4)
    assert metrics.alignment_accuracy(attention, [3, 2]) == pytest.approx(1 / 5)
    # Length 5, a diagonal hits only the middle step: 1 of 5; length 4 has no middle: 0 of 4.
    assert metrics.alignment_accuracy(_one_hot_attention([[0, 1, 2, 3, 4, 5]], 6), [5]) == pytest.approx(1 / 5)
    assert metrics.alignment_accuracy(_one_hot_attention([[0, 1, 2, 3, 4]], 5), [4]) == 0.0


def test_alignment_uses_the_largest_weight_of_soft_attention():
    # length 3, soft rows: t=0 peaks at 2 (hit), t=1 peaks at 0 (want 1: miss), t=2 peaks at 0 (hit).
    attention = np.array([[[0.2, 0.3, 0.5],
                           [0.5, 0.3, 0.2],
                           [0.6, 0.3, 0.1],
                           [1 / 3, 1 / 3, 1 / 3]]])
    assert metrics.alignment_accuracy(attention, [3]) == pytest.approx(2 / 3)


def test_alignment_ignores_padding_positions_of_shorter_rows():
    # length 1 in a batch padded to src_len 3: only step 0 counts, and it must look at position 0.
    attention = _one_hot_attention([[0, 2, 2]], src_len=3)
    assert metrics.alignment_accuracy(attention, [1]) == 1.0
    assert metrics.alignment_accuracy(_one_hot_attention([[1, 0, 0]], 3), [1]) == 0.0


# --------------------------------------------------------------------------- MaskedAccuracy
def test_masked_accuracy_counts_tokens_over_all_batches_hand_computed():
    metric = metrics.MaskedAccuracy()
    vocab = 6
    # batch A: target 5 EOS, both right (2 of 2); batch B: 5 4 3 EOS, only EOS right (1 of 4).
    metric.update_state(np.array([[5, 2, 0, 0]]), np.eye(vocab)[np.array([[5, 2, 4, 4]])])
    metric.update_state(np.array([[5, 4, 3, 2]]), np.eye(vocab)[np.array([[0, 0, 0, 2]])])
    # 3 of 6 tokens; a mean of the batch ratios would say (1 + 1/4) / 2 = 0.625
    assert float(metric.result()) == pytest.approx(0.5)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_masked_accuracy_equals_token_accuracy_of_the_argmax():
    rng = np.random.default_rng(0)
    n, width, vocab = 23, 7, 9
    lengths = rng.integers(0, width, size=n)  # rows with very different numbers of scored tokens
    target = rng.integers(3, vocab, size=(n, width))
    target[np.arange(n), lengths] = 2
    target[np.arange(width)[None, :] > lengths[:, None]] = 0
    logits = rng.normal(size=(n, width, vocab)).astype(np.float32)
    logits[..., :] += 2.5 * np.eye(vocab)[target] * (rng.random((n, width, 1)) < 0.6)  # ~60% right
    predicted = logits.argmax(axis=-1)

    metric = metrics.MaskedAccuracy()
    batch_ratios = []
    for start in range(0, n, 5):  # batches of 5, the last of 3
        metric.update_state(target[start:start + 5], logits[start:start + 5])
        batch_ratios.append(metrics.token_accuracy(target[start:start + 5], predicted[start:start + 5]))
    expected = metrics.token_accuracy(target, predicted)
    assert float(metric.result()) == pytest.approx(expected, abs=1e-6)
    assert abs(np.mean(batch_ratios) - expected) > 1e-3  # the test tells the two apart


def test_masked_accuracy_in_model_compile():
    rng = np.random.default_rng(1)
    n, width, vocab = 10, 5, 8
    target = rng.integers(3, vocab, size=(n, width))
    target[:, 3:] = 0
    target[:, 2] = 2
    target[:4, 1:] = [2, 0, 0, 0]  # shorter rows: unequal scored tokens per batch
    inputs = keras.Input((width,), dtype="int32")
    outputs = keras.layers.Dense(vocab)(keras.layers.Embedding(vocab, 4)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[metrics.MaskedAccuracy()])
    logs = model.evaluate(target, target, batch_size=3, verbose=0, return_dict=True)
    predicted = model.predict(target, batch_size=3, verbose=0).argmax(axis=-1)
    assert logs["masked_accuracy"] == pytest.approx(metrics.token_accuracy(target, predicted), abs=1e-6)


def test_alignment_offsets_hand_case():
    # Length 3: the anti-diagonal expects positions 2, 1, 0 at steps 0, 1, 2.
    # Peaks at 2 (on it), 2 (one right) and 1 (one right); step 3 is past the length.
    from utils.metrics import alignment_offsets

    attention = np.zeros((1, 4, 3))
    for step, peak in enumerate([2, 2, 1, 0]):
        attention[0, step, peak] = 1.0
    offsets = alignment_offsets(attention, np.array([3]))
    assert offsets.compressed().tolist() == [0, 1, 1]
    assert offsets.mask.tolist() == [[False, False, False, True]]


# --------------------------------------------------------------------------- edit distance
@pytest.mark.parametrize("a, b, distance", [
    ([], [], 0),                                    # both empty
    ([], [5, 6], 2),                                # from empty: insert both
    ([5, 6, 7], [5, 6, 7], 0),                      # identical
    ([5, 6, 7], [5, 9, 6, 7], 1),                   # one insertion
    ([5, 6, 7], [5, 7], 1),                         # one deletion
    ([5, 6, 7], [5, 8, 7], 1),                      # one substitution
    # one skipped token shifts the rest: 4 wrong position by position, 2 edits (delete 6, append 9)
    ([5, 6, 7, 8, 2], [5, 7, 8, 2, 9], 2),
])
def test_edit_distance_hand_cases(a, b, distance):
    assert metrics.edit_distance(a, b) == distance
    assert metrics.edit_distance(np.array(a, dtype=np.int32), np.array(b, dtype=np.int64)) == distance
    assert metrics.edit_distance(b, a) == distance  # symmetric


def test_edit_distance_is_at_most_the_position_wise_count():
    a, b = np.array([5, 6, 7, 8, 2]), np.array([5, 7, 8, 2, 9])
    assert (a != b).sum() == 4
    assert metrics.edit_distance(a, b) == 2


@pytest.mark.parametrize("a, b, error, argument", [
    ([1.5, 2.0], [1, 2], TypeError, "a must hold integer token ids"),
    ([1, 2], ["x", "y"], TypeError, "b must hold integer token ids"),
    ([[1, 2]], [1, 2], ValueError, "a must have rank 1"),
    ([1, 2], 3, ValueError, "b must have rank 1"),
])
def test_edit_distance_rejects_bad_arguments(a, b, error, argument):
    with pytest.raises(error, match=argument):
        metrics.edit_distance(a, b)


IDS = st.lists(st.integers(0, 6), max_size=12)


@settings(max_examples=200, deadline=None)
@given(IDS, IDS, IDS)
def test_edit_distance_is_a_metric_bounded_by_lengths(a, b, c):
    distance = metrics.edit_distance(a, b)
    assert distance == metrics.edit_distance(b, a)
    assert (distance == 0) == (a == b)
    assert abs(len(a) - len(b)) <= distance <= max(len(a), len(b))
    if len(a) == len(b):  # substitutions alone turn a into b
        assert distance <= sum(x != y for x, y in zip(a, b))
    assert metrics.edit_distance(a, c) <= distance + metrics.edit_distance(b, c)
