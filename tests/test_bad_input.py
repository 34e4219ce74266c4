"""Every public function rejects bad input with a ValueError/TypeError that names the argument.

BAD_INPUTS is the list of every bad input tried: (label, call, exception, text the message must contain).
Malformed .npz files for ``data.load_npz`` are in tests/test_data.py (MALFORMED_NPZ).
"""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from utils import data, metrics, plotting  # noqa: E402

GOOD = dict(min_len=1, max_len=5, n_symbols=4, seed=0)
RECORD = data.make_reversal_data(6, **GOOD)
ENC, DEC_IN, DEC_OUT = RECORD.encoder_input, RECORD.decoder_input, RECORD.decoder_target
LEN, TLEN = RECORD.lengths, RECORD.target_lengths
TARGET = np.array([[5, 4, 2, 0], [6, 2, 0, 0]])
ATTENTION = np.full((2, 4, 3), 1 / 3)


def reversal(n_samples=10, **changes):
    return data.make_reversal_data(n_samples, **{**GOOD, **changes})


def record(**changes):
    arrays = dict(encoder_input=ENC, decoder_input=DEC_IN, decoder_target=DEC_OUT, lengths=LEN,
                  target_lengths=TLEN, n_symbols=4)
    return data.Seq2SeqData(**{**arrays, **changes})


def pack(sources=([0, 1], [2]), targets=([1, 0], [2]), **kwargs):
    return data.pack_examples(list(sources), list(targets), **{"n_symbols": 3, **kwargs})


def attention_plot(weights=None, source=None, output=None, **kwargs):
    """plot_attention on a valid 3x3 example, with the given arguments replaced."""
    weights = np.full((3, 3), 1 / 3) if weights is None else weights
    return plotting.plot_attention(weights, source or list("abc"), output or list("cba"), **kwargs)


def grid_plot(k=3, n_source=3, n_output=3, **kwargs):
    return plotting.plot_attention(np.full((3, 4, 4), 0.25), [list("abcd")] * n_source,
                                   [list("dcba")] * n_output, **kwargs)


BAD_INPUTS = [
    # --- data.vocab_size
    ("vocab_size n_symbols=0", lambda: data.vocab_size(0), ValueError, "n_symbols"),
    ("vocab_size n_symbols=2.0", lambda: data.vocab_size(2.0), TypeError, "n_symbols"),
    ("vocab_size n_symbols=True", lambda: data.vocab_size(True), TypeError, "n_symbols"),
    # --- data.make_reversal_data
    ("min_len > max_len", lambda: reversal(min_len=6, max_len=5), ValueError, "min_len"),
    ("min_len=0", lambda: reversal(min_len=0), ValueError, "min_len"),
    ("min_len=-3", lambda: reversal(min_len=-3), ValueError, "min_len"),
    ("max_len=0", lambda: reversal(max_len=0), ValueError, "max_len"),
    ("n_symbols=0", lambda: reversal(n_symbols=0), ValueError, "n_symbols"),
    ("n_symbols=-1", lambda: reversal(n_symbols=-1), ValueError, "n_symbols"),
    ("n_samples=0", lambda: reversal(0), ValueError, "n_samples"),
    ("n_samples=-5", lambda: reversal(-5), ValueError, "n_samples"),
    ("n_samples=2.5", lambda: reversal(2.5), TypeError, "n_samples"),
    ("n_samples=10.0", lambda: reversal(10.0), TypeError, "n_samples"),
    ("n_samples=True", lambda: reversal(True), TypeError, "n_samples"),
    ("n_samples='10'", lambda: reversal("10"), TypeError, "n_samples"),
    ("min_len=1.0", lambda: reversal(min_len=1.0), TypeError, "min_len"),
    ("max_len=np.float64(5)", lambda: reversal(max_len=np.float64(5)), TypeError, "max_len"),
    ("max_len=None", lambda: reversal(max_len=None), TypeError, "max_len"),
    ("n_symbols='4'", lambda: reversal(n_symbols="4"), TypeError, "n_symbols"),
    ("n_symbols=False", lambda: reversal(n_symbols=False), TypeError, "n_symbols"),
    ("seed=None", lambda: reversal(seed=None), TypeError, "seed"),
    ("seed=-1", lambda: reversal(seed=-1), ValueError, "seed"),
    ("seed=1.5", lambda: reversal(seed=1.5), TypeError, "seed"),
    ("seed=True", lambda: reversal(seed=True), TypeError, "seed"),
    ("balanced='yes'", lambda: reversal(balanced="yes"), TypeError, "balanced"),
    ("balanced=1", lambda: reversal(balanced=1), TypeError, "balanced"),
    # --- data.make_task_data
    ("unknown task 'rotate'", lambda: data.make_task_data("rotate", 3, **GOOD), ValueError, "task"),
    ("task=3", lambda: data.make_task_data(3, 3, **GOOD), TypeError, "task"),
    ("task=None", lambda: data.make_task_data(None, 3, **GOOD), TypeError, "task"),
    ("Task longer than its max_target_len",
     lambda: data.make_task_data(data.Task("double", lambda s: np.repeat(s, 2)), 3, **GOOD),
     ValueError, "max_target_len"),
    ("Task output outside the alphabet",
     lambda: data.make_task_data(data.Task("shift", lambda s: s + 10), 3, **GOOD), ValueError, "targets"),
    # --- data.pack_examples
    ("pack: symbol >= n_symbols", lambda: pack(sources=([0, 3], [2])), ValueError, "sources"),
    ("pack: negative target symbol", lambda: pack(targets=([1, -1], [2])), ValueError, "targets"),
    ("pack: float symbols", lambda: pack(sources=([0.5, 1.0], [2.0])), ValueError, "sources"),
    ("pack: rows mismatch", lambda: pack(targets=([1, 0],)), ValueError, "sources"),
    ("pack: max_len too small", lambda: pack(max_len=1), ValueError, "max_len"),
    ("pack: max_len=0", lambda: pack(max_len=0), ValueError, "max_len"),
    ("pack: max_target_len too small", lambda: pack(max_target_len=1), ValueError, "max_target_len"),
    ("pack: max_target_len=-1", lambda: pack(max_target_len=-1), ValueError, "max_target_len"),
    ("pack: n_symbols=0", lambda: pack(n_symbols=0), ValueError, "n_symbols"),
    # --- data.Seq2SeqData
    ("record: float encoder_input", lambda: record(encoder_input=ENC + 0.5), TypeError, "encoder_input"),
    ("record: encoder_input rank 1", lambda: record(encoder_input=ENC[:, 0]), ValueError, "encoder_input"),
    ("record: encoder_input rank 3", lambda: record(encoder_input=ENC[:, :, None]), ValueError, "encoder_input"),
    ("record: rows mismatch", lambda: record(decoder_target=DEC_OUT[:-1]), ValueError, "decoder_target"),
    ("record: lengths rows mismatch", lambda: record(lengths=LEN[:-1]), ValueError, "lengths"),
    ("record: decoder widths differ", lambda: record(decoder_target=DEC_OUT[:, :-1]), ValueError, "decoder_input"),
    ("record: id above the vocabulary", lambda: record(encoder_input=ENC + 7), ValueError, "encoder_input"),
    ("record: negative id", lambda: record(decoder_input=DEC_IN - 1), ValueError, "decoder_input"),
    ("record: id overflowing int32", lambda: record(encoder_input=ENC.astype(np.int64) + 2**32),
     ValueError, "encoder_input"),
    ("record: lengths beyond max_len", lambda: record(lengths=LEN + 5), ValueError, "lengths"),
    ("record: negative target_lengths", lambda: record(target_lengths=TLEN - 10), ValueError, "target_lengths"),
    ("record: n_symbols=0", lambda: record(n_symbols=0), ValueError, "n_symbols"),
    ("record: n_symbols=4.0", lambda: record(n_symbols=4.0), TypeError, "n_symbols"),
    # --- data.ids_to_symbols / symbols_to_ids / token_names
    ("ids_to_symbols rank 2", lambda: data.ids_to_symbols([[3, 4]]), ValueError, "ids"),
    ("ids_to_symbols rank 0", lambda: data.ids_to_symbols(3), ValueError, "ids"),
    ("ids_to_symbols float ids", lambda: data.ids_to_symbols([3.0, 2.0]), TypeError, "ids"),
    ("ids_to_symbols negative id", lambda: data.ids_to_symbols([3, -1]), ValueError, "ids"),
    ("ids_to_symbols id outside vocabulary", lambda: data.ids_to_symbols([3, 7], n_symbols=4), ValueError, "ids"),
    ("ids_to_symbols n_symbols=0", lambda: data.ids_to_symbols([3], n_symbols=0), ValueError, "n_symbols"),
    ("symbols_to_ids negative", lambda: data.symbols_to_ids([0, -1]), ValueError, "symbols"),
    ("symbols_to_ids float", lambda: data.symbols_to_ids([0.0]), TypeError, "symbols"),
    ("symbols_to_ids rank 2", lambda: data.symbols_to_ids([[0]]), ValueError, "symbols"),
    ("token_names rank 2", lambda: data.token_names([[3]]), ValueError, "ids"),
    ("token_names negative", lambda: data.token_names([-1]), ValueError, "ids"),
    ("token_names float", lambda: data.token_names([3.0]), TypeError, "ids"),
    # --- data.to_tf_dataset / save_npz / load_heldout
    ("to_tf_dataset record=tuple", lambda: data.to_tf_dataset((ENC, DEC_IN, DEC_OUT), 2, shuffle=False),
     TypeError, "record"),
    ("to_tf_dataset batch_size=0", lambda: data.to_tf_dataset(RECORD, 0, shuffle=False), ValueError, "batch_size"),
    ("to_tf_dataset batch_size=-2", lambda: data.to_tf_dataset(RECORD, -2, shuffle=False), ValueError, "batch_size"),
    ("to_tf_dataset batch_size=2.0", lambda: data.to_tf_dataset(RECORD, 2.0, shuffle=False), TypeError, "batch_size"),
    ("to_tf_dataset batch_size=True", lambda: data.to_tf_dataset(RECORD, True, shuffle=False),
     TypeError, "batch_size"),
    ("to_tf_dataset shuffle='yes'", lambda: data.to_tf_dataset(RECORD, 2, shuffle="yes", seed=0),
     TypeError, "shuffle"),
    ("to_tf_dataset shuffle=1", lambda: data.to_tf_dataset(RECORD, 2, shuffle=1, seed=0), TypeError, "shuffle"),
    ("to_tf_dataset shuffle without seed", lambda: data.to_tf_dataset(RECORD, 2, shuffle=True), TypeError, "seed"),
    ("to_tf_dataset seed=-1", lambda: data.to_tf_dataset(RECORD, 2, shuffle=True, seed=-1), ValueError, "seed"),
    ("to_tf_dataset bucket_by_length='yes'",
     lambda: data.to_tf_dataset(RECORD, 2, shuffle=False, seed=0, bucket_by_length="yes"),
     TypeError, "bucket_by_length"),
    ("to_tf_dataset bucket_by_length without seed",
     lambda: data.to_tf_dataset(RECORD, 2, shuffle=False, bucket_by_length=True), TypeError, "seed"),
    ("save_npz record=dict", lambda: data.save_npz("unused.npz", {"encoder_input": ENC}), TypeError, "record"),
    ("load_heldout unknown name", lambda: data.load_heldout("reverse_len99"), ValueError, "name"),
    # --- metrics.token_accuracy / sequence_accuracy / sequence_correct
    ("token_accuracy target rank 1", lambda: metrics.token_accuracy(TARGET[0], TARGET), ValueError, "target"),
    ("token_accuracy predicted rank 3", lambda: metrics.token_accuracy(TARGET, TARGET[..., None]),
     ValueError, "predicted"),
    ("token_accuracy float target", lambda: metrics.token_accuracy(TARGET * 1.0, TARGET), TypeError, "target"),
    ("token_accuracy float predicted (probabilities)",
     lambda: metrics.token_accuracy(TARGET, np.full((2, 4, 7), 1 / 7)), TypeError, "predicted"),
    ("token_accuracy rows mismatch", lambda: metrics.token_accuracy(TARGET, TARGET[:1]), ValueError, "predicted"),
    ("token_accuracy all-PAD target", lambda: metrics.token_accuracy(np.zeros((2, 3), int), TARGET),
     ValueError, "target"),
    ("sequence_accuracy rows mismatch", lambda: metrics.sequence_accuracy(TARGET, TARGET[:1]),
     ValueError, "predicted"),
    ("sequence_accuracy no rows", lambda: metrics.sequence_accuracy(TARGET[:0], TARGET[:0]), ValueError, "target"),
    ("sequence_correct float predicted", lambda: metrics.sequence_correct(TARGET, TARGET + 0.0),
     TypeError, "predicted"),
    # --- metrics.accuracy_by_length
    ("accuracy_by_length lengths count", lambda: metrics.accuracy_by_length(TARGET, TARGET, [2]),
     ValueError, "lengths"),
    ("accuracy_by_length lengths rank 2", lambda: metrics.accuracy_by_length(TARGET, TARGET, [[2, 1]]),
     ValueError, "lengths"),
    ("accuracy_by_length float lengths", lambda: metrics.accuracy_by_length(TARGET, TARGET, [2.0, 1.0]),
     TypeError, "lengths"),
    ("accuracy_by_length rows mismatch", lambda: metrics.accuracy_by_length(TARGET, TARGET[:1], [2, 1]),
     ValueError, "predicted"),
    # --- metrics.alignment_accuracy / alignment_hits
    ("alignment int attention", lambda: metrics.alignment_accuracy(np.ones((2, 4, 3), int), [2, 1]),
     TypeError, "attention"),
    ("alignment attention rank 2", lambda: metrics.alignment_accuracy(ATTENTION[0], [2]), ValueError, "attention"),
    ("alignment attention rank 4", lambda: metrics.alignment_accuracy(ATTENTION[None], [2, 1]),
     ValueError, "attention"),
    ("alignment lengths=0", lambda: metrics.alignment_accuracy(ATTENTION, [2, 0]), ValueError, "lengths"),
    ("alignment lengths > src_len", lambda: metrics.alignment_accuracy(ATTENTION, [2, 4]), ValueError, "lengths"),
    ("alignment negative lengths", lambda: metrics.alignment_accuracy(ATTENTION, [-1, 2]), ValueError, "lengths"),
    ("alignment lengths count", lambda: metrics.alignment_accuracy(ATTENTION, [2]), ValueError, "lengths"),
    ("alignment float lengths", lambda: metrics.alignment_accuracy(ATTENTION, [2.0, 1.0]), TypeError, "lengths"),
    ("alignment fewer output steps than length",
     lambda: metrics.alignment_accuracy(np.full((1, 2, 3), 1 / 3), [3]), ValueError, "attention"),
    ("alignment empty batch", lambda: metrics.alignment_accuracy(np.zeros((0, 2, 3)), np.zeros(0, int)),
     ValueError, "attention"),
    ("alignment_hits rank 2", lambda: metrics.alignment_hits(ATTENTION[0], [2]), ValueError, "attention"),
    # --- plotting.plot_history
    ("plot_history list", lambda: plotting.plot_history([1.0, 0.5]), TypeError, "history"),
    ("plot_history None", lambda: plotting.plot_history(None), TypeError, "history"),
    ("plot_history dict without loss", lambda: plotting.plot_history({"accuracy": [0.5]}), TypeError, "history"),
    # --- plotting.plot_attention
    ("plot_attention int weights", lambda: attention_plot(np.ones((3, 3), int)), TypeError, "weights"),
    ("plot_attention weights rank 1", lambda: attention_plot(np.full(3, 1 / 3)), ValueError, "weights"),
    ("plot_attention weights rank 4", lambda: attention_plot(np.full((1, 1, 3, 3), 1 / 3)), ValueError, "weights"),
    ("plot_attention too many source labels", lambda: attention_plot(source=list("abcd")),
     ValueError, "source_tokens"),
    ("plot_attention too many output labels", lambda: attention_plot(output=list("dcba")),
     ValueError, "output_tokens"),
    ("plot_attention grid: 2 source label lists for 3 maps", lambda: grid_plot(n_source=2),
     ValueError, "source_tokens"),
    ("plot_attention grid: 4 output label lists for 3 maps", lambda: grid_plot(n_output=4),
     ValueError, "output_tokens"),
    ("plot_attention grid: 2 titles for 3 maps", lambda: grid_plot(titles=["a", "b"]), ValueError, "titles"),
    ("plot_attention ncols=0", lambda: grid_plot(ncols=0), ValueError, "ncols"),
    ("plot_attention ncols=1.5", lambda: grid_plot(ncols=1.5), ValueError, "ncols"),
    ("plot_attention ncols=True", lambda: grid_plot(ncols=True), ValueError, "ncols"),
    # --- plotting.save_figure
    ("save_figure name=''", lambda: plotting.save_figure(plt.figure(), ""), ValueError, "name"),
    ("save_figure name with a folder", lambda: plotting.save_figure(plt.figure(), "docs/x"), ValueError, "name"),
    ("save_figure name ending .png", lambda: plotting.save_figure(plt.figure(), "x.png"), ValueError, "name"),
    ("save_figure name=3", lambda: plotting.save_figure(plt.figure(), 3), ValueError, "name"),
    # --- plotting.plot_length_curve
    ("plot_length_curve list", lambda: plotting.plot_length_curve([0.5, 0.4]), TypeError, "results"),
    ("plot_length_curve empty dict", lambda: plotting.plot_length_curve({}), TypeError, "results"),
    ("plot_length_curve curve not a dict", lambda: plotting.plot_length_curve({"gru": [1.0]}), TypeError, "results"),
    ("plot_length_curve empty curve", lambda: plotting.plot_length_curve({"gru": {}}), TypeError, "results"),
    ("plot_length_curve unknown metric",
     lambda: plotting.plot_length_curve({"gru": {1: {"token": 0.5}}}, metric="sequence"), ValueError, "metric"),
]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_labels_are_unique():
    labels = [label for label, *_ in BAD_INPUTS]
    assert len(labels) == len(set(labels))


@pytest.mark.parametrize("label, call, error, argument", BAD_INPUTS, ids=[entry[0] for entry in BAD_INPUTS])
def test_bad_input_is_rejected_naming_the_argument(label, call, error, argument):
    with pytest.raises(error, match=argument):
        call()
