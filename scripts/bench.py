"""The series' benchmark (`make bench`): training time to target, decode and search throughput, notebook wall times.

Writes bench/results.json (every run's figures) and bench/results.md (medians, as a table).

  (a) seconds of training until exact-sequence accuracy >= 99.9% on the held-out set of the
      original setting (length 12, 47 symbols), per model; plus the attention model's seconds to
      >= 99.5% on lengths 1-50.  The clock counts `fit` only: the periodic held-out evaluation
      (greedy decoding of all 5,000 rows) is timed separately and left out.
  (b) greedy decode throughput, sequences/s: the incremental decoder (`Seq2Seq.generate`) vs the
      prefix re-running one (`prefix_generate`), at lengths 12 and 50, batch 1 and 1,000.
  (c) wall time of each notebook, executed in a fresh kernel on a temporary copy.
  (d) greedy and beam search (k = 4) throughput, sequences/s, on (b)'s models and inputs: ours
      (`Seq2Seq.generate`, `Seq2Seq.beam_search`) against KerasHub's GreedySampler and BeamSampler
      driving the same model (`utils.beam.keras_hub_decoder`); KerasHub's greedy ids are asserted
      equal to ours first, so both sides do the same work.

  (e) the training recipe (notebook 09) at the original setting: seconds to 99.9% as in (a), for the
      series' attention model with global-norm clipping at 1.0, and for the original project's model
      (2-layer bidirectional GRU, dropout 0.25, clipping, teacher-forcing ratio 0.5), each in float32
      and under the mixed_float16 and mixed_bfloat16 policies, on the device the run finds.

  (f) the parallelism con (notebook 10): seconds per training step against sequence length (10 to 200,
      batch 128, every row that long) for the GRU + attention model and the Transformer at similar
      parameter counts, median of timed steps after two warm-up steps, on the device the run finds.

Every figure is the median of --repeats runs (decode timings: of 5 timed calls after a warm-up);
a model that misses its target within the budget is not run again.
--only-decode runs (b) and (d) alone, on two models trained briefly (the --quick budgets) instead
of (a)'s runs to target.  Throughput depends on how well a model is trained only through when its
rows emit EOS (decoding stops once every row has); results.json records the mode under "mode".
Public tools only: time.perf_counter, TensorFlow/Keras, KerasHub.  Uses the GPU if TensorFlow sees one.

--only-recipe runs (e) alone, --only-notebooks (c) alone and --only-parallel (f) alone; each keeps the
other parts of an existing bench/results.json.

Usage: python scripts/bench.py [--repeats N] [--skip-notebooks] [--quick]
                               [--only-decode | --only-recipe | --only-notebooks | --only-parallel]
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import utils  # noqa: E402,F401,I001  (first: it imports TensorFlow quietly)
from step_times import step_times  # noqa: E402  (part (f), shared with scripts/device_runs.py)
from utils import beam, data, models  # noqa: E402

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

OUT_DIR = ROOT / "bench"


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if pathlib.Path("/proc/cpuinfo").exists() \
        else platform.processor()
    gpus = tf.config.list_physical_devices("GPU")
    return {"cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "cpu": cpu, "gpu": [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus],
            "device": "GPU" if gpus else "CPU", "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__}


class TimeToTarget(keras.callbacks.Callback):
    """Every `every` batches, decode the held-out set; stop when exact accuracy >= target.

    `train_seconds` counts batches only: evaluation time is measured and subtracted.
    """

    def __init__(self, heldout, target, every, budget_s):
        super().__init__()
        self.heldout, self.target, self.every, self.budget_s = heldout, target, every, budget_s
        self.train_seconds, self.reached, self.best, self.batches = None, False, 0.0, 0
        self.eval_seconds = 0.0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if self.batches % self.every == 0:
            self._check()

    def on_train_end(self, logs=None):
        if self.train_seconds is None:  # the epochs ended between two checks
            self._check(final=True)

    def _check(self, final=False):
        train_seconds = time.perf_counter() - self.start - self.eval_seconds
        eval_start = time.perf_counter()
        exact = models.evaluate(self.model, self.heldout)["exact"]
        self.eval_seconds += time.perf_counter() - eval_start
        self.best = max(self.best, exact)
        if exact >= self.target or train_seconds > self.budget_s or final:
            self.reached = exact >= self.target
            self.train_seconds = train_seconds
            self.model.stop_training = True


# Models for (a): name -> constructor, all at the series' default sizes.
def candidates(vocab):
    return {
        "GRU + additive attention": lambda: models.AttentionSeq2Seq(vocab, attention="additive"),
        "GRU + dot attention": lambda: models.AttentionSeq2Seq(vocab, attention="dot"),
        "GRU (no attention)": lambda: models.RNNSeq2Seq(vocab, cell="gru", units=128, embedding_dim=64),
    }


def time_to_target(build, train, heldout, *, target, every, budget_s, seed, batch_size=128, learning_rate=3e-3,
                   bucket_by_length=False, epochs=1000, **fit_options):
    """Train until the held-out exact accuracy reaches `target`, the budget runs out, or `epochs` end.

    `fit_options` go to `models.fit_model` (the recipe's `global_clipnorm`, `teacher_forcing`).
    """
    keras.utils.set_random_seed(seed)
    model = build()
    callback = TimeToTarget(heldout, target, every, budget_s)
    models.fit_model(model, train, epochs=epochs, batch_size=batch_size, seed=seed, verbose=0,
                     learning_rate=learning_rate, callbacks=[callback], bucket_by_length=bucket_by_length,
                     **fit_options)
    return {"seconds": callback.train_seconds, "reached": callback.reached, "best_exact": callback.best,
            "batches": callback.batches, "params": model.count_params()}, model


# (e): the training recipe's two models, with the fit options each trains with
RECIPES = {
    "attention model, clipped": (dict(), dict(global_clipnorm=1.0)),
    "original project's model": (dict(num_layers=2, dropout=0.25), dict(global_clipnorm=1.0, teacher_forcing=0.5)),
}
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def recipe_runs(train, heldout, *, repeats, budget_s):
    """(e): seconds to 99.9% at the original setting, per recipe and precision policy."""
    runs = {}
    for name, (model_options, fit_options) in RECIPES.items():
        for policy in POLICIES:
            keras.mixed_precision.set_global_policy(policy)
            try:
                key = f"{name} | {policy}"
                runs[key] = []
                for seed in range(repeats):
                    run, _ = time_to_target(
                        functools.partial(models.AttentionSeq2Seq, heldout.vocab_size, **model_options), train, heldout,
                        target=0.999, every=25, budget_s=budget_s, seed=seed, **fit_options)
                    runs[key].append(run)
                    print(f"(e) {key}, seed {seed}: {run}", flush=True)
                    if not run["reached"]:
                        break
            finally:
                keras.mixed_precision.set_global_policy("float32")
    return runs


def throughput(fn, encoder_input, calls=5):
    fn(encoder_input)  # warm-up: tracing and compilation
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(encoder_input)
        times.append(time.perf_counter() - start)
    return len(encoder_input) / statistics.median(times)


def fetched(decode):
    """`decode(source, src_len + 1)` of a KerasHub decoder, its tensors fetched: the timing includes the work."""
    return lambda source: tf.nest.map_structure(lambda t: t.numpy(), decode(source, source.shape[1] + 1))


def assert_same_greedy(model, hub_greedy, source):
    """KerasHub's greedy ids (after its leading SOS) are ours, PAD beyond our width: (d) compares equal work."""
    hub = fetched(hub_greedy)(source)[:, 1:]
    ours = model.generate(source)
    np.testing.assert_array_equal(hub[:, :ours.shape[1]], ours)
    np.testing.assert_array_equal(hub[:, ours.shape[1]:], data.PAD)


def step_profile(model, source, k=4):
    """Where beam search's time goes at batch B (medians of 7 timed calls after a warm-up, in ms).

    Beam search of width k runs the encoder on B rows and the decoder on B*k rows.  Greedy decoding of
    the B rows repeated k times (identical rows, so the same number of steps) does the same decoder work
    with no beam bookkeeping, but encodes B*k rows; swapping its encoder time for B rows' gives the
    model's own work in a beam search, ``model_work_ms``.  ``bookkeeping_ms`` (beam minus that) is what the
    search itself adds: log-softmax, top-k, gathers, parent pointers.  ``bound_beam_over_greedy`` is the
    throughput ratio if the bookkeeping were free.
    """
    def ms(fn):
        fn()
        times = []
        for _ in range(7):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return 1000 * statistics.median(times)

    repeated = np.repeat(source, k, axis=0)
    encode = tf.function(lambda s: model.encode(s, training=False)[0])
    encode_ms = ms(lambda: encode(tf.constant(source)).numpy())
    encode_k_ms = ms(lambda: encode(tf.constant(repeated)).numpy())
    greedy_ms, greedy_k_ms = ms(lambda: model.generate(source)), ms(lambda: model.generate(repeated))
    beam_ms = ms(lambda: model.beam_search(source, beam_width=k))
    model_work_ms = greedy_k_ms - encode_k_ms + encode_ms
    return {"rows": len(source), "k": k, "encode_ms": encode_ms, "greedy_ms": greedy_ms,
            f"greedy_x{k}_rows_ms": greedy_k_ms, f"beam{k}_ms": beam_ms, "model_work_ms": model_work_ms,
            "bookkeeping_ms": beam_ms - model_work_ms, "bound_beam_over_greedy": greedy_ms / model_work_ms,
            "beam_over_greedy": greedy_ms / beam_ms}


def notebook_times(paths):
    """Wall time of each notebook, run by scripts/run_notebooks.py on a copy beside it (same folder, same paths)."""
    times = {}
    for path in paths:
        copy = ROOT / "notebooks" / f".bench_{path.name}"
        shutil.copy(path, copy)
        try:
            start = time.perf_counter()
            subprocess.run([sys.executable, str(ROOT / "scripts" / "run_notebooks.py"), str(copy)],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[path.name] = time.perf_counter() - start
        finally:
            copy.unlink(missing_ok=True)
        print(f"  {path.name}: {times[path.name]:.1f} s", flush=True)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="training runs per model (median reported)")
    parser.add_argument("--skip-notebooks", action="store_true", help="leave out (c), the notebook wall times")
    parser.add_argument("--quick", action="store_true", help="1 repeat, small budgets: a smoke test of the script")
    parser.add_argument("--only-decode", action="store_true",
                        help="(b) and (d) only, on two briefly trained models (the --quick budgets); no (a), no (c)")
    parser.add_argument("--only-recipe", action="store_true",
                        help="(e) only, the training recipe; the other parts of bench/results.json are kept")
    parser.add_argument("--only-notebooks", action="store_true",
                        help="(c) only, the notebook wall times; the other parts of bench/results.json are kept")
    parser.add_argument("--only-parallel", action="store_true",
                        help="(f) only, training-step time against length; the rest of bench/results.json is kept")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.only_decode + args.only_recipe + args.only_notebooks + args.only_parallel > 1:
        parser.error("give at most one of --only-decode, --only-recipe, --only-notebooks, --only-parallel")
    repeats = 1 if args.quick else args.repeats
    budget = 20 if args.quick or args.only_decode else 90
    if args.only_recipe or args.only_notebooks or args.only_parallel:
        return update_part(args, repeats, budget)
    results = {"machine": machine(), "mode": "only-decode" if args.only_decode else "full", "quick": args.quick,
               "repeats": repeats, "training": {}, "decode": {}, "search": {}, "search_profile": {}, "notebooks": {}}
    print("machine:", results["machine"], flush=True)

    heldout_12 = data.load_heldout("reverse_len12_sym47")
    train_12 = data.make_reversal_data(40_000, min_len=12, max_len=12, n_symbols=47, seed=0)
    heldout_50 = data.load_heldout("reverse_len1to50_sym10")
    train_50 = data.make_reversal_data(150_000, min_len=1, max_len=50, n_symbols=10, seed=0)
    steps_50 = -(-len(train_50) // 256)  # one epoch; the cosine decay reaches 0 at its end

    def fit_50(seed, budget_s):  # the attention model on lengths 1-50 -> 99.5%, with notebook 07's recipe
        return time_to_target(
            candidates(heldout_50.vocab_size)["GRU + additive attention"], train_50, heldout_50, target=0.995,
            every=50, budget_s=budget_s, seed=seed, batch_size=256, bucket_by_length=True,
            learning_rate=keras.optimizers.schedules.CosineDecay(6e-3, decay_steps=steps_50), epochs=1)

    if args.only_decode:
        # Brief training: enough for (b) and (d), whose figures depend on the model only through
        # when its rows emit EOS.  The runs are recorded so the reader sees how far they got.
        run_12, attention_12 = time_to_target(candidates(heldout_12.vocab_size)["GRU + additive attention"],
                                              train_12, heldout_12, target=0.999, every=25, budget_s=budget, seed=0)
        run_50, model_50 = fit_50(seed=0, budget_s=60)
        results["decode_models"] = {"len 12, 47 symbols": run_12, "len 1-50, 10 symbols": run_50}
        print("models for (b), (d), briefly trained:", results["decode_models"], flush=True)
    else:
        # (a) time to 99.9% exact at the original setting --------------------------------------
        trained = {}
        for name, build in candidates(heldout_12.vocab_size).items():
            runs = []
            for seed in range(repeats):
                run, model = time_to_target(build, train_12, heldout_12, target=0.999, every=25,
                                            budget_s=budget, seed=seed)
                runs.append(run)
                print(f"(a) {name}, seed {seed}: {run}", flush=True)
                if not run["reached"]:  # out of reach within the budget: more seeds would only repeat that
                    break
            trained.setdefault(name, model)
            results["training"][f"{name} | len 12, 47 symbols -> 99.9%"] = runs

        # ... and the attention model on lengths 1-50 -> 99.5%
        runs = []
        for seed in range(1 if args.quick else min(repeats, 2)):
            run, model_50 = fit_50(seed, budget_s=60 if args.quick else 240)
            runs.append(run)
            print(f"(a) attention, lengths 1-50, seed {seed}: {run}", flush=True)
        results["training"]["GRU + additive attention | len 1-50, 10 symbols -> 99.5%"] = runs
        attention_12 = trained["GRU + additive attention"]

    # (b) decode throughput ---------------------------------------------------------------------
    rows_50 = heldout_50.encoder_input[heldout_50.lengths == 50]
    sources = {12: (attention_12, heldout_12.encoder_input), 50: (model_50, np.tile(rows_50, (10, 1)))}
    for length, (model, source) in sources.items():
        for batch in (1, 1000):
            batch_input = source[:batch]
            incremental = throughput(model.generate, batch_input)
            prefix = throughput(functools.partial(models.prefix_generate, model), batch_input,
                                calls=3 if batch == 1 else 1)
            results["decode"][f"len {length}, batch {batch}"] = {
                "incremental_seq_per_s": incremental, "prefix_seq_per_s": prefix, "speedup": incremental / prefix}
            print(f"(b) len {length}, batch {batch}: {results['decode'][f'len {length}, batch {batch}']}", flush=True)

    # (d) greedy and beam search, ours against KerasHub's samplers ----------------------------
    # Same models, same inputs as (b).  KerasHub's samplers call the same decode_step (through
    # keras_hub_decoder), so the gaps are the search loops', not the models'.
    for length, (model, source) in sources.items():
        hub_greedy = beam.keras_hub_decoder(model, keras_hub.samplers.GreedySampler())
        hub_beam = beam.keras_hub_decoder(model, keras_hub.samplers.BeamSampler(num_beams=4, return_all_beams=True))
        assert_same_greedy(model, hub_greedy, source[:1000])
        for batch in (1, 1000):
            batch_input = source[:batch]
            greedy = throughput(model.generate, batch_input)
            ours_beam = throughput(functools.partial(model.beam_search, beam_width=4), batch_input)
            hub_greedy_rate = throughput(fetched(hub_greedy), batch_input)
            # KerasHub's beam is slow at batch 1,000, length 50: one timed call, as (b) does for prefix
            hub_beam_rate = throughput(fetched(hub_beam), batch_input, calls=1 if (length, batch) == (50, 1000) else 5)
            key = f"len {length}, batch {batch}"
            results["search"][key] = {
                "ours_greedy_seq_per_s": greedy, "ours_beam4_seq_per_s": ours_beam,
                "keras_hub_greedy_seq_per_s": hub_greedy_rate, "keras_hub_beam4_seq_per_s": hub_beam_rate,
                "beam4_over_greedy": ours_beam / greedy, "ours_over_keras_hub_greedy": greedy / hub_greedy_rate}
            print(f"(d) {key}: {results['search'][key]}", flush=True)
        results["search_profile"][f"len {length}, batch 1000"] = step_profile(model, source[:1000])
        print(f"(d) profile, len {length}: {results['search_profile'][f'len {length}, batch 1000']}", flush=True)

    # (e) the training recipe, float32 against mixed precision ----------------------------------
    if not args.only_decode:
        results["recipe"] = recipe_runs(train_12, heldout_12, repeats=repeats, budget_s=budget)

    # (f) training-step time against length -----------------------------------------------------
    if not args.only_decode:
        results["parallel"] = step_times(steps=1 if args.quick else 5)

    # (c) notebook wall times -------------------------------------------------------------------
    if not args.skip_notebooks and not args.only_decode:
        print("(c) notebooks:", flush=True)
        results["notebooks"] = notebook_times(sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    write(results)


def write(results):
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (OUT_DIR / "results.md").write_text(markdown(results))
    print((OUT_DIR / "results.md").read_text())


def update_part(args, repeats, budget):
    """--only-recipe, --only-notebooks: run one part and keep the rest of bench/results.json."""
    path = OUT_DIR / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {
        "mode": "partial", "quick": args.quick, "repeats": repeats, "training": {}, "decode": {}, "search": {},
        "search_profile": {}, "notebooks": {}}
    machine_now = machine()
    if results.get("machine", machine_now) != machine_now:  # one machine line describes every figure
        raise SystemExit(f"bench/results.json was measured on {results['machine']}, this is {machine_now}: "
                         "run the whole benchmark here instead")
    results["machine"] = machine_now
    if args.only_parallel:
        results["parallel"] = step_times(steps=1 if args.quick else 5)
    elif args.only_recipe:
        results["recipe"] = recipe_runs(data.make_reversal_data(40_000, min_len=12, max_len=12, n_symbols=47, seed=0),
                                        data.load_heldout("reverse_len12_sym47"), repeats=repeats, budget_s=budget)
    else:
        print("(c) notebooks:", flush=True)
        results["notebooks"] = notebook_times(sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    write(results)


def markdown(results):
    m = results["machine"]
    lines = [f"Machine: {m['cores']} cores, {m['cpu']}, {m['device']}"
             + (f" ({', '.join(m['gpu'])})" if m["gpu"] else "")
             + f"; TensorFlow {m['tensorflow']}, Keras {m['keras']}. "
             + ("Training: median over the runs counted in the table "
                f"(up to {results['repeats']} seeds; a model that misses its target is not run again)."
                if results["training"] else
                "Decoding only (`--only-decode`): models trained briefly, best held-out exact "
                + ", ".join(f"{run['best_exact']:.4f} ({task})" for task, run in results["decode_models"].items())
                + "; throughput depends on training only through when rows emit EOS.")]
    if results["training"]:
        lines += ["", "**(a) Training seconds to the target (exact-sequence accuracy on the held-out set)**", "",
                  "| model | task -> target | median s | runs reaching it | best exact | parameters |",
                  "|---|---|---|---|---|---|"]
    for key, runs in results["training"].items():
        name, task = key.split(" | ")
        reached = [r["seconds"] for r in runs if r["reached"]]
        lines.append(f"| {name} | {task} | {median_seconds(runs)} | {len(reached)}/{len(runs)} | "
                     f"{max(r['best_exact'] for r in runs):.4f} | {runs[0]['params']:,} |")
    lines += ["", "**(b) Greedy decoding, sequences/s (median of timed calls after a warm-up)**", "",
              "| length, batch | incremental (`generate`) | prefix re-running | speed-up |", "|---|---|---|---|"]
    for key, d in results["decode"].items():
        lines.append(f"| {key} | {d['incremental_seq_per_s']:,.0f} | {d['prefix_seq_per_s']:,.1f} | "
                     f"{d['speedup']:.0f}x |")
    if results["notebooks"]:
        lines += ["", "**(c) Notebook wall time, fresh kernel, top to bottom (one run)**", "",
                  "| notebook | seconds |", "|---|---|"]
        lines += [f"| {name} | {seconds:.0f} |" for name, seconds in results["notebooks"].items()]
    if results.get("search"):
        lines += ["", "**(d) Greedy and beam search (k = 4), sequences/s: ours against KerasHub's samplers on the "
                  "same model**", "",
                  "| length, batch | ours greedy | ours beam k=4 | beam/greedy | KerasHub greedy | KerasHub beam k=4 | "
                  "ours/KerasHub (greedy) |", "|---|---|---|---|---|---|---|"]
        for key, d in results["search"].items():
            lines.append(f"| {key} | {d['ours_greedy_seq_per_s']:,.0f} | {d['ours_beam4_seq_per_s']:,.0f} | "
                         f"{d['beam4_over_greedy']:.2f} | {d['keras_hub_greedy_seq_per_s']:,.0f} | "
                         f"{d['keras_hub_beam4_seq_per_s']:,.1f} | {d['ours_over_keras_hub_greedy']:.1f}x |")
    if results.get("search_profile"):
        lines += ["", "**(d, continued) Where beam search's time goes, batch 1,000, k = 4 (ms per call)**: the "
                  "model's own work is greedy decoding of the rows repeated 4 times, with the encoder timed for the "
                  "original rows",
                  "",
                  "| length | encoder, ms | greedy, ms | greedy, rows x4, ms | beam k=4, ms | "
                  "model's work in the beam, ms | bookkeeping, ms | beam/greedy | bound if bookkeeping were free |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for key, p in results["search_profile"].items():
            lines.append(f"| {key} | {p['encode_ms']:.1f} | {p['greedy_ms']:.1f} | {p['greedy_x4_rows_ms']:.1f} | "
                         f"{p['beam4_ms']:.1f} | {p['model_work_ms']:.1f} | {p['bookkeeping_ms']:.1f} | "
                         f"{p['beam_over_greedy']:.2f} | {p['bound_beam_over_greedy']:.2f} |")
    if results.get("recipe"):
        lines += ["", "**(e) The training recipe (notebook 09): training seconds to 99.9% exact at the original "
                  "setting (length 12, 47 symbols), float32 against mixed precision**, on the machine above. The "
                  "attention model as in (a) with `global_clipnorm=1.0`; the original project's model: 2-layer "
                  "bidirectional GRU, dropout 0.25, clipping, teacher-forcing ratio 0.5", "",
                  "| model | policy | median s | runs reaching it | best exact | parameters |",
                  "|---|---|---|---|---|---|"]
        for key, runs in results["recipe"].items():
            name, policy = key.split(" | ")
            lines.append(f"| {name} | {policy} | {median_seconds(runs)} | "
                         f"{sum(r['reached'] for r in runs)}/{len(runs)} | {max(r['best_exact'] for r in runs):.4f} | "
                         f"{runs[0]['params']:,} |")
    if results.get("parallel"):
        p = results["parallel"]
        names = list(p["models"])
        lines += ["", f"**(f) The parallelism con (notebook 10): ms per training step against length**, batch "
                  f"{p['batch_size']}, every row that long, median of {p['timed_steps']} timed steps after two warm-up "
                  "steps, on the machine above. Parameters: "
                  + ", ".join(f"{name} {p['models'][name]['params']:,}" for name in names), "",
                  "| length | " + " | ".join(f"{name}, ms per step" for name in names)
                  + f" | {names[0]} / {names[1]} |",
                  "|---|" + "---|" * (len(names) + 1)]
        for length in p["models"][names[0]]["seconds_per_step"]:
            times = [p["models"][name]["seconds_per_step"][length] for name in names]
            lines.append(f"| {length} | " + " | ".join(f"{t * 1000:.1f}" for t in times)
                         + f" | {times[0] / times[1]:.2f} |")
    if GPU_PARALLEL.exists():
        lines += gpu_parallel_lines(json.loads(GPU_PARALLEL.read_text()))
    return "\n".join(lines) + "\n"


GPU_PARALLEL = OUT_DIR / "parallel_gpu.json"  # written by scripts/device_runs.py --part parallel, on a GPU


def gpu_parallel_lines(p):
    """Part (f) as recorded on a GPU machine (this benchmark cannot measure it where no GPU is)."""
    m, names = p["machine"], list(p["models"])
    floor = p["cudnn_recurrent_layers"]
    lines = ["", f"**(f) on a GPU, recorded** by `{p['script']}` (`bench/parallel_gpu.json`): {', '.join(m['gpu'])}; "
             f"Keras {m['keras']} on the {m['backend']} backend ({m['backend']} {m[m['backend']]}), since that "
             f"machine has no TensorFlow; batch {p['batch_size']}. Per call: one `train_on_batch` per step, median "
             f"of {p['timed_steps']}; fused: `fit` with `steps_per_execution={p['fused']['steps_per_execution']}`, "
             "one compiled call for all the steps, so that Python's dispatch of each step drops out. Keras' GRU on "
             "that backend is a scan of small steps; the last column is the GRU model's three recurrent layers alone "
             f"({floor['params']:,} parameters) as cuDNN runs them (PyTorch {floor['torch']}, forward and backward): "
             "a floor under any GRU + attention step, cuDNN included.", "",
             "| length | " + " | ".join(f"{name}, ms per step, per call / fused" for name in names)
             + f" | {names[0]} / {names[1]}, per call / fused | cuDNN GRU layers alone, ms |",
             "|---|" + "---|" * (len(names) + 2)]
    for length in p["models"][names[0]]["seconds_per_step"]:
        times = [p["models"][name]["seconds_per_step"][length] for name in names]
        fused = [p["fused"]["models"][name]["seconds_per_step"][length] for name in names]
        lines.append(f"| {length} | " + " | ".join(f"{t * 1000:.1f} / {f * 1000:.1f}" for t, f in zip(times, fused))
                     + f" | {times[0] / times[1]:.2f} / {fused[0] / fused[1]:.2f} | "
                     f"{floor['seconds_per_step'][length] * 1000:.2f} |")
    return lines


def median_seconds(runs):
    reached = [r["seconds"] for r in runs if r["reached"]]
    return f"{statistics.median(reached):.1f}" if len(reached) == len(runs) else \
        f"not reached in {max(r['seconds'] for r in runs):.0f} s" if not reached else \
        f"{statistics.median(reached):.1f} ({len(reached)} of {len(runs)})"


if __name__ == "__main__":
    main()
