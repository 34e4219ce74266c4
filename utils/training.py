"""Training and evaluation: the series' one compile set-up, ``fit_model`` and free-running ``evaluate``.

``fit_model`` prints one compact line per epoch (``EpochLine``); ``evaluate`` decodes
greedily with ``generate`` and scores exact-sequence, token and alignment accuracy
(``utils.metrics``).  Taught in ``notebooks/03_lstm_gru_seq2seq.ipynb``.
"""
from __future__ import annotations

import contextlib
import time

import keras
import numpy as np

from utils import metrics
from utils.data import PAD, Seq2SeqData, _check_int, _check_number, to_tf_dataset


def _check_clip(name, value):
    if value is None:
        return None
    value = _check_number(name, value, allowed="a positive number or None")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number or None, got {value}")
    return value


OPTIMIZERS = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}


def warmup_cosine(peak, steps, warmup=0):
    """A linear warm-up from 0 to ``peak`` over ``warmup`` steps, then a cosine decay to 0 at ``steps``."""
    peak, steps = _check_number("peak", peak), _check_int("steps", steps, minimum=1)
    warmup = _check_int("warmup", warmup, minimum=0)
    if not peak > 0:
        raise ValueError(f"peak must be a positive learning rate, got {peak}")
    if warmup >= steps:
        raise ValueError(f"warmup must be fewer than steps ({steps}), got {warmup}")
    if warmup == 0:
        return keras.optimizers.schedules.CosineDecay(peak, decay_steps=steps)
    return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=steps - warmup, warmup_target=peak,
                                                  warmup_steps=warmup)


def compile_model(model, learning_rate=3e-3, *, clipnorm=None, global_clipnorm=None, optimizer="adam"):
    """The series' one training set-up: Adam, PAD-ignoring cross-entropy on logits, masked accuracy.

    ``optimizer="sgd"``: plain SGD instead of Adam (notebook 09 uses it to show exploding gradients,
    which Adam's normalised step partly hides).

    Gradient clipping is Keras' own: ``clipnorm`` rescales each weight's gradient to at most that
    norm, ``global_clipnorm`` all gradients together (the original project's ``clip_grad_norm_(1.0)``).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    clipnorm, global_clipnorm = _check_clip("clipnorm", clipnorm), _check_clip("global_clipnorm", global_clipnorm)
    if clipnorm is not None and global_clipnorm is not None:
        raise ValueError("set clipnorm or global_clipnorm, not both")
    # in the strategy the model was built under (tf.distribute.MirroredStrategy and the like), so that the
    # optimiser's and the metrics' variables are mirrored like the model's; the default strategy otherwise.
    # Other Keras backends (JAX, PyTorch) have no strategies: scripts/device_runs.py trains there.
    strategy = getattr(model, "distribute_strategy", None)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model.compile(optimizer=OPTIMIZERS[optimizer](learning_rate, clipnorm=clipnorm,
                                                      global_clipnorm=global_clipnorm),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD),
                      metrics=[metrics.MaskedAccuracy()])
    return model


def _compile_once(model, learning_rate, clipnorm, global_clipnorm, optimizer="adam"):
    """Compile a model that is not compiled yet; a compiled one keeps its optimiser, so clipping is refused."""
    if not getattr(model, "compiled", False):
        compile_model(model, learning_rate, clipnorm=clipnorm, global_clipnorm=global_clipnorm, optimizer=optimizer)
    elif clipnorm is not None or global_clipnorm is not None:
        raise ValueError("the model is compiled already: pass clipnorm/global_clipnorm to compile_model instead")


class ExactAccuracyCheckpoint(keras.callbacks.Callback):
    """Scores free-running exact-sequence accuracy on ``validation`` and keeps the best weights.

    Every ``every_epochs`` epochs (default 1), or every ``every_steps`` training steps, it decodes
    ``validation`` greedily (``evaluate``), records ``val_exact`` in the epoch's logs (so ``History``
    and TensorBoard see it), and remembers the weights with the best score.  ``patience``: stop
    after that many evaluations without improvement (``None``: never); evaluations in the first
    ``start_from_epoch`` epochs do not count, as in ``keras.callbacks.EarlyStopping`` (a warm-up while exact
    accuracy is still 0 and cannot improve).  At the end of training the
    best weights are restored (``restore_best=True``).  Validation loss is teacher-forced and
    averaged over tokens; this is the score the series reports.  ``scores`` lists
    ``(epoch, step, exact)``; ``best_epoch``/``best_step`` say where the best one was.
    """

    def __init__(self, validation, *, every_epochs=None, every_steps=None, patience=None, start_from_epoch=0,
                 restore_best=True):
        super().__init__()
        if not isinstance(validation, Seq2SeqData):
            raise TypeError(f"validation must be a Seq2SeqData, got {type(validation).__name__}")
        if every_epochs is not None and every_steps is not None:
            raise ValueError("set every_epochs or every_steps, not both")
        self.validation = validation
        self.every_steps = None if every_steps is None else _check_int("every_steps", every_steps, minimum=1)
        self.every_epochs = None if every_steps is not None else _check_int(
            "every_epochs", 1 if every_epochs is None else every_epochs, minimum=1)
        self.patience = None if patience is None else _check_int("patience", patience, minimum=1)
        self.start_from_epoch = _check_int("start_from_epoch", start_from_epoch, minimum=0)
        if not isinstance(restore_best, bool):
            raise TypeError(f"restore_best must be True or False, got {restore_best!r}")
        self.restore_best = restore_best

    def on_train_begin(self, logs=None):
        self.scores, self.best, self.best_epoch, self.best_step = [], -1.0, None, None
        self.best_weights, self.epoch, self.step, self.waited = None, 0, 0, 0

    def _score(self):
        exact = evaluate(self.model, self.validation)["exact"]
        self.scores.append((self.epoch, self.step, exact))
        if exact > self.best:
            self.best, self.best_epoch, self.best_step = exact, self.epoch, self.step
            self.best_weights, self.waited = self.model.get_weights(), 0
        elif self.epoch > self.start_from_epoch:
            self.waited += 1
            if self.patience is not None and self.waited >= self.patience:
                self.model.stop_training = True
        return exact

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1  # 1-based, as EpochLine prints it

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.every_steps is not None and self.step % self.every_steps == 0:
            self._score()

    def on_epoch_end(self, epoch, logs=None):
        if self.every_epochs is not None and self.epoch % self.every_epochs == 0:
            exact = self._score()
            if logs is not None:
                logs["val_exact"] = exact

    def on_train_end(self, logs=None):
        if self.restore_best and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class EpochLine(keras.callbacks.Callback):
    """Prints one compact line per epoch: ``epoch 3/6  loss 0.0123  masked_accuracy 0.9876  (4.1 s)``."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        values = "  ".join(f"{name} {value:.4f}" for name, value in (logs or {}).items())
        print(f"epoch {epoch + 1}/{self.epochs}  {values}  ({time.perf_counter() - self.start:.1f} s)", flush=True)


def fit_model(model, train, *, epochs, batch_size=128, seed=0, validation=None, learning_rate=3e-3,
              verbose=2, callbacks=None, bucket_by_length=False, clipnorm=None, global_clipnorm=None,
              tensorboard_dir=None, teacher_forcing=None):
    """Compile (if not yet) and train on a ``Seq2SeqData`` record; returns ``(history, seconds)``.

    ``verbose=2``: one line per epoch (``EpochLine``); 0: silent.  ``seconds`` is the wall
    time of ``fit`` alone.  ``learning_rate`` may be a float or a Keras schedule.
    ``bucket_by_length``: batches of similar lengths, cropped (see ``utils.data.to_tf_dataset``).
    ``clipnorm``/``global_clipnorm``: gradient clipping (see ``compile_model``).
    ``tensorboard_dir``: write Keras' TensorBoard logs there (open them with ``%tensorboard --logdir``).
    ``teacher_forcing``: scheduled sampling's ratio, fixed or a callable of the step (see
    ``Seq2Seq.set_teacher_forcing``; its coins are seeded with ``seed``); ``None``: full teacher forcing.
    A model built under a ``tf.distribute`` strategy's scope trains data-parallel: each batch is split
    across the strategy's devices and the gradients are summed (Keras' own ``fit``).
    """
    if verbose not in (0, 2):
        raise ValueError(f"verbose must be 0 (silent) or 2 (one line per epoch), got {verbose!r}")
    _compile_once(model, learning_rate, clipnorm, global_clipnorm)
    if teacher_forcing is not getattr(model, "teacher_forcing", None):
        model.set_teacher_forcing(teacher_forcing, seed=seed)
    validation_data = None if validation is None else to_tf_dataset(validation, 1000, shuffle=False)
    callbacks = list(callbacks or []) + ([EpochLine(epochs)] if verbose == 2 else [])
    if tensorboard_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard_dir)))
    start = time.perf_counter()
    dataset = to_tf_dataset(train, batch_size, shuffle=True, seed=seed, bucket_by_length=bucket_by_length)
    # shuffle=False: the dataset shuffles itself (fit's default True only warns for a tf.data input)
    history = model.fit(dataset, epochs=epochs, shuffle=False,
                        validation_data=validation_data, verbose=0, callbacks=callbacks)
    return history, time.perf_counter() - start


def gradient_norms(model, train, *, steps, batch_size=128, seed=0, learning_rate=3e-3, clipnorm=None,
                   global_clipnorm=None, optimizer="adam", bucket_by_length=False):
    """Train ``steps`` steps by hand and record the global gradient norm of each, before any clipping.

    ``model.fit`` does not expose gradients, so this runs the same step by hand: the loss that
    ``compile_model`` sets up (``optimizer``: "adam" or "sgd"), one ``tf.GradientTape``, and the
    optimiser's ``apply``, which clips as Keras always does (``clipnorm``/``global_clipnorm``, see
    ``compile_model``).  The data come in ``fit_model``'s order for the same ``seed``.
    Returns ``{"loss": (steps,), "norm": (steps,)}``
    as NumPy arrays; a step whose loss or norm is not finite is recorded as it is (``nan``/``inf``).
    """
    import tensorflow as tf

    steps = _check_int("steps", steps, minimum=1)
    _compile_once(model, learning_rate, clipnorm, global_clipnorm, optimizer)

    @tf.function(reduce_retracing=True)
    def step(inputs, target):
        with tf.GradientTape() as tape:
            logits = model(inputs, training=True)
            loss = model.compute_loss(x=inputs, y=target, y_pred=logits, training=True)
        grads = tape.gradient(loss, model.trainable_variables)
        norm = tf.linalg.global_norm(grads)
        model.optimizer.apply(grads, model.trainable_variables)  # clips, then updates
        return loss, norm

    dataset = to_tf_dataset(train, batch_size, shuffle=True, seed=seed, bucket_by_length=bucket_by_length)
    losses, norms = [], []
    while len(losses) < steps:  # as many epochs as it takes; each pass reshuffles, as fit's epochs do
        for inputs, target in dataset:
            loss, norm = step(inputs, target)
            losses.append(float(loss))
            norms.append(float(norm))
            if len(losses) == steps:
                break
    return {"loss": np.array(losses), "norm": np.array(norms)}


def sgd_step(model, batch, *, learning_rate=1.0):
    """One plain SGD step on ``batch`` (a ``Seq2SeqData``, taken whole as one global batch); returns the new weights.

    With SGD the change of the weights is the gradient times ``learning_rate``, so two runs of one
    step compare their gradients exactly (Adam's first step, about ``learning_rate * sign(g)``,
    would hide a gradient that is off by a factor).  Compiled afresh by ``compile_model`` (in the model's
    strategy scope): under ``tf.distribute.MirroredStrategy`` the batch is split across the replicas.
    """
    if not isinstance(batch, Seq2SeqData):
        raise TypeError(f"batch must be a Seq2SeqData, got {type(batch).__name__}")
    compile_model(model, learning_rate, optimizer="sgd")
    model.fit(to_tf_dataset(batch, len(batch), shuffle=False), epochs=1, shuffle=False, verbose=0)
    return model.get_weights()


def teacher_forced_accuracy(model, record, *, batch_size=1000):
    """Token accuracy with every decoder input true (teacher forcing): the argmax of ``model(...)`` at each real
    target position.  Against ``evaluate(...)["token"]`` (free-running), the gap measures exposure bias.
    """
    _check_int("batch_size", batch_size, minimum=1)
    logits = model.predict((record.encoder_input, record.decoder_input), batch_size=batch_size, verbose=0)
    return metrics.token_accuracy(record.decoder_target, np.argmax(logits, axis=-1))


def evaluate(model, record, *, batch_size=1000):
    """Free-running (greedy ``generate``) scores on a record: exact, token and, with attention, alignment.

    Returns ``{"exact": ..., "token": ..., "alignment": ... or None, "predicted": ids, "attention": ...}``.
    """
    predicted, attention = [], []
    for start in range(0, len(record), batch_size):
        batch = record.encoder_input[start:start + batch_size]
        out = model.generate(batch, return_attention=model.has_attention)
        ids, weights = out if model.has_attention else (out, None)
        width = record.decoder_target.shape[1]
        predicted.append(np.pad(ids, ((0, 0), (0, width - ids.shape[1])), constant_values=PAD))
        if weights is not None:
            attention.append(np.pad(weights, ((0, 0), (0, width - weights.shape[1]), (0, 0))))
    predicted = np.concatenate(predicted)
    attention = np.concatenate(attention) if attention else None
    return {"exact": metrics.sequence_accuracy(record.decoder_target, predicted),
            "token": metrics.token_accuracy(record.decoder_target, predicted),
            "alignment": None if attention is None else metrics.alignment_accuracy(attention, record.lengths),
            "predicted": predicted, "attention": attention}
