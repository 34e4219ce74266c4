"""Notebook 11's training runs on CMUdict, too slow for CI: writes bench/g2p_sweep.json.

Every run trains on the train words of ``utils.data.cmudict_split`` (one row per pronunciation, stress
removed), is scored on the dev words after every epoch (greedy WER), and at the end on the 12,000 test words:
greedy and beam search (width 5), WER and PER against every pronunciation of a word.

(gru)          GRU + attention: bidirectional GRU encoder, 256 units, embeddings of 128, dropout 0.2.
(transformer)  Transformer, pre-LN, RoPE: d_model 128, 4 heads, 2 layers each side, feed-forward 512, dropout 0.1.
(ci)           The run notebook 11 trains live in CI: GRU + attention, 128 units, one epoch.
Larger recipes, trained on a GPU by scripts/device_runs.py (Keras on JAX) and scored here with ``--adopt``:
(gru_large)    GRU + attention, 512 units, embeddings of 256, dropout 0.3, 40 epochs.
(gru_deep)     the same with 2 layers each side of 384 units.
(transformer_large)  Transformer, pre-LN, RoPE: d_model 256, 4 heads, 3 layers each side, feed-forward 1024,
               dropout 0.2, 80 epochs, warm-up 2,000 steps.

Every run: batch 256, Adam, a cosine decay to 0 (the Transformers after a linear warm-up), global
gradient clipping at 5.  ``--save DIR`` writes each model, without optimizer state, as DIR/g2p_<part>.keras
(``--save data``: the models notebook 11 evaluates, recorded in data/MANIFEST.json).
``--adopt PATH`` scores the model device_runs.py wrote at PATH (dev greedy, test greedy and beam) instead
of training one, and keeps the record written beside it (recipe, losses, the GPU).
Results are written after every run, with the machine they ran on.
Usage: python scripts/g2p_sweep.py --part gru|transformer|ci|gru_large|gru_deep|transformer_large [--epochs N]
       [--save DIR] [--adopt PATH]
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
from utils import data, g2p, models, training, transformer  # noqa: E402

import keras  # noqa: E402

OUT = ROOT / "bench" / "g2p_sweep.json"
SEED = 11
BEAM_WIDTH = 5
#: part -> (model class, options, epochs, batch size, peak learning rate, warm-up steps)
RECIPES = {
    "gru": ("AttentionSeq2Seq", {"units": 256, "embedding_dim": 128, "dropout": 0.2}, 12, 256, 3e-3, 0),
    "transformer": ("TransformerSeq2Seq", {"d_model": 128, "num_heads": 4, "num_layers": 2, "dropout": 0.1,
                                           "positions": "rope"}, 12, 256, 2e-3, 400),
    "ci": ("AttentionSeq2Seq", {"units": 128, "embedding_dim": 64}, 1, 256, 6e-3, 0),
    # larger, trained on a GPU by scripts/device_runs.py (epochs: at most these, as many as fit its time budget)
    "gru_large": ("AttentionSeq2Seq", {"units": 512, "embedding_dim": 256, "dropout": 0.3}, 40, 256, 2e-3, 0),
    "gru_deep": ("AttentionSeq2Seq", {"units": 384, "embedding_dim": 256, "dropout": 0.3, "num_layers": 2},
                 40, 256, 2e-3, 0),
    "transformer_large": ("TransformerSeq2Seq", {"d_model": 256, "num_heads": 4, "num_layers": 3, "dropout": 0.2,
                                                 "positions": "rope"}, 80, 256, 1e-3, 2000),
}
CLASSES = {"AttentionSeq2Seq": models.AttentionSeq2Seq, "TransformerSeq2Seq": transformer.TransformerSeq2Seq}


def build(part, lexicon):
    name, options, *_ = RECIPES[part]
    return CLASSES[name](lexicon.vocab_size, **options)


def train_run(part, lexicon, split, *, epochs=None):
    """Train ``RECIPES[part]`` and score it; returns (the run's record, the model)."""
    name, options, default_epochs, batch_size, peak, warmup = RECIPES[part]
    epochs = default_epochs if epochs is None else epochs
    train = lexicon.record(split["train"])
    keras.utils.set_random_seed(SEED)
    model = build(part, lexicon)
    steps = epochs * -(-len(train) // batch_size)
    per_epoch = []

    class DevWER(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            start = time.perf_counter()
            result = g2p.score(lexicon, split["dev"], g2p.transcribe(self.model, lexicon, split["dev"]))
            per_epoch.append({"epoch": epoch + 1, "loss": logs["loss"], **result,
                              "eval_seconds": round(time.perf_counter() - start, 1)})
            print(f"  {part} epoch {epoch + 1}: {per_epoch[-1]}", flush=True)

    history, seconds = models.fit_model(model, train, epochs=epochs, batch_size=batch_size, seed=SEED,
                                        learning_rate=training.warmup_cosine(peak, steps, warmup), global_clipnorm=5.0,
                                        bucket_by_length=True, verbose=0, callbacks=[DevWER()])
    eval_seconds = sum(e["eval_seconds"] for e in per_epoch)
    run = {"model": name, "options": options, "epochs": epochs, "batch_size": batch_size, "steps": steps,
           "peak_learning_rate": peak, "warmup_steps": warmup, "global_clipnorm": 5.0, "seed": SEED,
           "train_rows": len(train), "params": model.count_params(),
           "train_seconds": round(seconds - eval_seconds, 1), "per_epoch": per_epoch}
    run.update(test_scores(model, lexicon, split, part))
    return run, model


def test_scores(model, lexicon, split, part):
    """Greedy and beam-search WER and PER on the test words, with the seconds each decoding took."""
    scores = {}
    for label, width in (("greedy", 1), (f"beam{BEAM_WIDTH}", BEAM_WIDTH)):
        start = time.perf_counter()
        hypotheses = g2p.transcribe(model, lexicon, split["test"], beam_width=width)
        scores[f"test_{label}"] = {**g2p.score(lexicon, split["test"], hypotheses),
                                   "seconds": round(time.perf_counter() - start, 1)}
        print(f"  {part} test {label}: {scores[f'test_{label}']}", flush=True)
    return scores


def adopt(part, path, lexicon, split):
    """A model that ``scripts/device_runs.py`` trained on a GPU, scored here; returns (its record, the model).

    The record is the one written beside the model (``g2p_<part>.json``: recipe, epochs, losses, the GPU), plus
    the dev words' greedy WER and the test scores, decoded on this machine.
    """
    path = pathlib.Path(path)
    run = json.loads(path.with_suffix(".json").read_text())
    if run["options"] != RECIPES[part][1]:
        raise ValueError(f"{path} was trained with {run['options']}, not RECIPES[{part!r}] {RECIPES[part][1]}")
    model = keras.saving.load_model(path)
    run["dev_greedy"] = g2p.score(lexicon, split["dev"], g2p.transcribe(model, lexicon, split["dev"]))
    print(f"  {part} dev greedy: {run['dev_greedy']}", flush=True)
    run.update(test_scores(model, lexicon, split, part))
    return run, model


def save_model(model, part, directory, made_by=None):
    """The model's weights and config, without optimizer state: a fresh copy, never compiled.

    Saved in ``data/``, the file is recorded in ``data/MANIFEST.json`` with its SHA-256 (``utils.g2p.load_model``
    checks it): the models notebook 11 evaluates, trained by this script, not by ``make data``.
    """
    copy = type(model).from_config(model.get_config())
    copy.build_from_config(model.get_build_config())
    copy.set_weights(model.get_weights())
    path = (pathlib.Path(directory) / f"g2p_{part}.keras").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    copy.save(path)
    if path.parent == data.DATA_DIR:
        manifest = json.loads(data.MANIFEST.read_text())
        manifest[path.name] = {"sha256": data.sha256_of(path), "params": model.count_params(),
                               "generated_by": {"script": made_by or f"scripts/g2p_sweep.py --part {part} --save data"}}
        data.MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=sorted(RECIPES), required=True)
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument("--save", default=None, help="directory for the trained model")
    parser.add_argument("--adopt", default=None,
                        help="score a model scripts/device_runs.py trained (its .keras; the .json beside it) instead")
    args = parser.parse_args(argv)
    lexicon = data.load_cmudict()
    split = data.cmudict_split(lexicon)
    if args.adopt:
        run, model = adopt(args.part, args.adopt, lexicon, split)
    else:
        from bench import machine  # here, not above: device_runs.py imports this file where bench cannot run
        start = time.perf_counter()
        run, model = train_run(args.part, lexicon, split, epochs=args.epochs)
        run["total_seconds"] = round(time.perf_counter() - start, 1)
        run["machine"] = machine()
    if args.save:
        made_by = (f"scripts/device_runs.py --part g2p --recipe {args.part} (on {', '.join(run['machine']['gpu'])}), "
                   f"then scripts/g2p_sweep.py --part {args.part} --adopt OUT/g2p_{args.part}.keras --save data"
                   if args.adopt else None)
        run["saved_as"] = str(save_model(model, args.part, args.save, made_by).relative_to(ROOT))
    results = json.loads(OUT.read_text()) if OUT.exists() else {}  # re-read: parts may run at once
    results.update({"script": "scripts/g2p_sweep.py", "stress": lexicon.stress,
                    "split": {k: len(v) for k, v in split.items()}, args.part: run})
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(f"{args.part}: test greedy {run['test_greedy']}, {run['train_seconds']} s training", flush=True)


if __name__ == "__main__":
    main()
