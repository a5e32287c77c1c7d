"""Progress of train, evaluate and predict, as log records (the display is the caller's).

Two kinds of records, both on Python ``logging`` (the library configures no
handler; the command line does, see `estimator_spec_compat.cli.configure_logging`):

- Estimator's own lines, at INFO on ``estimator_spec_compat.runner`` every
  ``log_step_count_steps`` steps, formatted as its StepCounterHook and
  LoggingTensorHook printed them (``global_step/sec: 412.3``, then
  ``loss = 0.1234567, step = 200 (0.485 sec)``), and its evaluation's
  ``Evaluation [k/N]``. They carry ``progress_line=True``, so a terminal display
  can drop them for its own.
- `ProgressUpdate` records at DEBUG on ``estimator_spec_compat.progress`` (the
  record's ``progress`` attribute), at most one per `_INTERVAL` seconds and one
  at the end, for a display that redraws a line in place. Nothing is built
  unless that logger is enabled for DEBUG.

Both are made between loops only (``steps_per_loop`` steps; one step with hooks,
one batch in predict): a clock read, nothing per step inside a loop.
"""

import dataclasses
import logging
import time

import numpy as np

_LOG = logging.getLogger("estimator_spec_compat.runner")
_PROGRESS = logging.getLogger("estimator_spec_compat.progress")

#: Seconds between two progress records of one phase.
_INTERVAL = 0.5
_LINE = {"progress_line": True}


@dataclasses.dataclass(frozen=True)
class ProgressUpdate:
    """Where a train, evaluate or predict call stands.

    Attributes:
      mode: ``"train"``, ``"eval"`` or ``"predict"``.
      done: the global step (train) or batches done (eval, predict).
      total: the step or batch count it ends at, None if unknown.
      loss: the last loop's mean loss (train), else None.
      rate: steps (batches) per second since the first loop ended.
      elapsed: seconds since the phase began.
      final: whether the phase has ended.
    """

    mode: str
    done: int
    total: int | None
    loss: float | None
    rate: float | None
    elapsed: float
    final: bool = False

    @property
    def eta(self):
        """Seconds left, if the total and the rate are known."""
        if self.total is None or not self.rate or self.final:
            return None
        return max(self.total - self.done, 0) / self.rate

    def __str__(self):
        unit, units = ("step", "steps") if self.mode == "train" else ("batch", "batches")
        parts = [f"{self.mode}: {unit} {self.done}" + (f"/{self.total}" if self.total else "")]
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4g}")
        if self.rate:
            parts.append(f"{self.rate:.4g} {units}/sec")
        if self.eta is not None:
            parts.append(f"ETA {_clock(self.eta)}")
        if self.final:
            parts.append(f"done in {_clock(self.elapsed)}")
        return ", ".join(parts)


def _clock(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Emits `ProgressUpdate` records for one phase, throttled.

    Args:
      mode: ``"train"``, ``"eval"`` or ``"predict"``.
      start: the count the phase starts from (train: the global step).
      total: the count it ends at, None if unknown.
    """

    def __init__(self, mode, start=0, total=None):
        self._mode, self._start, self._total = mode, start, total
        self._began = time.perf_counter()
        self._first = None  # (count, time) when the first loop ended: rates exclude tracing
        self._last_emit = float("-inf")
        self._done, self._loss = start, None

    def update(self, done, loss=None):
        """Notes ``done`` (and the loss); emits a record if one is due."""
        self._done, self._loss = done, loss
        if not _PROGRESS.isEnabledFor(logging.DEBUG):
            return
        now = time.perf_counter()
        if self._first is None:
            self._first = (done, now)
        if now - self._last_emit >= _INTERVAL:
            self._last_emit = now
            self._emit(now, final=False)

    def finish(self):
        """Emits the phase's last record."""
        if _PROGRESS.isEnabledFor(logging.DEBUG):
            self._emit(time.perf_counter(), final=True)

    def _emit(self, now, final):
        rate = None
        if self._first is not None and now > self._first[1] and self._done > self._first[0]:
            rate = (self._done - self._first[0]) / (now - self._first[1])
        update = ProgressUpdate(
            self._mode, self._done, self._total, self._loss, rate, now - self._began, final
        )
        _PROGRESS.debug("%s", update, extra={"progress": update})


class StepLog:
    """Estimator's training log lines every ``every`` steps (None: none).

    As LoggingTensorHook: ``loss = <float32>, step = <int>``, with ``(x.xxx sec)``
    since the last such line from the second on; as StepCounterHook, before it
    from the second on: ``global_step/sec: %g``.
    """

    def __init__(self, every, start):
        self._every, self._last_step, self._last_time = every, None, None
        self._start = start

    def after_loop(self, step, loss):
        """Logs if ``every`` steps passed since the last line (or this is the first loop)."""
        if not self._every or not _LOG.isEnabledFor(logging.INFO):
            return
        last = self._start if self._last_step is None else self._last_step
        if self._last_step is not None and step - last < self._every:
            return
        now = time.perf_counter()
        text = f"loss = {np.float32(loss)!s}, step = {step}"
        if self._last_time is not None:
            rate = (step - last) / max(now - self._last_time, 1e-9)
            _LOG.info("global_step/sec: %g", rate, extra=_LINE)
            text += f" ({now - self._last_time:.3f} sec)"
        _LOG.info("%s", text, extra=_LINE)
        self._last_step, self._last_time = step, now


def known_batches(dataset):
    """How many batches ``dataset`` gives, if tf.data knows (else None)."""
    count = int(dataset.cardinality().numpy())
    return count if count >= 0 else None


class EvalProgress:
    """Evaluation's progress: Estimator's ``Evaluation [k/N]`` lines and `Progress` records.

    As Estimator's evaluation hook: with ``N`` known, a line at each tenth (here:
    the first loop end at or past it) and at the end; without, ``Evaluation [k]``
    after each loop.
    """

    def __init__(self, total):
        self._total = total
        self._every = max(total // 10, 1) if total else None
        self._logged = 0
        self.progress = Progress("eval", 0, total)

    def update(self, done):
        """Notes ``done`` batches after a loop."""
        self.progress.update(done)
        if self._every is None:
            _LOG.info("Evaluation [%d]", done, extra=_LINE)
        elif done - self._logged >= self._every or done == self._total:
            _LOG.info("Evaluation [%d/%d]", done, self._total, extra=_LINE)
            self._logged = done

    def finish(self):
        self.progress.finish()
