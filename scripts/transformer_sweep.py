"""Notebook 10's training runs, too slow for CI: writes bench/transformer_sweep.json.

(search) The Transformer's recipe, chosen within the budget below on a development set (2,000 rows, 40 per length,
         seed 2024; not the held-out set): batch size, peak rate, heads, layers. Each run records its
         development-set exact and token accuracy at four points of its one epoch. ``--search NAME`` runs one.
(budget) Lengths 1-50 under notebook 07's data budget (one epoch over its 100,000 rows, seed 42): the
         Transformer with sinusoidal positions and with RoPE (notebook 10's recipe, the search's choice: batch
         16, a linear warm-up to the peak, then a cosine decay to 0), the sinusoidal one at batch 64 and at the
         attention model's own batch (256, 391 steps), notebook 07's GRU + attention at its own recipe, and RoPE's
         recipe with positions in cross-attention too, counted from the source's start, its end, or both.
         Each is scored on the held-out set (lengths 1-50) and on lengths 51-100 (20 rows per length, never
         seen in training): exact and token accuracy per length, and alignment. ``--recipe NAME`` runs one.
(ci)     The sinusoidal Transformer's recipe on 25,000 rows (seed 42) instead of 100,000, and RoPE's with
         cross-attention positions counted from the source's end on 12,500: the runs notebook 10 trains live in
         CI, where the full budget takes too long; the notebook checks its runs against these.
(long)   The sinusoidal Transformer at batch 64 for more epochs over the same rows, scored after each epoch:
         how many steps it needs to reach 99.5% exact on lengths 1-50.

Results are written after every run, with the machine they ran on; a run replaces the record of the same name.
``--threads 1`` runs TensorFlow on one core, so that two runs can share a 2-core machine (results on a CPU are
deterministic for a given thread count).
Usage: python scripts/transformer_sweep.py [--part search|budget|ci|long|all] [--recipe NAME] [--search NAME]
       [--epochs N] [--threads N]
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
from utils import data, metrics, models, training, transformer  # noqa: E402

import keras  # noqa: E402

OUT = ROOT / "bench" / "transformer_sweep.json"
SETTING = {"train_rows": 100_000, "data_seed": 42, "train_lengths": [1, 50], "n_symbols": 10,
           "beyond_lengths": [51, 100], "beyond_rows_per_length": 20, "beyond_seed": 999}
TRANSFORMER = {"d_model": 64, "num_heads": 4, "num_layers": 2}  # ff_dim 4 * d_model
RECIPES = {  # name -> (model options, batch size, peak learning rate, warm-up steps)
    "Transformer, sinusoidal": ({**TRANSFORMER, "positions": "sinusoidal"}, 16, 3e-3, 400),
    "Transformer, RoPE": ({**TRANSFORMER, "positions": "rope"}, 16, 3e-3, 400),
    "Transformer, sinusoidal, batch 64": ({**TRANSFORMER, "positions": "sinusoidal"}, 64, 3e-3, 100),
    "Transformer, sinusoidal, batch 256": ({**TRANSFORMER, "positions": "sinusoidal"}, 256, 3e-3, 25),
    "GRU + attention": ({"attention": "additive", "units": 128, "embedding_dim": 64}, 256, 6e-3, 0),
    # RoPE's recipe with positions in cross-attention too (utils.transformer, cross_positions): the source's keys
    # counted from its start (the control), from its end (reversal's frame), from both (half the heads each)
    **{f"Transformer, RoPE, cross-attention from {label}": ({**TRANSFORMER, "positions": "rope",
                                                           "cross_positions": frame}, 16, 3e-3, 400)
       for frame, label in (("start", "the start"), ("end", "the end"), ("both", "both ends"))},
}

CI_RUNS = {"ci": ("Transformer, sinusoidal", 25_000),  # name -> (recipe, training rows)
           # half the rows again: notebook 10 trains both live and must finish in CI's 4 minutes
           "ci_cross": ("Transformer, RoPE, cross-attention from the end", 12_500)}
DEV = {"rows": 2000, "seed": 2024}  # balanced: 40 rows per length 1-50
SEARCH = {  # name -> (model options, batch size, peak learning rate, warm-up steps); all one epoch of 100,000 rows
    "RoPE, batch 64, peak 6e-3": ({**TRANSFORMER, "positions": "rope"}, 64, 6e-3, 100),
    "RoPE, batch 32": ({**TRANSFORMER, "positions": "rope"}, 32, 3e-3, 200),
    "sinusoidal, batch 32": ({**TRANSFORMER, "positions": "sinusoidal"}, 32, 3e-3, 200),
    "RoPE, batch 16": RECIPES["Transformer, RoPE"],
    "RoPE, batch 16, peak 1.5e-3": ({**TRANSFORMER, "positions": "rope"}, 16, 1.5e-3, 400),
    "RoPE, batch 32, 2 heads": ({**TRANSFORMER, "num_heads": 2, "positions": "rope"}, 32, 3e-3, 200),
    "RoPE, batch 32, 3 layers": ({**TRANSFORMER, "num_layers": 3, "positions": "rope"}, 32, 3e-3, 200),
    # levers towards 99.5% from batch 16 with task-agnostic positions, run on the GPU (scripts/device_runs.py)
    "RoPE, batch 8": ({**TRANSFORMER, "positions": "rope"}, 8, 2e-3, 800),
    "sinusoidal, batch 8": ({**TRANSFORMER, "positions": "sinusoidal"}, 8, 2e-3, 800),
    "RoPE, batch 16, peak 5e-3": ({**TRANSFORMER, "positions": "rope"}, 16, 5e-3, 400),
    "RoPE, batch 16, 8 heads": ({**TRANSFORMER, "num_heads": 8, "positions": "rope"}, 16, 3e-3, 400),
    "RoPE, batch 16, 3 layers": ({**TRANSFORMER, "num_layers": 3, "positions": "rope"}, 16, 3e-3, 400),
    "sinusoidal, batch 16, 3 layers": ({**TRANSFORMER, "num_layers": 3, "positions": "sinusoidal"}, 16, 3e-3, 400),
    "RoPE, batch 16, dropout 0.1": ({**TRANSFORMER, "dropout": 0.1, "positions": "rope"}, 16, 3e-3, 400),
    "RoPE, batch 16, width 128": ({**TRANSFORMER, "d_model": 128, "positions": "rope"}, 16, 3e-3, 400),
}


def datasets():
    train = data.make_reversal_data(SETTING["train_rows"], min_len=1, max_len=50, n_symbols=10,
                                    seed=SETTING["data_seed"])
    return (train, *scoring_sets())


def scoring_sets():
    """The held-out set (lengths 1-50) and lengths 51-100, never seen in training: what every run is scored on."""
    beyond = data.make_reversal_data(50 * SETTING["beyond_rows_per_length"], min_len=51, max_len=100, n_symbols=10,
                                     seed=SETTING["beyond_seed"], balanced=True)
    return data.load_heldout("reverse_len1to50_sym10"), beyond


def development_set():
    """The rows the search chooses on: same lengths and symbols as the held-out set, another seed."""
    return data.make_reversal_data(DEV["rows"], min_len=1, max_len=50, n_symbols=10, seed=DEV["seed"], balanced=True)


def build(options, vocab):
    if "positions" in options:
        return transformer.TransformerSeq2Seq(vocab, **options)
    return models.AttentionSeq2Seq(vocab, **options)


def scores(model, heldout, beyond):
    """Exact, token and alignment on lengths 1-50 and 51-100, and per-length curves over both."""
    result = {}
    for label, record in (("1-50", heldout), ("51-100", beyond)):
        evaluated = models.evaluate(model, record)
        curve = metrics.accuracy_by_length(record.decoder_target, evaluated["predicted"], record.lengths)
        result[label] = {"exact": evaluated["exact"], "token": evaluated["token"], "alignment": evaluated["alignment"],
                         "by_length": {str(length): values for length, values in curve.items()}}
    return result


def fit_recipe(recipe, train, *, epochs=1, callbacks=()):
    """Train ``recipe`` (model options, batch size, peak rate, warm-up steps) from the sweep's seed: the one
    set-up of every run here. Returns (model, Keras history, seconds, steps)."""
    options, batch_size, peak, warmup = recipe
    keras.utils.set_random_seed(SETTING["data_seed"])
    model = build(options, train.vocab_size)
    steps = epochs * -(-len(train) // batch_size)
    history, seconds = models.fit_model(model, train, epochs=epochs, batch_size=batch_size, seed=SETTING["data_seed"],
                                        learning_rate=training.warmup_cosine(peak, steps, warmup),
                                        bucket_by_length=True, verbose=0, callbacks=list(callbacks))
    return model, history, seconds, steps


def exact_token(model, record):
    evaluated = models.evaluate(model, record)
    return {"exact": evaluated["exact"], "token": evaluated["token"]}


def search_run(name, train, dev):
    """One run of ``SEARCH[name]`` scored on the development set only, at four points of its epoch."""
    options, batch_size, peak, warmup = SEARCH[name]
    steps = -(-len(train) // batch_size)
    log = []

    class Quarterly(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if (batch + 1) % (steps // 4) == 0 and batch + 1 < steps:
                log.append({"steps": batch + 1, **exact_token(self.model, dev)})

    model, _, seconds, _ = fit_recipe(SEARCH[name], train, callbacks=[Quarterly()])
    log.append({"steps": steps, **exact_token(model, dev)})
    return {"name": name, "options": options, "batch_size": batch_size, "peak_learning_rate": peak,
            "warmup_steps": warmup, "steps": steps, "params": model.count_params(), "train_seconds": round(seconds, 1),
            "dev": log[-1], "dev_during": log}


def train_run(name, train, heldout, beyond, *, epochs=1, per_epoch=False, dev=None, rows=None):
    """One recorded run of ``RECIPES[name]``; with ``rows``, on that many rows (same seed) instead of ``train``.
    With ``dev`` (a record), its exact and token accuracy are recorded too."""
    if rows is not None:
        train = data.make_reversal_data(rows, min_len=1, max_len=50, n_symbols=10, seed=SETTING["data_seed"])
    options, batch_size, peak, warmup = RECIPES[name]
    steps_per_epoch = -(-len(train) // batch_size)
    history = []

    class PerEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if per_epoch:
                history.append({"epoch": epoch + 1, "steps": (epoch + 1) * steps_per_epoch,
                                **exact_token(self.model, heldout)})
                print(f"  epoch {epoch + 1}: {history[-1]}", flush=True)

    model, fit_history, seconds, steps = fit_recipe(RECIPES[name], train, epochs=epochs, callbacks=[PerEpoch()])
    run = {"model": name, "train_rows": len(train), "options": options, "batch_size": batch_size,
           "peak_learning_rate": peak, "warmup_steps": warmup, "epochs": epochs, "steps": steps,
           "params": model.count_params(),
           "train_seconds": round(seconds, 1), "final_loss": fit_history.history["loss"][-1],
           **scores(model, heldout, beyond)}
    if dev is not None:
        run["dev"] = exact_token(model, dev)
    if per_epoch:
        run["per_epoch"] = history
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["search", "budget", "ci", "long", "all"], default="all")
    parser.add_argument("--recipe", choices=sorted(RECIPES), help="(budget) this recipe only")
    parser.add_argument("--search", choices=sorted(SEARCH), help="(search) this run only")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of the long run")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow's threads per op (0: all cores)")
    args = parser.parse_args(argv)
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    header = {"machine": machine(), "setting": SETTING, "dev": DEV, "script": "scripts/transformer_sweep.py"}
    train, heldout, beyond = datasets()
    dev = development_set()

    def save(key, value):  # re-read first: parts and runs may go at once, each writing its own entry
        results = json.loads(OUT.read_text()) if OUT.exists() else {}
        if isinstance(value, dict) and key in ("budget", "search"):  # one run: replace its namesake, keep order
            field = "model" if key == "budget" else "name"
            runs = [run for run in results.get(key, []) if run[field] != value[field]] + [value]
            order = list(RECIPES if key == "budget" else SEARCH)
            value = sorted(runs, key=lambda run: order.index(run[field]) if run[field] in order else len(order))
        results.update({**header, key: value})
        OUT.write_text(json.dumps(results, indent=1) + "\n")

    if args.part in ("search", "all"):
        for name in [args.search] if args.search else SEARCH:
            run = search_run(name, train, dev)
            print(f"{name}: dev exact {run['dev']['exact']:.4f}, {run['train_seconds']} s", flush=True)
            save("search", run)
    if args.part in ("budget", "all"):
        for name in [args.recipe] if args.recipe else RECIPES:
            start = time.perf_counter()
            run = train_run(name, train, heldout, beyond, dev=dev)
            print(f"{name}: {run['1-50']['exact']:.4f} exact on 1-50, {run['51-100']['exact']:.4f} on 51-100, "
                  f"{run['train_seconds']} s training, {time.perf_counter() - start:.0f} s in all", flush=True)
            save("budget", run)
    if args.part in ("ci", "all"):
        for key, (name, rows) in CI_RUNS.items():
            save(key, train_run(name, train, heldout, beyond, rows=rows))
    if args.part in ("long", "all"):
        save("long", train_run("Transformer, sinusoidal, batch 64", train, heldout, beyond, epochs=args.epochs,
                               per_epoch=True))


if __name__ == "__main__":
    main()
