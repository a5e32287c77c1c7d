"""Callbacks of the hooks that write files: step rate, summaries, checkpoints.

Differences from the hooks, all forced by TF2 having no graph or session: no
``graph.pbtxt`` / meta graph and no ``SessionLog`` events are written; listeners
get ``session=None``; checkpoints are TF2 object-based ones of the loop's
``tf.train.Checkpoint`` (same ``model.ckpt-<step>`` prefixes and ``checkpoint``
state file, so ``tf.train.latest_checkpoint`` finds them).
"""

import os

from estimator_spec_compat import _compat
from estimator_spec_compat.convert._hook_callbacks import TrainingCallback


def _timer(every_secs, every_steps):
    return _compat.tf.compat.v1.train.SecondOrStepTimer(
        every_secs=every_secs, every_steps=every_steps
    )


def _log():
    return _compat.tf.compat.v1.logging


def _logdir(output_dir, summary_writer):
    """The hook's output_dir, else the directory of its v1 FileWriter."""
    if output_dir:
        return output_dir
    if summary_writer is not None and hasattr(summary_writer, "get_logdir"):
        return summary_writer.get_logdir()
    return None


def _write_summary_proto(writer, serialized, step):
    with writer.as_default():
        _compat.tf.summary.experimental.write_raw_pb(serialized, step=step)


class StepCounterCallback(TrainingCallback):
    """Records ``global_step/sec`` every N steps or seconds (StepCounterHook).

    The rate is logged at INFO and, with ``output_dir``, written as a v1
    ``simple_value`` summary under the same tag at the global step.

    Example:
      >>> callback = StepCounterCallback(every_n_steps=100, output_dir=model_dir)
    """

    def __init__(self, *, every_n_steps=100, every_n_secs=None, output_dir=None):
        if (every_n_steps is None) == (every_n_secs is None):
            raise ValueError(
                f"Exactly one of `every_n_steps` ({every_n_steps}) and `every_n_secs` "
                f"({every_n_secs}) must be given."
            )
        self._timer = _timer(every_n_secs, every_n_steps)
        self._output_dir = output_dir
        self._writer = None
        self._last_step = None
        self._warnings = 0
        self.summary_tag = "global_step/sec"

    @classmethod
    def from_hook(cls, hook):
        """The callback for a ``tf.compat.v1.train.StepCounterHook``."""
        return cls(
            every_n_steps=hook._timer._every_steps,
            every_n_secs=hook._timer._every_secs,
            output_dir=_logdir(hook._output_dir, hook._summary_writer),
        )

    def on_train_begin(self, context):
        if self._output_dir and self._writer is None:
            self._writer = _compat.tf.summary.create_file_writer(self._output_dir)

    def on_step_end(self, step, logs):
        if self._timer.should_trigger_for_step(step):
            elapsed_time, elapsed_steps = self._timer.update_last_triggered_step(step)
            if elapsed_time is not None:
                self._record(elapsed_steps / max(elapsed_time, 1e-9), step)
        if step == self._last_step and self._warnings < 5:
            self._warnings += 1
            _log().warning(
                "It seems that the global step has not been increased. Current value: %s. "
                "Increase it in the training step (e.g. optimizer.iterations or "
                "step.assign_add(1)).",
                step,
            )
        self._last_step = step
        return False

    def on_train_end(self, step, logs):
        if self._writer is not None:
            self._writer.flush()

    def _record(self, steps_per_sec, step):
        if self._writer is not None:
            summary = _compat.tf.compat.v1.Summary(
                value=[
                    _compat.tf.compat.v1.Summary.Value(
                        tag=self.summary_tag, simple_value=steps_per_sec
                    )
                ]
            )
            _write_summary_proto(self._writer, summary.SerializeToString(), step)
        _log().info("%s: %g", self.summary_tag, steps_per_sec)


class SummarySaverCallback(TrainingCallback):
    """Writes v1 summaries every N steps or seconds (SummarySaverHook).

    ``summaries`` are the tensors of serialized ``Summary`` protos that
    ``tf.compat.v1.summary.*`` ops produce (also inside ``tf.function``); their
    values are written unchanged, at the global step, on the first step and
    whenever the timer triggers.  Without ``output_dir`` nothing is written, as
    the hook wrote nothing without a writer.

    Example:
      >>> callback = SummarySaverCallback(
      ...     [tf.compat.v1.summary.scalar("loss", loss)], save_steps=100,
      ...     output_dir=model_dir)
    """

    def __init__(self, summaries, *, save_steps=None, save_secs=None, output_dir=None):
        if summaries is not None and not isinstance(summaries, (list, tuple)):
            summaries = [summaries]
        self._summaries = list(summaries or ())
        self._timer = _timer(save_secs, save_steps)
        self._output_dir = output_dir
        self._writer = None
        self._first = True

    @classmethod
    def from_hook(cls, hook):
        """The callback for a ``tf.compat.v1.train.SummarySaverHook``."""
        summaries = hook._summary_op
        if summaries is None and hook._scaffold is not None:
            summaries = hook._scaffold.summary_op
        return cls(
            summaries,
            save_steps=hook._timer._every_steps,
            save_secs=hook._timer._every_secs,
            output_dir=_logdir(hook._output_dir, hook._summary_writer),
        )

    def fetches(self):
        return {f"summary/{index}": op for index, op in enumerate(self._summaries)}

    def on_train_begin(self, context):
        self._first = True
        if self._output_dir and self._writer is None:
            self._writer = _compat.tf.summary.create_file_writer(self._output_dir)

    def on_step_end(self, step, logs):
        if self._writer is None:
            return False
        if self._first or self._timer.should_trigger_for_step(step):
            self._first = False
            self._timer.update_last_triggered_step(step)
            for index in range(len(self._summaries)):
                serialized = logs[f"summary/{index}"]
                # b"" is what a v1 summary op yields when it was skipped (or
                # written by TF's bridge to a default writer): nothing to write.
                if _compat.tf.get_static_value(serialized) != b"":
                    _write_summary_proto(self._writer, serialized, step)
        return False

    def on_train_end(self, step, logs):
        if self._writer is not None:
            self._writer.flush()


class CheckpointSaverCallback(TrainingCallback):
    """Saves the loop's checkpoint every N steps or seconds (CheckpointSaverHook).

    Saves at the start, whenever the timer triggers and at the end (unless the
    last step was just saved), as ``<checkpoint_dir>/<basename>-<step>``, keeping
    ``max_to_keep`` of them (the v1 Saver's, default 5).  Listeners
    (``tf.compat.v1.train.CheckpointSaverListener``) get ``begin()``,
    ``before_save(None, step)``, ``after_save(None, step)`` (True asks to stop)
    and ``end(None, step)``.

    Example:
      >>> callback = CheckpointSaverCallback(model_dir, save_steps=1000)
      >>> callback.on_train_begin(TrainingContext(step=0, checkpoint=ckpt))
    """

    def __init__(
        self,
        checkpoint_dir,
        *,
        save_secs=None,
        save_steps=None,
        checkpoint_basename="model.ckpt",
        listeners=(),
        max_to_keep=5,
    ):
        self._checkpoint_dir = os.fspath(checkpoint_dir)
        self._timer = _timer(save_secs, save_steps)
        self._basename = checkpoint_basename
        self._listeners = list(listeners or ())
        self._max_to_keep = max_to_keep
        self._manager = None

    @classmethod
    def from_hook(cls, hook):
        """The callback for a ``tf.compat.v1.train.CheckpointSaverHook``."""
        saver = hook._saver
        if saver is None and hook._scaffold is not None:
            saver = hook._scaffold.saver
        return cls(
            hook._checkpoint_dir,
            save_secs=hook._timer._every_secs,
            save_steps=hook._timer._every_steps,
            checkpoint_basename=os.path.basename(hook._save_path),
            listeners=hook._listeners,
            max_to_keep=getattr(saver, "_max_to_keep", 5),
        )

    def on_train_begin(self, context):
        if context.checkpoint is None:
            raise ValueError(
                "`context.checkpoint` is None; CheckpointSaverCallback needs the loop's "
                "`tf.train.Checkpoint(model=..., optimizer=..., step=...)`. Pass it as "
                "`TrainingContext(step=..., checkpoint=...)`."
            )
        self._manager = _compat.tf.train.CheckpointManager(
            context.checkpoint,
            self._checkpoint_dir,
            max_to_keep=self._max_to_keep,
            checkpoint_name=self._basename,
        )
        for listener in self._listeners:
            listener.begin()
        self._save(int(context.step))
        self._timer.update_last_triggered_step(int(context.step))

    def on_step_end(self, step, logs):
        if not self._timer.should_trigger_for_step(step):
            return False
        self._timer.update_last_triggered_step(step)
        return self._save(step)

    def on_train_end(self, step, logs):
        if step != self._timer.last_triggered_step():
            self._save(step)
        for listener in self._listeners:
            listener.end(None, step)

    def _save(self, step):
        """Saves; returns whether a listener asked to stop."""
        for listener in self._listeners:
            listener.before_save(None, step)
        path = self._manager.save(checkpoint_number=step)
        _log().info("Saved checkpoint for step %d: %s", step, path)
        should_stop = False
        for listener in self._listeners:
            if listener.after_save(None, step):
                _log().info("A CheckpointSaverListener asked to stop training: %s", listener)
                should_stop = True
        return should_stop
