"""Tests of utils.data: token ids, the seeded tasks, the record, tf.data, .npz files, held-out sets."""
import dataclasses
import json
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from utils import data
from utils.data import EOS, PAD, SOS

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)


def _shifted(decoder_target_row):
    """decoder_input expected from decoder_target (teacher forcing): SOS, then the target without its EOS."""
    return np.concatenate([[SOS], np.where(decoder_target_row == EOS, PAD, decoder_target_row)[:-1]])


# --------------------------------------------------------------------------- token ids
def test_token_ids():
    assert (PAD, SOS, EOS) == (0, 1, 2)
    assert data.N_SPECIAL == 3
    assert data.vocab_size(47) == 50
    assert data.symbols_to_ids([0, 1, 46]).tolist() == [3, 4, 49]
    assert data.symbols_to_ids([0]).dtype == np.int32
    assert data.token_names([1, 3, 12, 2, 0]) == ["<sos>", "0", "9", "<eos>", "<pad>"]


def test_pack_examples_hand_computed():
    # Symbols 0,1,2 -> ids 3,4,5; reversed targets; widths fixed at 4 (source) and 4 (target).
    record = data.pack_examples([[0, 1, 2], [3]], [[2, 1, 0], [3]], n_symbols=4, max_len=4, max_target_len=4)
    assert record.encoder_input.tolist() == [[3, 4, 5, 0], [6, 0, 0, 0]]
    assert record.decoder_input.tolist() == [[1, 5, 4, 3, 0], [1, 6, 0, 0, 0]]
    assert record.decoder_target.tolist() == [[5, 4, 3, 2, 0], [6, 2, 0, 0, 0]]
    assert record.lengths.tolist() == [3, 1]
    assert record.target_lengths.tolist() == [3, 1]
    assert record.vocab_size == 7 and record.max_len == 4 and len(record) == 2


# --------------------------------------------------------------------------- make_reversal_data
def test_reversal_shapes_dtypes_and_padding():
    record = data.make_reversal_data(40, min_len=2, max_len=6, n_symbols=5, seed=3)
    assert record.encoder_input.shape == (40, 6)
    assert record.decoder_input.shape == (40, 7)
    assert record.decoder_target.shape == (40, 7)
    assert record.lengths.shape == (40,) and record.target_lengths.shape == (40,)
    for name in data.Seq2SeqData.ARRAYS:
        assert getattr(record, name).dtype == np.int32, name
    assert record.lengths.min() >= 2 and record.lengths.max() <= 6
    assert np.array_equal(record.lengths, record.target_lengths)
    for i, length in enumerate(record.lengths):
        encoder, dec_in, dec_out = record.encoder_input[i], record.decoder_input[i], record.decoder_target[i]
        # symbols only inside the sequence, PAD after it
        assert np.all((encoder[:length] >= 3) & (encoder[:length] < 8))
        assert np.all(encoder[length:] == PAD)
        assert dec_in[0] == SOS and np.all(dec_in[length + 1:] == PAD)
        assert dec_out[length] == EOS and np.all(dec_out[length + 1:] == PAD)
        # decoder_input = SOS + reversed, decoder_target = reversed + EOS
        reversed_ids = encoder[:length][::-1]
        assert np.array_equal(dec_in[1:length + 1], reversed_ids)
        assert np.array_equal(dec_out[:length], reversed_ids)


def test_decoder_width_is_max_len_plus_one_even_if_no_row_reaches_max_len():
    record = data.make_reversal_data(5, min_len=1, max_len=30, n_symbols=3, seed=0)
    assert record.lengths.max() < 30  # 5 draws from 1..30: none is 30 with this seed
    assert record.encoder_input.shape == (5, 30) and record.decoder_target.shape == (5, 31)


def test_fixed_length_rows_have_no_padding():
    record = data.make_reversal_data(20, min_len=12, max_len=12, n_symbols=47, seed=1)
    assert np.all(record.lengths == 12)
    assert np.all(record.encoder_input >= 3)
    assert np.all(record.decoder_target[:, 12] == EOS)


def test_balanced_lengths_are_equally_frequent():
    record = data.make_reversal_data(60, min_len=3, max_len=8, n_symbols=4, seed=5, balanced=True)
    assert np.bincount(record.lengths, minlength=9)[3:].tolist() == [10] * 6


def test_numpy_integers_are_accepted():
    record = data.make_reversal_data(np.int64(4), min_len=np.int32(1), max_len=np.int64(3),
                                     n_symbols=np.uint8(2), seed=np.int64(9))
    assert record.encoder_input.shape == (4, 3)


@PROPERTY_SETTINGS
@given(n_samples=st.integers(1, 25), min_len=st.integers(1, 15), extra=st.integers(0, 15),
       n_symbols=st.integers(1, 80), seed=st.integers(0, 2**32 - 1), balanced=st.booleans())
def test_target_is_the_reverse_of_the_input(n_samples, min_len, extra, n_symbols, seed, balanced):
    max_len = min_len + extra
    record = data.make_reversal_data(n_samples, min_len=min_len, max_len=max_len, n_symbols=n_symbols,
                                     seed=seed, balanced=balanced)
    assert record.encoder_input.shape == (n_samples, max_len)
    assert record.decoder_target.shape == (n_samples, max_len + 1)
    for i in range(n_samples):
        source = data.ids_to_symbols(record.encoder_input[i], n_symbols)
        assert len(source) == record.lengths[i] and min_len <= len(source) <= max_len
        assert all(0 <= s < n_symbols for s in source)
        assert data.ids_to_symbols(record.decoder_target[i], n_symbols) == source[::-1]
        assert data.ids_to_symbols(record.decoder_input[i], n_symbols) == source[::-1]
        # teacher forcing: decoder_input is decoder_target shifted right by one, SOS first, no EOS
        assert np.array_equal(record.decoder_input[i], _shifted(record.decoder_target[i]))


# --------------------------------------------------------------------------- other tasks
EXPECTED_TARGET = {
    "reverse": lambda s: s[::-1],
    "copy": lambda s: list(s),
    "sort": lambda s: sorted(s),
    "repeat_twice": lambda s: [x for x in s for _ in range(2)],
}


@PROPERTY_SETTINGS
@given(task=st.sampled_from(sorted(EXPECTED_TARGET)), min_len=st.integers(1, 8), extra=st.integers(0, 8),
       n_symbols=st.integers(1, 30), seed=st.integers(0, 10**6))
def test_every_task_goes_through_the_same_record(task, min_len, extra, n_symbols, seed):
    max_len = min_len + extra
    record = data.make_task_data(task, 8, min_len=min_len, max_len=max_len, n_symbols=n_symbols, seed=seed)
    max_target = 2 * max_len if task == "repeat_twice" else max_len
    assert record.encoder_input.shape == (8, max_len)
    assert record.decoder_input.shape == record.decoder_target.shape == (8, max_target + 1)
    for i in range(8):
        source = data.ids_to_symbols(record.encoder_input[i])
        target = EXPECTED_TARGET[task](source)
        assert data.ids_to_symbols(record.decoder_target[i]) == target
        assert record.target_lengths[i] == len(target)
        assert record.decoder_target[i, len(target)] == EOS
        assert np.all(record.decoder_target[i, len(target) + 1:] == PAD)
        assert np.array_equal(record.decoder_input[i], _shifted(record.decoder_target[i]))


def test_tasks_share_the_sources_for_the_same_seed():
    arguments = dict(min_len=2, max_len=7, n_symbols=9, seed=11)
    reverse = data.make_task_data("reverse", 30, **arguments)
    for task in ("copy", "sort", "repeat_twice"):
        other = data.make_task_data(task, 30, **arguments)
        assert np.array_equal(other.encoder_input, reverse.encoder_input), task


def test_a_custom_task_object():
    rotate = data.Task("rotate", lambda source: np.roll(source, 1))
    record = data.make_task_data(rotate, 5, min_len=3, max_len=3, n_symbols=4, seed=2)
    for i in range(5):
        source = data.ids_to_symbols(record.encoder_input[i])
        assert data.ids_to_symbols(record.decoder_target[i]) == [source[-1], *source[:-1]]


# --------------------------------------------------------------------------- determinism
def test_same_arguments_give_byte_identical_arrays():
    arguments = dict(min_len=1, max_len=20, n_symbols=10, seed=123)
    first = data.make_reversal_data(200, **arguments)
    second = data.make_reversal_data(200, **arguments)
    for name in data.Seq2SeqData.ARRAYS:
        assert getattr(first, name).tobytes() == getattr(second, name).tobytes(), name
    other = data.make_reversal_data(200, **{**arguments, "seed": 124})
    assert other.encoder_input.tobytes() != first.encoder_input.tobytes()


def test_global_random_state_is_neither_read_nor_changed():
    arguments = dict(min_len=1, max_len=10, n_symbols=6, seed=7)
    np.random.seed(0)
    state = np.random.get_state()
    first = data.make_reversal_data(50, **arguments)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]
    np.random.seed(99)  # a different global state must not change the data
    second = data.make_reversal_data(50, **arguments)
    assert first.encoder_input.tobytes() == second.encoder_input.tobytes()


# --------------------------------------------------------------------------- immutability
def test_record_is_immutable():
    record = data.make_reversal_data(4, min_len=1, max_len=3, n_symbols=3, seed=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.encoder_input = np.zeros((4, 3), dtype=np.int32)
    for name in data.Seq2SeqData.ARRAYS:
        array = getattr(record, name)
        assert not array.flags.writeable, name
        with pytest.raises(ValueError):
            array[0] = 0
        with pytest.raises(ValueError):
            array.setflags(write=True)  # cannot be made writeable again either


def test_record_copies_its_inputs():
    encoder_input = np.array([[3, 4]], dtype=np.int32)
    record = data.Seq2SeqData(encoder_input, [[1, 4, 3]], [[4, 3, 2]], [2], [2], n_symbols=2)
    encoder_input[0, 0] = 4
    assert record.encoder_input.tolist() == [[3, 4]]


def test_indexing_gives_records():
    record = data.make_reversal_data(10, min_len=1, max_len=4, n_symbols=3, seed=0)
    assert len(record[2:5]) == 3
    assert np.array_equal(record[3].encoder_input, record.encoder_input[3:4])
    assert np.array_equal(record[-1].encoder_input, record.encoder_input[-1:])
    mask = record.lengths > 2
    assert np.array_equal(record[mask].lengths, record.lengths[mask])
    assert record[np.array([0, 0])].encoder_input.shape == (2, 4)


# --------------------------------------------------------------------------- ids_to_symbols
@pytest.mark.parametrize("ids, symbols", [
    ([1, 5, 3, 0, 2, 7], [2, 0]),  # SOS and PAD dropped, stop at EOS
    ([4, 4, 2, 2, 9], [1, 1]),     # stop at the first EOS
    ([1, 2, 5], []),               # EOS right away
    ([3, 4, 5], [0, 1, 2]),        # no EOS: the whole row
    ([0, 0, 0], []),               # only padding
    ([], []),
    (np.array([6, 3, 2], dtype=np.uint8), [3, 0]),
])
def test_ids_to_symbols(ids, symbols):
    assert data.ids_to_symbols(ids) == symbols


def test_ids_to_symbols_out_of_vocabulary():
    assert data.ids_to_symbols([12, 2], n_symbols=10) == [9]  # id 12 is the last of 10 symbols
    with pytest.raises(ValueError, match="ids"):
        data.ids_to_symbols([13, 2], n_symbols=10)
    with pytest.raises(ValueError, match="ids"):
        data.ids_to_symbols([-1, 3])
    assert data.ids_to_symbols([103]) == [100]  # without n_symbols only negatives are rejected


# --------------------------------------------------------------------------- tf.data
def _epoch(dataset):
    return [((e.numpy(), d.numpy()), t.numpy()) for (e, d), t in dataset]


def _rows(batches):
    """The encoder rows of an epoch, in order, as tuples."""
    return [tuple(row) for (encoder, _), _ in batches for row in encoder.tolist()]


@pytest.fixture(scope="module")
def small_record():
    return data.make_reversal_data(21, min_len=4, max_len=9, n_symbols=40, seed=17)


def test_to_tf_dataset_structure_and_batch_shapes(small_record):
    batches = _epoch(data.to_tf_dataset(small_record, 8, shuffle=False))
    assert [len(t) for _, t in batches] == [8, 8, 5]
    for (encoder, decoder), target in batches:
        assert encoder.shape[1:] == (9,) and decoder.shape[1:] == (10,) and target.shape[1:] == (10,)
        assert encoder.dtype == decoder.dtype == target.dtype == np.int32
    (encoder, decoder), target = batches[0]
    assert np.array_equal(encoder, small_record.encoder_input[:8])
    assert np.array_equal(decoder, small_record.decoder_input[:8])
    assert np.array_equal(target, small_record.decoder_target[:8])
    # unshuffled: the record's order
    assert _rows(batches) == [tuple(r) for r in small_record.encoder_input.tolist()]


def test_to_tf_dataset_shuffles_every_row_once_per_epoch_deterministically(small_record):
    assert len(set(map(tuple, small_record.encoder_input.tolist()))) == len(small_record)  # rows tell apart
    everything = sorted(map(tuple, small_record.encoder_input.tolist()))
    dataset = data.to_tf_dataset(small_record, 4, shuffle=True, seed=5)
    epochs = [_rows(_epoch(dataset)) for _ in range(2)]
    for rows in epochs:
        assert sorted(rows) == everything  # every row exactly once
    assert epochs[0] != epochs[1]  # reshuffled each epoch
    assert epochs[0] != _rows(_epoch(data.to_tf_dataset(small_record, 4, shuffle=False)))
    again = data.to_tf_dataset(small_record, 4, shuffle=True, seed=5)
    assert [_rows(_epoch(again)) for _ in range(2)] == epochs  # same seed, same orders
    other = data.to_tf_dataset(small_record, 4, shuffle=True, seed=6)
    assert _rows(_epoch(other)) != epochs[0]
    # targets travel with their inputs
    for (encoder, decoder), target in _epoch(dataset):
        for e, d, t in zip(encoder, decoder, target):
            n = int((e != PAD).sum())
            assert np.array_equal(t[:n], e[:n][::-1]) and np.array_equal(d, _shifted(t))


# --------------------------------------------------------------------------- .npz files
def test_save_load_round_trip(tmp_path, small_record):
    path = tmp_path / "record.npz"
    data.save_npz(path, small_record)
    loaded = data.load_npz(path)
    assert loaded.n_symbols == small_record.n_symbols
    for name in data.Seq2SeqData.ARRAYS:
        assert np.array_equal(getattr(loaded, name), getattr(small_record, name)), name
        assert getattr(loaded, name).dtype == np.int32
        assert not getattr(loaded, name).flags.writeable
    with np.load(path, allow_pickle=False) as archive:  # a plain npz, no pickles
        assert sorted(archive.files) == sorted([*data.Seq2SeqData.ARRAYS, "n_symbols"])


def test_same_record_gives_byte_identical_files(tmp_path, small_record):
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    data.save_npz(first, small_record)
    data.save_npz(second, data.load_npz(first))
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:  # fixed timestamps: the bytes do not depend on the clock
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def _arrays(record):
    arrays = {name: getattr(record, name).copy() for name in data.Seq2SeqData.ARRAYS}
    arrays["n_symbols"] = np.int32(record.n_symbols)
    return arrays


def _without(arrays, name):
    return {k: v for k, v in arrays.items() if k != name}


#: Malformed files for load_npz: (label, arrays written with np.savez, text the error must contain).
MALFORMED_NPZ = [
    ("missing decoder_target", lambda a: _without(a, "decoder_target"), "decoder_target"),
    ("missing n_symbols", lambda a: _without(a, "n_symbols"), "n_symbols"),
    ("encoder_input rank 1", lambda a: {**a, "encoder_input": a["encoder_input"][:, 0]}, "encoder_input"),
    ("lengths rank 2", lambda a: {**a, "lengths": a["lengths"][:, None]}, "lengths"),
    ("float encoder_input", lambda a: {**a, "encoder_input": a["encoder_input"].astype(np.float32)},
     "encoder_input"),
    ("float decoder_input", lambda a: {**a, "decoder_input": a["decoder_input"] + 0.5}, "decoder_input"),
    ("id above the vocabulary", lambda a: {**a, "encoder_input": a["encoder_input"] + 100}, "encoder_input"),
    ("negative id", lambda a: {**a, "decoder_target": a["decoder_target"] - 5}, "decoder_target"),
    ("mismatched rows", lambda a: {**a, "decoder_input": a["decoder_input"][:-1]}, "decoder_input"),
    ("decoder widths differ", lambda a: {**a, "decoder_target": a["decoder_target"][:, :-1]}, "decoder_target"),
    ("n_symbols not a scalar", lambda a: {**a, "n_symbols": np.array([40, 40])}, "n_symbols"),
    ("n_symbols zero", lambda a: {**a, "n_symbols": np.int32(0)}, "n_symbols"),
    ("lengths beyond max_len", lambda a: {**a, "lengths": a["lengths"] + 50}, "lengths"),
    ("pickled object array", lambda a: {**a, "lengths": np.array([object()] * len(a["lengths"]))},
     "allow_pickle"),
]


@pytest.mark.parametrize("label, corrupt, message", MALFORMED_NPZ, ids=[m[0] for m in MALFORMED_NPZ])
def test_load_npz_rejects_malformed_arrays(tmp_path, small_record, label, corrupt, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **corrupt(_arrays(small_record)))
    with pytest.raises(ValueError, match=message):
        data.load_npz(path)


def test_load_npz_rejects_files_that_are_not_npz(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("not an archive")
    with pytest.raises(ValueError, match="not a readable .npz record"):
        data.load_npz(text)
    single = tmp_path / "single.npy"
    np.save(single, np.arange(3))
    with pytest.raises(ValueError, match="not a readable .npz record"):
        data.load_npz(single)
    with pytest.raises(ValueError, match="not a readable .npz record"):
        data.load_npz(tmp_path / "missing.npz")


def test_save_npz_needs_a_record(tmp_path):
    with pytest.raises(TypeError, match="record"):
        data.save_npz(tmp_path / "x.npz", {"encoder_input": np.zeros((1, 1), dtype=np.int32)})


# --------------------------------------------------------------------------- held-out sets
def _manifest():
    return json.loads(data.MANIFEST.read_text())


def test_manifest_lists_every_heldout_set_with_its_arguments():
    manifest = {name: entry for name, entry in _manifest().items() if "function" in entry["generated_by"]}
    assert sorted(manifest) == sorted([f"{name}.npz" for name in data.HELDOUT_SETS] + list(data.CMUDICT_SPLIT))
    for name, arguments in data.HELDOUT_SETS.items():
        entry = manifest[f"{name}.npz"]
        assert entry["generated_by"] == {"function": "utils.data.make_reversal_data", **arguments}
        assert entry["rows"] == arguments["n_samples"]


def test_data_files_match_the_manifest():
    for filename, entry in _manifest().items():
        assert data.sha256_of(data.DATA_DIR / filename) == entry["sha256"], filename


@pytest.mark.parametrize("name", sorted(data.HELDOUT_SETS))
def test_regenerating_a_heldout_set_gives_the_same_file(tmp_path, name):
    path = tmp_path / f"{name}.npz"
    data.save_npz(path, data.make_reversal_data(**data.HELDOUT_SETS[name]))
    assert data.sha256_of(path) == _manifest()[path.name]["sha256"]


def test_heldout_sets_content():
    fixed = data.load_heldout("reverse_len12_sym47")
    assert len(fixed) == 5000 and fixed.n_symbols == 47 and np.all(fixed.lengths == 12)
    assert fixed.encoder_input.shape == (5000, 12) and fixed.decoder_target.shape == (5000, 13)
    variable = data.load_heldout("reverse_len1to50_sym10")
    assert variable.n_symbols == 10 and variable.encoder_input.shape[1] == 50
    counts = np.bincount(variable.lengths, minlength=51)
    assert counts[0] == 0 and counts[1:].min() >= 100
    for record in (fixed, variable):
        for i in range(0, len(record), 97):
            source = data.ids_to_symbols(record.encoder_input[i], record.n_symbols)
            assert data.ids_to_symbols(record.decoder_target[i], record.n_symbols) == source[::-1]


def test_load_heldout_checks_the_manifest(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="name"):
        data.load_heldout("reverse_len99")
    name = "reverse_len12_sym47"
    (tmp_path / f"{name}.npz").write_bytes((data.DATA_DIR / f"{name}.npz").read_bytes())
    manifest = _manifest()
    manifest[f"{name}.npz"]["sha256"] = "0" * 64
    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    monkeypatch.setattr(data, "MANIFEST", tmp_path / "MANIFEST.json")
    with pytest.raises(ValueError, match="SHA-256"):
        data.load_heldout(name)


# --------------------------------------------------------------------------- length buckets
def _sources(batches):
    """Each row's symbols (PAD stripped), in epoch order."""
    return [tuple(row[row != PAD]) for (encoder, _), _ in batches for row in encoder]


@pytest.fixture(scope="module")
def varied_record():
    return data.make_reversal_data(37, min_len=1, max_len=12, n_symbols=40, seed=21)


def test_bucketed_batches_are_cropped_and_cover_every_row_once(varied_record):
    record = varied_record
    everything = sorted(tuple(row[row != PAD]) for row in record.encoder_input)
    assert len(set(everything)) == len(record)  # rows tell apart
    dataset = data.to_tf_dataset(record, 8, shuffle=True, seed=3, bucket_by_length=True)
    epochs = [_epoch(dataset) for _ in range(2)]
    for batches in epochs:
        assert sorted(_sources(batches)) == everything
        assert sorted(len(t) for _, t in batches) == [5, 8, 8, 8, 8]
        spans = []
        for (encoder, decoder), target in batches:
            lengths = (encoder != PAD).sum(axis=1)
            assert encoder.shape[1] == lengths.max()  # cropped to the batch's longest row
            assert decoder.shape == target.shape == (len(encoder), lengths.max() + 1)
            for e, d, t, n in zip(encoder, decoder, target, lengths):
                assert np.array_equal(t[:n], e[:n][::-1]) and t[n] == EOS and np.array_equal(d, _shifted(t))
            spans.append((lengths.min(), lengths.max()))
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # batches hold neighbouring lengths
    assert _sources(epochs[0]) != _sources(epochs[1])  # a new order each epoch
    again = data.to_tf_dataset(record, 8, shuffle=True, seed=3, bucket_by_length=True)
    assert [_sources(_epoch(again)) for _ in range(2)] == [_sources(b) for b in epochs]  # reproducible


def test_bucketed_without_shuffle_goes_from_short_to_long(varied_record):
    dataset = data.to_tf_dataset(varied_record, 10, shuffle=False, seed=0, bucket_by_length=True)
    lengths = [len(source) for source in _sources(_epoch(dataset))]
    assert lengths == sorted(varied_record.lengths.tolist())
