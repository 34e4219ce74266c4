"""Notebook 09's scheduled-sampling experiment over several seeds, too slow for CI: bench/scheduled_sampling.json.

One run at one seed cannot say whether a teacher-forcing ratio of 0.5 helps: at notebook 09's budget, the
difference between two seeds is as large as the difference between the ratios. This trains the notebook's
attention model at its exact setting (SETTING below, which the notebook checks against its own) for each
seed and each ratio, and scores each run on the training lengths and beyond them: free-running exact and
token accuracy (`generate`), teacher-forced token accuracy, and their gap (exposure bias). The notebook
trains seed 42 live and reads the other seeds from here; `FULL_SWEEP = True` there trains them all.

Results are written after every run, so an interrupted sweep keeps what it finished. The machine is
recorded with the results.

Usage: python scripts/scheduled_sampling_sweep.py [--seeds 42 0 1 2 3] [--ratios 1.0 0.5]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import utils  # noqa: E402,F401,I001  (first: it imports TensorFlow quietly)
from bench import machine  # noqa: E402
from utils import data, models, training  # noqa: E402

import keras  # noqa: E402

OUT = ROOT / "bench" / "scheduled_sampling.json"
# Notebook 09, section 3: the data, the model and the fit, all but the seed and the ratio
SETTING = {"train": {"rows": 20_000, "min_len": 1, "max_len": 12, "n_symbols": 47, "seed": 42},
           "tests": {"lengths 1-12": {"rows": 600, "min_len": 1, "max_len": 12, "n_symbols": 47, "seed": 44},
                     "lengths 13-16": {"rows": 400, "min_len": 13, "max_len": 16, "n_symbols": 47, "seed": 45}},
           "model": {"units": 64, "embedding_dim": 32},
           "fit": {"epochs": 4, "batch_size": 128, "learning_rate": 3e-3, "global_clipnorm": 1.0,
                   "bucket_by_length": True}}


def make(spec):
    spec = dict(spec)
    return data.make_reversal_data(spec.pop("rows"), **spec)


def run(seed, ratio, train=None, tests=None):
    """Train at SETTING with this seed and teacher-forcing ratio; score it. Returns the run's record."""
    train = make(SETTING["train"]) if train is None else train
    tests = {name: make(spec) for name, spec in SETTING["tests"].items()} if tests is None else tests
    keras.utils.set_random_seed(seed)
    model = models.AttentionSeq2Seq(train.vocab_size, **SETTING["model"])
    _, seconds = models.fit_model(model, train, seed=seed, teacher_forcing=ratio, verbose=0, **SETTING["fit"])
    scores = {}
    for name, record in tests.items():
        free = models.evaluate(model, record)
        forced = training.teacher_forced_accuracy(model, record)
        scores[name] = {"exact": free["exact"], "token": free["token"], "token_teacher_forced": forced,
                        "gap": forced - free["token"]}
    return {"seed": seed, "ratio": ratio, "seconds": seconds, "scores": scores}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 0, 1, 2, 3])
    parser.add_argument("--ratios", type=float, nargs="+", default=[1.0, 0.5])
    args = parser.parse_args(argv)
    bad = [r for r in args.ratios if not 0.0 <= r <= 1.0]
    if bad:
        parser.error(f"--ratios must lie in [0, 1], got {bad}")
    train = make(SETTING["train"])
    tests = {name: make(spec) for name, spec in SETTING["tests"].items()}
    results = {"machine": machine(), "setting": SETTING, "runs": []}
    for seed in args.seeds:
        for ratio in args.ratios:
            results["runs"].append(run(seed, ratio, train, tests))
            print(json.dumps(results["runs"][-1]), flush=True)
            OUT.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
