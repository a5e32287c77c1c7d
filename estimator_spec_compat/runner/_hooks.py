"""Training with SessionRunHooks: one step per call, hooks driven as TF2 callbacks.

Hooks passed to ``train(hooks=...)`` and the spec's ``training_hooks`` are
converted by `convert.hooks` (StopAtStep, NanTensor, LoggingTensor, StepCounter,
SummarySaver, FinalOps; others raise a TypeError naming the callback to write).
A hook's tensors are fetched from the model_fn's own pruned v1 graph, where
their names resolve, and its ``after_run`` sees them after every step, as with
a Session: so hooks run one step per call (``steps_per_loop`` is not used).
Under several replicas they see the first replica's tensors, as under Estimator.
"""

from estimator_spec_compat._compat import tf
from estimator_spec_compat.convert.hooks import CallbackList, TrainingContext, to_callbacks


class _Hooked:
    """Converts ``hooks`` with the traced spec's own hooks, at trace time, into `callbacks`."""

    def __init__(self, hooks):
        self._hooks = list(hooks)
        self.callbacks = None

    def _hook_fetches(self, model_spec):
        """The hooks' tensors to fetch from the traced model_fn (whose spec is ``model_spec``)."""
        self.callbacks = CallbackList(to_callbacks([*self._hooks, *model_spec.hooks]))
        return self.callbacks.fetches()


class HookedTraining(_Hooked):
    """The train step of ``programs`` with the callbacks of ``hooks``.

    Under several replicas the hooks see the first replica's tensors, as
    Estimator's hooks (taken from the first device) did.

    Args:
      programs: the runner's `Programs`.
      hooks: the hooks given to ``train``.
      spec: one replica's element spec.
      has_labels: whether elements are (features, labels).
    """

    def __init__(self, programs, hooks, spec, has_labels):
        super().__init__(hooks)
        self._programs = programs
        with programs.scope():
            traced = programs.trace_train(spec, has_labels, self._hook_fetches)

        @tf.function(autograph=False)
        def step(iterator):
            out = programs.train_step(traced)(iterator.get_next())
            if out.get("host") is not None:
                programs.host_call(out["host"])
            return out["loss"], out["extra"], out.get("summary")

        self._step = step

    def run(self, iterator, start, target, after_step, summary_due):
        """Trains from ``start`` to ``target`` (None: the input's end) or a hook's stop.

        ``after_step(step, loss, model_summary)`` is called after each step, with
        the model_fn's merged summaries (serialized) on the steps where
        ``summary_due(step)``, else None.

        Returns:
          The last step's loss (None if no step ran).
        """
        store = self._programs.store
        self.callbacks.on_train_begin(TrainingContext(step=start))
        step, logs, loss = start, {}, None
        while target is None or step < target:
            summarize = summary_due(step + 1)
            self._programs.summarize.assign(summarize)
            try:
                with self._programs.scope():
                    loss, logs, summary = self._step(iterator)
            except tf.errors.OutOfRangeError:
                break
            step, loss = int(store.global_step.numpy()), float(loss)
            logs = tf.nest.map_structure(lambda t: t.numpy(), logs)
            summary = summary.numpy() if summarize and summary is not None else None
            stop = after_step(step, loss, summary)
            if self.callbacks.on_step_end(step, logs) or stop:
                break
        self.callbacks.on_train_end(step, logs)
        return loss


class HookedEvaluation(_Hooked):
    """The eval step of ``programs`` with the callbacks of ``hooks``, one step per call.

    Callbacks are driven as in training, with the (unchanging) global step; the
    standard hooks count their own iterations, as they counted ``after_run``
    calls under Estimator's evaluation session. Under several replicas they see
    the first replica's tensors.

    Args:
      programs: the runner's `Programs`.
      hooks: the hooks given to ``evaluate``.
      spec: one replica's element spec.
      has_labels: whether elements are (features, labels).
    """

    def __init__(self, programs, hooks, spec, has_labels):
        super().__init__(hooks)
        self._programs = programs
        with programs.scope():
            self.functions = programs.eval_functions(spec, has_labels, self._hook_fetches)

        @tf.function(autograph=False)
        def step(iterator):
            return self.functions.body(programs.strategy, iterator.get_next())

        self._step = step

    def run(self, iterator, steps, after_step=None):
        """Evaluates ``steps`` batches (None: to the input's end) or until a hook stops;
        ``after_step(batches_done)`` after each (progress).

        Returns:
          How many batches were evaluated.
        """
        step = int(self._programs.store.global_step.numpy())
        self.callbacks.on_train_begin(TrainingContext(step=step))
        done, logs = 0, {}
        while steps is None or done < steps:
            try:
                with self._programs.scope():
                    logs = self._step(iterator)
            except tf.errors.OutOfRangeError:
                break
            done += 1
            if after_step is not None:
                after_step(done)
            logs = tf.nest.map_structure(lambda t: t.numpy(), logs)
            if self.callbacks.on_step_end(step, logs):
                break
        self.callbacks.on_train_end(step, logs)
        return done


class HookedPrediction(_Hooked):
    """PREDICT's step with the callbacks of ``hooks``; the runner calls `after_batch`
    after each batch's predictions are yielded, and `end` when predicting ends.

    Args:
      programs: the runner's `Programs`.
      hooks: the hooks given to ``predict``.
    """

    def __init__(self, programs, hooks):
        super().__init__(hooks)
        self.step = programs.predict_step(self._hook_fetches)
        self._global_step = int(programs.store.global_step.numpy())
        self._logs = {}
        self.callbacks.on_train_begin(TrainingContext(step=self._global_step))

    def after_batch(self, logs):
        """Feeds one batch's hook tensors to the callbacks; True if one asks to stop."""
        self._logs = tf.nest.map_structure(lambda t: t.numpy(), logs)
        return self.callbacks.on_step_end(self._global_step, self._logs)

    def end(self):
        self.callbacks.on_train_end(self._global_step, self._logs)


class Saves:
    """The runner's checkpoint saves during one ``train`` call, with its saving listeners.

    As Estimator's CheckpointSaverHook: listeners' ``begin`` before training, a
    save of the starting state (`start`), ``before_save`` / ``after_save`` around
    every save (``after_save`` returning True stops training), ``end`` after the
    last; a step already saved is not saved again at the end. There is no
    Session: listeners get ``session=None``.

    Args:
      save: writes a checkpoint (the runner's ``_save``).
      listeners: ``tf.compat.v1.train.CheckpointSaverListener``-like objects.

    Raises:
      TypeError: for a listener without the CheckpointSaverListener methods.
    """

    def __init__(self, save, listeners):
        self._save = save
        self._listeners = list(listeners or ())
        for listener in self._listeners:
            if not all(
                callable(getattr(listener, m, None))
                for m in ("begin", "before_save", "after_save", "end")
            ):
                raise TypeError(
                    f"`saving_listeners` holds {listener!r}, which is not a "
                    "tf.compat.v1.train.CheckpointSaverListener (begin, before_save, "
                    "after_save, end)."
                )
        self._saved_step = None
        for listener in self._listeners:
            listener.begin()

    def start(self, step):
        """Saves the state training starts from (Estimator's ``model.ckpt-0`` on a fresh
        start); returns whether a listener asked to stop."""
        return self.save(step)

    def save(self, step):
        """Saves at ``step``; returns whether a listener asked to stop training."""
        for listener in self._listeners:
            listener.before_save(None, step)
        self._save()
        self._saved_step = step
        return any([bool(listener.after_save(None, step)) for listener in self._listeners])

    def end(self, step):
        """The last save (unless ``step`` was just saved), then the listeners' ``end``."""
        if step != self._saved_step:
            self.save(step)
        for listener in self._listeners:
            listener.end(None, step)
