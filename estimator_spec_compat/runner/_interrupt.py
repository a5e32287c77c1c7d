"""Ctrl-C and preemption during ``Runner.train``: stop after the loop, save, raise.

Estimator had no such feature: a SIGINT raised ``KeyboardInterrupt`` wherever
Python was (inside ``Session.run`` it waited for the step), everything since
the last timed checkpoint (600 s by default) was lost, and SIGTERM killed the
process outright. Keras' ``BackupAndRestore`` and orbit save on preemption; this
does the same for one process:

- While ``train`` runs (`watching`), SIGINT and SIGTERM only set a flag. The
  training loop asks `requested` after each loop (``steps_per_loop`` steps, or
  one step with hooks) and stops; the runner then saves its final checkpoint as
  usual and raises `TrainingInterrupted` (one line: the signal, the step, the
  checkpoint; ``exit_code`` is the shell's 130 / 143).
- A second signal during that time gets the handling it had before ``train``
  (Python's default: ``KeyboardInterrupt`` at once for SIGINT; SIGTERM ends the
  process).
- Python runs signal handlers only between its own bytecodes: while a loop's
  ``tf.function`` call runs (C++), a signal waits until the loop returns, as
  under Estimator's ``Session.run``; signals that arrive during the same loop
  count once. So "at once" means after the loop in progress, during the final
  save, or in Python code between loops.
- Handlers are installed only in the main thread (the only one Python delivers
  signals to), only over the default handling (a handler of the user's own, or
  an ignored signal, is left alone), and restored when ``train`` returns.

Several workers (MultiWorkerMirroredStrategy): nothing is installed. A worker
that stopped alone would leave the others blocked in their collective ops; TF's
``tf.distribute.experimental.PreemptionCheckpointHandler`` agrees on a step
across workers through the coordination service, but it saves a
``tf.train.Checkpoint`` (object-based), not the runner's TF1-named checkpoints,
so it does not serve here yet. Signals keep their default there: a preempted
cluster restarts from the last timed checkpoint (``save_checkpoints_steps`` /
``save_checkpoints_secs``), as under Estimator.
"""

import contextlib
import logging
import signal
import threading

_LOG = logging.getLogger("estimator_spec_compat.runner")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}

_state = {"received": None, "previous": {}}


class TrainingInterrupted(KeyboardInterrupt):
    """``Runner.train`` stopped on SIGINT or SIGTERM, after saving a checkpoint.

    It derives from ``KeyboardInterrupt``, so code that handles Ctrl-C keeps
    doing so and ``except Exception`` does not swallow it. Train again with the
    same ``model_dir`` to resume from ``checkpoint``.

    Attributes:
      signal_number: the signal received (``signal.SIGINT`` or ``signal.SIGTERM``).
      step: the global step training stopped at (the checkpoint's).
      checkpoint: the prefix of the checkpoint saved at ``step`` (None on a
        worker that does not write checkpoints).
      exit_code: the shell's status for that signal (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, signal_number, step, checkpoint):
        self.signal_number = signal_number
        self.step = step
        self.checkpoint = checkpoint
        self.exit_code = 128 + int(signal_number)
        name = signal.Signals(signal_number).name
        where = f"saved {checkpoint}" if checkpoint else "the chief saves the checkpoint"
        super().__init__(
            f"Training interrupted by {name} at global step {step}: {where}; "
            "train again with the same model_dir to resume."
        )

    def __str__(self):
        return self.args[0]


def requested():
    """Whether SIGINT or SIGTERM arrived since `watching` began (the loop should stop)."""
    return _state["received"] is not None


def received():
    """The signal number received while watching, or None."""
    return _state["received"]


def _handle(signal_number, frame):
    del frame
    _state["received"] = signal_number
    # A second signal: the handling it had before training (KeyboardInterrupt for Ctrl-C).
    signal.signal(signal_number, _state["previous"][signal_number])
    _LOG.warning(
        "%s received: training stops after the current loop and saves a checkpoint "
        "(send it again to stop at once).",
        signal.Signals(signal_number).name,
    )


@contextlib.contextmanager
def watching(enabled=True):
    """Within it, SIGINT / SIGTERM ask training to stop (see the module docstring).

    Args:
      enabled: False installs nothing (several workers).

    Yields:
      Nothing; ask `requested` / `received`.
    """
    installed = {}
    if enabled and threading.current_thread() is threading.main_thread():
        for number in _SIGNALS:
            if signal.getsignal(number) is _DEFAULTS[number]:
                installed[number] = signal.signal(number, _handle)
    _state["received"], _state["previous"] = None, dict(installed)
    try:
        yield
    finally:
        for number, previous in installed.items():
            signal.signal(number, previous)
        _state["previous"] = {}
