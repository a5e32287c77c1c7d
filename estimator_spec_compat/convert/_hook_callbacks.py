"""The callback protocol and the callbacks of hooks that only read tensors or steps.

The callbacks that write files (summaries, checkpoints) live in
``_hook_writers.py``.  Semantics follow ``tensorflow/python/training/
basic_session_run_hooks.py`` (same in TF 2.15 and 2.21).
"""

import dataclasses

import numpy as np

from estimator_spec_compat import _compat


@dataclasses.dataclass(frozen=True)
class TrainingContext:
    """What a loop tells its callbacks when training begins.

    Attributes:
      step: the global step before the first step of this run.
      checkpoint: the ``tf.train.Checkpoint`` holding the training state (model,
        optimizer, step); needed by :class:`CheckpointSaverCallback`.
    """

    step: int = 0
    checkpoint: object = None


class TrainingCallback:
    """Base class of TF2 training-loop callbacks; every method is a no-op.

    Example:
      >>> class PrintLoss(TrainingCallback):
      ...     def __init__(self, loss):
      ...         self._loss = loss
      ...     def fetches(self):
      ...         return {"loss": self._loss}
      ...     def on_step_end(self, step, logs):
      ...         print(step, logs["loss"])
      ...         return False
    """

    def fetches(self):
        """Tensors (or tensor names) the loop evaluates each step, by key.

        Their values come back in ``logs`` under the same keys.
        """
        return {}

    def on_train_begin(self, context):
        """Called once before the first step with a :class:`TrainingContext`."""

    def on_step_end(self, step, logs):
        """Called after each step; ``step`` is the global step after it.

        Returns:
          True to ask the loop to stop (v1's ``run_context.request_stop()``).
        """
        return False

    def on_train_end(self, step, logs):
        """Called once after the last step, with that step's ``logs``."""


def _timer(every_secs, every_steps):
    return _compat.tf.compat.v1.train.SecondOrStepTimer(
        every_secs=every_secs, every_steps=every_steps
    )


def _log():
    return _compat.tf.compat.v1.logging


class StopAtStepCallback(TrainingCallback):
    """Asks to stop once the global step reaches ``last_step`` (StopAtStepHook).

    With ``num_steps``, ``last_step`` is the step at ``on_train_begin`` plus
    ``num_steps``, as the hook computed it when the session was created.

    Example:
      >>> callback = StopAtStepCallback(num_steps=100)
    """

    def __init__(self, *, num_steps=None, last_step=None):
        if (num_steps is None) == (last_step is None):
            raise ValueError(
                f"Exactly one of `num_steps` ({num_steps}) and `last_step` ({last_step}) "
                "must be given."
            )
        self._num_steps = num_steps
        self._last_step = last_step

    @classmethod
    def from_hook(cls, hook):
        """The callback for a ``tf.compat.v1.train.StopAtStepHook``."""
        if hook._num_steps is not None:
            return cls(num_steps=hook._num_steps)
        return cls(last_step=hook._last_step)

    @property
    def last_step(self):
        """The step to stop at (None until ``on_train_begin`` with ``num_steps``)."""
        return self._last_step

    def on_train_begin(self, context):
        if self._num_steps is not None:
            self._last_step = int(context.step) + self._num_steps

    def on_step_end(self, step, logs):
        if self._last_step is None:
            raise ValueError(
                "`on_train_begin(context)` was not called, so `last_step` is unknown "
                f"(`num_steps` is {self._num_steps}); call it before the first step."
            )
        return step >= self._last_step


class NanLossCallback(TrainingCallback):
    """Fails (or stops) when the loss is NaN (NanTensorHook).

    Raises the very ``tf.compat.v1.train.NanLossDuringTrainingError`` the hook
    raised; with ``fail_on_nan_loss=False`` it logs a warning and asks to stop.

    Example:
      >>> callback = NanLossCallback(loss)     # fetches {"loss": loss}
    """

    def __init__(self, loss, *, fail_on_nan_loss=True):
        self._loss = loss
        self._fail_on_nan_loss = fail_on_nan_loss

    @classmethod
    def from_hook(cls, hook):
        """The callback for a ``tf.compat.v1.train.NanTensorHook``."""
        return cls(hook._loss_tensor, fail_on_nan_loss=hook._fail_on_nan_loss)

    def fetches(self):
        return {"loss": self._loss}

    def on_step_end(self, step, logs):
        if not np.isnan(logs["loss"]):
            return False
        message = "Model diverged with loss = NaN."
        if self._fail_on_nan_loss:
            _log().error(message)
            raise _compat.tf.compat.v1.train.NanLossDuringTrainingError
        _log().warning(message)
        return True


class LoggingTensorCallback(TrainingCallback):
    """Logs tensors every N local steps, every N seconds and/or at the end (LoggingTensorHook).

    The log lines are the hook's: ``"tag = value, ... (0.123 sec)"`` at INFO on
    TF's logger, or ``formatter(values)``.  Steps are counted locally from 0 (the
    first step is logged), as the hook counted ``after_run`` calls.

    Example:
      >>> callback = LoggingTensorCallback({"loss": loss}, every_n_iter=100)
    """

    def __init__(
        self, tensors, *, every_n_iter=None, every_n_secs=None, at_end=False, formatter=None
    ):
        only_at_end = at_end and every_n_iter is None and every_n_secs is None
        if not only_at_end and (every_n_iter is None) == (every_n_secs is None):
            raise ValueError(
                f"`every_n_iter` ({every_n_iter}) / `every_n_secs` ({every_n_secs}): give "
                "exactly one of them, or neither with `at_end=True`."
            )
        if every_n_iter is not None and every_n_iter <= 0:
            raise ValueError(f"`every_n_iter` ({every_n_iter}) must be a positive integer.")
        if isinstance(tensors, dict):
            self._tag_order = sorted(tensors)
        else:
            self._tag_order = list(tensors)
            tensors = {tag: tag for tag in self._tag_order}
        self._tensors = {_tag(tag): tensor for tag, tensor in tensors.items()}
        self._tag_order = [_tag(tag) for tag in self._tag_order]
        self._formatter = formatter
        self._at_end = at_end
        self._timer = None if only_at_end else _timer(every_n_secs, every_n_iter)
        self._iteration = 0

    @classmethod
    def from_hook(cls, hook):
        """The callback for a ``tf.compat.v1.train.LoggingTensorHook``."""
        timer = hook._timer
        every_secs = getattr(timer, "_every_secs", None)
        every_steps = getattr(timer, "_every_steps", None)
        tensors = {_tag(tag): hook._tensors[tag] for tag in hook._tag_order}
        callback = cls(
            tensors,
            every_n_iter=every_steps,
            every_n_secs=every_secs,
            at_end=hook._log_at_end,
            formatter=hook._formatter,
        )
        callback._tag_order = list(tensors)  # v1 order: sorted keys, or the list's order
        return callback

    def fetches(self):
        return dict(self._tensors)

    def on_train_begin(self, context):
        if self._timer is not None:
            self._timer.reset()
        self._iteration = 0

    def on_step_end(self, step, logs):
        if self._timer is not None and self._timer.should_trigger_for_step(self._iteration):
            self._log_values(logs)
        self._iteration += 1
        return False

    def on_train_end(self, step, logs):
        if self._at_end:
            self._log_values(logs)

    def _log_values(self, logs):
        values = {tag: _numpy(logs[tag]) for tag in self._tag_order}
        if self._timer is not None:
            elapsed_secs, _ = self._timer.update_last_triggered_step(self._iteration)
        else:
            elapsed_secs = None
        with np.printoptions(suppress=True):
            if self._formatter:
                _log().info(self._formatter(values))
                return
            stats = ", ".join(f"{tag} = {values[tag]!s}" for tag in self._tag_order)
            if elapsed_secs is not None:
                _log().info("%s (%.3f sec)", stats, elapsed_secs)
            else:
                _log().info("%s", stats)


def _tag(tag):
    """A fetch key for a LoggingTensorHook tag (tensors in a list are their own tags)."""
    if isinstance(tag, str):
        return tag
    name = getattr(tag, "name", None)
    if isinstance(name, str):
        return name
    raise TypeError(
        f"`tensors` holds {tag!r}, which has no name to log it under; pass a dict {{tag: tensor}}."
    )


class FinalOpsCallback(TrainingCallback):
    """Keeps the final values of ``final_ops`` (FinalOpsHook).

    ``final_ops`` is a tensor, a list of tensors or a dict of them;
    :attr:`final_ops_values` has the same structure, taken from the last
    step's values.  When built from a hook, the hook's own ``final_ops_values``
    is set too, so code that reads the hook keeps working.

    Example:
      >>> callback = FinalOpsCallback({"accuracy": accuracy})
      >>> ...   # after training
      >>> callback.final_ops_values["accuracy"]
    """

    def __init__(self, final_ops, *, hook=None):
        self._final_ops = final_ops
        self._hook = hook
        self._values = None

    @classmethod
    def from_hook(cls, hook):
        """The callback for a ``tf.compat.v1.train.FinalOpsHook``."""
        if hook._final_ops_feed_dict:
            raise ValueError(
                "`final_ops_feed_dict` of the FinalOpsHook is set; TF2 has no feeds. Compute "
                "the fed values in the model and drop the feed dict."
            )
        return cls(hook._final_ops, hook=hook)

    @property
    def final_ops_values(self):
        """The values of ``final_ops`` at the end (None before ``on_train_end``)."""
        return self._values

    def fetches(self):
        if self._final_ops is None:
            return {}
        if isinstance(self._final_ops, dict):
            return {f"final/{key}": op for key, op in self._final_ops.items()}
        if isinstance(self._final_ops, (list, tuple)):
            return {f"final/{index}": op for index, op in enumerate(self._final_ops)}
        return {"final": self._final_ops}

    def on_train_end(self, step, logs):
        if self._final_ops is None:
            return
        if isinstance(self._final_ops, dict):
            values = {key: _numpy(logs[f"final/{key}"]) for key in self._final_ops}
        elif isinstance(self._final_ops, (list, tuple)):
            values = [_numpy(logs[f"final/{i}"]) for i in range(len(self._final_ops))]
        else:
            values = _numpy(logs["final"])
        self._values = values
        if self._hook is not None:
            self._hook._final_ops_values = values


def _numpy(value):
    return value.numpy() if hasattr(value, "numpy") else value
