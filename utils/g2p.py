"""Grapheme-to-phoneme: a trained model of the series pronounces words, and is scored like the papers.

Taught in ``notebooks/11_pronouncing_english_g2p.ipynb``.  The data (``Lexicon``, ``load_cmudict``,
``cmudict_split``) live in ``utils.data``, the metrics (``word_error_rate``, ``phoneme_error_rate``) in
``utils.metrics``; this module joins them to a model's greedy ``generate`` or ``beam_search``.
"""
from __future__ import annotations

import numpy as np

from utils import metrics
from utils.data import DATA_DIR, EOS, Lexicon, _check_int, check_sha256, pack_examples


def decode_len(src_len: int) -> int:
    """Decoding steps allowed for a word of ``src_len`` letters: ``2 * src_len + 6``.

    CMUdict's longest pronunciation for its letters is 11 phonemes for 3 ("aol"); every entry
    fits, EOS included.  Decoding stops earlier, as soon as every word has emitted EOS.
    """
    return 2 * src_len + 6


def transcribe(model, lexicon, words, *, beam_width=1, alpha=0.0, batch_size=1000, return_attention=False,
               n_best=False):
    """Each word's best pronunciation (tuples of phonemes): greedy with ``beam_width=1``, else beam search.

    ``words``: a list of strings of letters a-z (upper case is folded; anything else is a ValueError
    naming the word).  A word's output has at most ``decode_len(letters)`` tokens, EOS included,
    whatever batch it shares: greedy outputs do not depend on the batching.
    ``return_attention=True`` (attention models) adds, per word, the (output tokens, letters) weights
    of the output returned (the best beam's), the EOS row included when it has one.
    ``n_best=True`` (beam search): per word, the list of all ``beam_width`` beams' pronunciations, best first.
    """
    if not isinstance(lexicon, Lexicon):
        raise TypeError(f"lexicon must be a Lexicon, got {type(lexicon).__name__}")
    if isinstance(words, str) or not isinstance(words, (list, tuple)):
        raise TypeError(f"words must be a list of strings, got {type(words).__name__} {words!r}")
    if not words:
        raise ValueError("words must hold at least one word")
    beam_width = _check_int("beam_width", beam_width, minimum=1)
    if not isinstance(n_best, bool) or (n_best and (beam_width == 1 or return_attention)):
        raise ValueError(f"n_best must be True or False, and True needs beam_width > 1 without return_attention, "
                         f"got n_best={n_best!r}, beam_width={beam_width}, return_attention={return_attention}")
    batch_size = _check_int("batch_size", batch_size, minimum=1)
    if model.vocab_size != lexicon.vocab_size:
        raise ValueError(f"model.vocab_size is {model.vocab_size} but the lexicon's is {lexicon.vocab_size} "
                         f"(stress={lexicon.stress}): a model trained on another inventory")
    spelt = [lexicon.spell(word) for word in words]
    order = np.argsort([len(s) for s in spelt], kind="stable")  # batches of similar length: less padding
    pronunciations, attention = [None] * len(words), [None] * len(words)
    for start in range(0, len(words), batch_size):
        rows = order[start:start + batch_size]
        source = pack_examples([spelt[i] for i in rows], [spelt[i][:0] for i in rows],
                               n_symbols=lexicon.n_symbols).encoder_input
        steps = decode_len(source.shape[1])
        if beam_width == 1:
            out = model.generate(source, steps, return_attention=return_attention)
        else:
            out = model.beam_search(source, beam_width, steps, alpha=alpha, return_attention=return_attention)
            out = (out[0][:, 0], out[2]) if return_attention else out[0] if n_best else out[0][:, 0]
        ids, weights = out if return_attention else (out, None)
        for j, i in enumerate(rows):  # each row cut at its own word's limit: the batch does not matter
            if n_best:
                pronunciations[i] = [lexicon.to_phonemes(beam[:decode_len(len(spelt[i]))]) for beam in ids[j]]
                continue
            row = ids[j, :decode_len(len(spelt[i]))]
            pronunciations[i] = lexicon.to_phonemes(row)
            if return_attention:  # one row per output token, EOS included when there is one
                n_tokens = len(pronunciations[i]) + int(EOS in row)
                attention[i] = weights[j, :n_tokens, :len(spelt[i])]
    return (pronunciations, attention) if return_attention else pronunciations


def score(lexicon, words, hypotheses) -> dict[str, float]:
    """``{"wer", "per"}`` of ``hypotheses`` (one pronunciation per word) against every pronunciation in the lexicon."""
    references = lexicon.references(words)
    return {"wer": metrics.word_error_rate(references, hypotheses),
            "per": metrics.phoneme_error_rate(references, hypotheses)}


def attended_letters(attention) -> np.ndarray:
    """For one word's (output tokens, letters) weights: the letter each output token attends to most."""
    attention = np.asarray(attention)
    if attention.ndim != 2 or attention.shape[1] == 0:
        raise ValueError(f"attention must be (output tokens, letters), got shape {attention.shape}")
    return attention.argmax(axis=1)


def monotonicity(attentions) -> float:
    """Share of consecutive output steps whose most-attended letter does not move left (rows of each word's
    weights; pass them without the EOS row to score the phonemes alone).  1.0: a path that only moves right
    or stays, as spelling mostly does; reversal's anti-diagonal would score 0."""
    steps = moves = 0
    for attention in attentions:
        path = attended_letters(attention)
        moves += int(np.sum(np.diff(path) >= 0))
        steps += max(len(path) - 1, 0)
    if steps == 0:
        raise ValueError("attentions hold no word with two or more output steps")
    return moves / steps


#: The trained models notebook 11 evaluates: ``data/g2p_<part>.keras``, written by ``scripts/g2p_sweep.py``.
PRETRAINED = ("gru", "transformer")


def load_model(part):
    """``data/g2p_<part>.keras`` (``part`` in :data:`PRETRAINED`), after checking its SHA-256 in the manifest."""
    import keras

    if part not in PRETRAINED:
        raise ValueError(f"part must be one of {PRETRAINED}, got {part!r}")
    path = check_sha256(DATA_DIR / f"g2p_{part}.keras",
                        f"retrain it with `python scripts/g2p_sweep.py --part {part} --save data`")
    return keras.saving.load_model(path)
