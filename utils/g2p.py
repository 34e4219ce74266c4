"""Grapheme-to-phoneme: a trained model of the series pronounces words, and is scored like the papers.

Taught in ``notebooks/11_pronouncing_english_g2p.ipynb``.  The data (``Lexicon``, ``load_cmudict``,
``cmudict_split``) live in ``utils.data``, the metrics (``word_error_rate``, ``phoneme_error_rate``) in
``utils.metrics``; this module joins them to a model's greedy ``generate`` or ``beam_search``.
"""
from __future__ import annotations

import numpy as np

from utils import metrics
from utils.data import EOS, Lexicon, _check_int, pack_examples


def decode_len(src_len: int) -> int:
    """Decoding steps allowed for a word of ``src_len`` letters: ``2 * src_len + 6``.

    CMUdict's longest pronunciation for its letters is 11 phonemes for 3 ("aol"); every entry
    fits, EOS included.  Decoding stops earlier, as soon as every word has emitted EOS.
    """
    return 2 * src_len + 6


def transcribe(model, lexicon, words, *, beam_width=1, alpha=0.0, batch_size=1000, return_attention=False):
    """Each word's best pronunciation (tuples of phonemes): greedy with ``beam_width=1``, else beam search.

    ``words``: a list of strings of letters a-z (upper case is folded; anything else is a ValueError
    naming the word).  A word's output has at most ``decode_len(letters)`` tokens, EOS included,
    whatever batch it shares: greedy outputs do not depend on the batching.
    ``return_attention=True`` (attention models) adds, per word, the (output tokens, letters) weights
    of the output returned (the best beam's), the EOS row included when it has one.
    """
    if not isinstance(lexicon, Lexicon):
        raise TypeError(f"lexicon must be a Lexicon, got {type(lexicon).__name__}")
    if isinstance(words, str) or not isinstance(words, (list, tuple)):
        raise TypeError(f"words must be a list of strings, got {type(words).__name__} {words!r}")
    if not words:
        raise ValueError("words must hold at least one word")
    beam_width = _check_int("beam_width", beam_width, minimum=1)
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
            out = (out[0][:, 0], out[2]) if return_attention else out[0][:, 0]
        ids, weights = out if return_attention else (out, None)
        for j, i in enumerate(rows):  # each row cut at its own word's limit: the batch does not matter
            row = ids[j, :decode_len(len(spelt[i]))]
            pronunciations[i] = lexicon.to_phonemes(row)
            if return_attention:  # one row per output token, EOS included when there is one
                steps = len(pronunciations[i]) + int(EOS in row)
                attention[i] = weights[j, :steps, :len(spelt[i])]
    return (pronunciations, attention) if return_attention else pronunciations


def score(lexicon, words, hypotheses) -> dict[str, float]:
    """``{"wer", "per"}`` of ``hypotheses`` (one pronunciation per word) against every pronunciation in the lexicon."""
    references = lexicon.references(words)
    return {"wer": metrics.word_error_rate(references, hypotheses),
            "per": metrics.phoneme_error_rate(references, hypotheses)}
