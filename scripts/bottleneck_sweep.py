"""Notebook 07's controlled experiments, too slow for CI: writes bench/bottleneck_sweep.json.

(a) Budget or capacity?  The two encoder-decoders without attention, each at its own peak learning rate
    (a small sweep, one epoch over notebook 07's 100,000 rows) and then at the best rate for 4x the steps.
    If the GRU's exact accuracy on long sequences stays near 0 while its short-sequence accuracy and
    its loss improve, what limits it is not the budget of notebook 07.
(b) Why does the attention peak sit one position right of the anti-diagonal?  The attention model of
    notebook 07 retrained with a forward-only encoder (`bidirectional=False`, the one change) and,
    bidirectional, with two other seeds.  Alignment is scored at step 0 and at steps >= 1 separately.
(c) Notebook 07's vanilla RNN (`--part baseline`): one run at the notebook's setting (peak 1e-3, one
    epoch), scored on the held-out lengths 1-50 and on the notebook's lengths 51-60.  The notebook reads
    it instead of training the vanilla RNN again, to stay within CI's time; `TRAIN_ALL = True` there
    trains it live.

Every run uses notebook 07's data (seed 42), batch 256, length bucketing and a cosine decay to 0 over
the run; only the named setting changes.  Results are written after every run, so an interrupted sweep
keeps what it finished.  The device is recorded with the results.

Usage: python scripts/bottleneck_sweep.py [--part budget|alignment|baseline|all] [--quick]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import utils  # noqa: E402,F401,I001  (first: it imports TensorFlow quietly)
from bench import machine  # noqa: E402
from utils import data, metrics, models  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

OUT = ROOT / "bench" / "bottleneck_sweep.json"
SEED, BATCH_SIZE, TRAIN_ROWS = 42, 256, 100_000
VANILLA_RATES, GRU_RATES = (3e-4, 1e-3, 3e-3), (2e-3, 6e-3, 1.2e-2)
LONG_EPOCHS = 4
ATTENTION_RATE = 6e-3
BASELINE_RATE = 1e-3  # notebook 07's PEAK_LEARNING_RATE["vanilla RNN"]


def beyond_set():
    """Notebook 07's test set beyond the training lengths: 500 rows, lengths 51-60, 50 of each."""
    return data.make_reversal_data(500, min_len=51, max_len=60, n_symbols=10, seed=999, balanced=True)


def build(kind, vocab, **options):
    if kind == "vanilla RNN":
        return models.RNNSeq2Seq(vocab, cell="simple", units=128)
    if kind == "GRU":
        return models.RNNSeq2Seq(vocab, cell="gru", units=128, embedding_dim=64)
    return models.AttentionSeq2Seq(vocab, attention="additive", units=128, embedding_dim=64, **options)


def curve_lists(curve):
    lengths = sorted(curve)
    return {"lengths": lengths, "exact": [curve[n]["sequence"] for n in lengths],
            "token": [curve[n]["token"] for n in lengths], "count": [curve[n]["count"] for n in lengths]}


def offset_shares(offsets, steps):
    """Share of (row, step) pairs at offset -1, 0, +1 and elsewhere, over the chosen steps."""
    chosen = offsets[:, steps].compressed()
    return {"-1": float(np.mean(chosen == -1)), "0": float(np.mean(chosen == 0)),
            "+1": float(np.mean(chosen == 1)), "other": float(np.mean(np.abs(chosen) > 1)), "n": int(chosen.size)}


def train_and_score(kind, train, heldout, *, rate, epochs, seed, beyond=None, **options):
    keras.utils.set_random_seed(seed)
    model = build(kind, train.vocab_size, **options)
    steps = epochs * -(-len(train) // BATCH_SIZE)
    schedule = keras.optimizers.schedules.CosineDecay(rate, decay_steps=steps)
    history, seconds = models.fit_model(model, train, epochs=epochs, batch_size=BATCH_SIZE, seed=seed,
                                        learning_rate=schedule, bucket_by_length=True, verbose=0)
    scores = models.evaluate(model, heldout)
    curve = metrics.accuracy_by_length(heldout.decoder_target, scores["predicted"], heldout.lengths)
    run = {"model": kind, "peak_learning_rate": rate, "epochs": epochs, "steps": steps, "seed": seed,
           "options": options, "train_seconds": round(seconds, 1),
           "final_loss": float(history.history["loss"][-1]),
           "teacher_forced_token_accuracy": float(history.history["masked_accuracy"][-1]),
           "exact": scores["exact"], "token": scores["token"], "curve": curve_lists(curve)}
    if beyond is not None:
        predicted = models.evaluate(model, beyond)["predicted"]
        run["beyond_curve"] = curve_lists(metrics.accuracy_by_length(beyond.decoder_target, predicted, beyond.lengths))
    if scores["attention"] is not None:
        offsets = metrics.alignment_offsets(scores["attention"], heldout.lengths)
        run["offsets_step0"] = offset_shares(offsets, slice(0, 1))
        run["offsets_later"] = offset_shares(offsets, slice(1, None))
    print(f"{kind:16} rate {rate:g} epochs {epochs} seed {seed} {options or ''}: {seconds:.0f} s, "
          f"loss {run['final_loss']:.4f}, exact {run['exact']:.3f}", flush=True)
    return run


def save(results, quick):
    if not quick:  # a --quick run only checks that the script works
        OUT.write_text(json.dumps(results, indent=1) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("budget", "alignment", "baseline", "all"), default="all")
    parser.add_argument("--quick", action="store_true", help="2,000 rows: checks that the script runs")
    args = parser.parse_args(argv)
    rows = 2_000 if args.quick else TRAIN_ROWS
    train = data.make_reversal_data(rows, min_len=1, max_len=50, n_symbols=10, seed=SEED)
    heldout = data.load_heldout("reverse_len1to50_sym10")
    results = json.loads(OUT.read_text()) if OUT.exists() and not args.quick else {}
    results.update({"machine": machine(), "train_rows": rows, "batch_size": BATCH_SIZE, "data_seed": SEED,
                    "script": "scripts/bottleneck_sweep.py"})
    results.setdefault("budget", [])
    results.setdefault("alignment", [])
    start = time.perf_counter()

    if args.part in ("budget", "all"):
        results["budget"] = []
        for kind, rates in (("vanilla RNN", VANILLA_RATES), ("GRU", GRU_RATES)):
            sweep = []
            for rate in rates:
                sweep.append(train_and_score(kind, train, heldout, rate=rate, epochs=1, seed=SEED))
                results["budget"].append(sweep[-1])
                save(results, args.quick)
            best = max(sweep, key=lambda run: (run["exact"], -run["final_loss"]))
            results["budget"].append(train_and_score(kind, train, heldout, rate=best["peak_learning_rate"],
                                                     epochs=LONG_EPOCHS, seed=SEED))
            save(results, args.quick)

    if args.part in ("alignment", "all"):
        results["alignment"] = []
        for seed, bidirectional in ((SEED, False), (1, True), (2, True)):
            results["alignment"].append(train_and_score("GRU + attention", train, heldout, rate=ATTENTION_RATE,
                                                        epochs=1, seed=seed, bidirectional=bidirectional))
            save(results, args.quick)

    if args.part in ("baseline", "all"):
        results["baseline"] = train_and_score("vanilla RNN", train, heldout, rate=BASELINE_RATE, epochs=1, seed=SEED,
                                              beyond=beyond_set())
        save(results, args.quick)

    seconds = round(time.perf_counter() - start, 1)
    results.setdefault("seconds_by_part", {})[args.part] = seconds
    save(results, args.quick)
    print(f"done in {seconds:.0f} s -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
