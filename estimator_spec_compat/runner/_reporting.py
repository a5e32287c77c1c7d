"""Between training loops: logs, summaries and checkpoints, on RunConfig's schedules.

They happen at loop boundaries (every ``steps_per_loop`` steps), the first
boundary at or after each due step, as TPUEstimator did with
``iterations_per_loop``. Under several workers only the chief writes summaries. Summaries are Estimator's own: ``loss`` and
``global_step/sec`` in ``model_dir``'s event files as ``simple_value`` scalars,
written by Estimator's own event writer: queued to its thread, flushed every
120 s and when ``train`` ends, never after each loop (``tf.summary`` writers
flush whenever their ``as_default`` context exits).
"""

import functools
import logging
import os
import time

import numpy as np

from estimator_spec_compat._compat import EventFileWriter, tf
from estimator_spec_compat.runner._progress import Progress, StepLog

_LOG = logging.getLogger("estimator_spec_compat.runner")


class LoopReporter:
    """Acts on the schedules of a `RunnerConfig` after each training loop.

    Args:
      config: the `RunnerConfig`.
      model_dir: where summaries go.
      start_step: the global step training starts from.
      save: ``save(step)`` writes a checkpoint; returns whether to stop training.
      target: the global step training stops at, if known (for the progress's ETA).
    """

    def __init__(self, config, model_dir, start_step, save, target=None):
        self._config = config
        self._log = StepLog(config.log_step_count_steps, start_step)
        self._progress = Progress("train", start_step, target)
        self._model_dir = model_dir
        self._save = save
        self._last = {"summary": start_step, "save": start_step}
        now = time.perf_counter()
        self._clock = {"summary": now, "save": now}
        self._writer = None

    def _due(self, what, every, step):
        return bool(every) and step - self._last[what] >= every

    def _rate(self, what, step):
        now = time.perf_counter()
        rate = (step - self._last[what]) / max(now - self._clock[what], 1e-9)
        self._last[what], self._clock[what] = step, now
        return rate

    def summary_due(self, step):
        """Whether `after_loop` at ``step`` will write summaries (the model_fn's among them)."""
        return self._config.is_chief and self._due("summary", self._config.save_summary_steps, step)

    def after_loop(self, step, loss, model_summary=None):
        """Logs, writes summaries and saves, each if due at ``step``.

        Args:
          step: the global step after the loop.
          loss: the loop's last loss.
          model_summary: the model_fn's merged summaries (a serialized ``Summary``)
            of the loop's last step, or None; written with ``loss`` when due.

        Returns:
          True if training should stop (a saving listener asked).
        """
        config = self._config
        self._log.after_loop(step, loss)
        self._progress.update(step, loss)
        if self.summary_due(step):
            rate = self._rate("summary", step)
            if self._writer is None:
                self._writer = EventFileWriter(self._model_dir)
            values = [
                tf.compat.v1.Summary.Value(tag="loss", simple_value=loss),
                tf.compat.v1.Summary.Value(tag="global_step/sec", simple_value=rate),
            ]
            if model_summary is not None:
                values.extend(tf.compat.v1.Summary.FromString(model_summary).value)
            summary = tf.compat.v1.Summary(value=values)
            self._writer.add_event(
                tf.compat.v1.Event(wall_time=time.time(), step=step, summary=summary)
            )
        secs = config.save_checkpoints_secs
        if self._due("save", config.save_checkpoints_steps, step) or (
            secs is not None and time.perf_counter() - self._clock["save"] >= secs
        ):
            self._last["save"], self._clock["save"] = step, time.perf_counter()
            return bool(self._save(step))
        return False

    def close(self):
        """Ends the progress; flushes and closes the summary writer."""
        self._progress.finish()
        if self._writer is not None:
            self._writer.close()


def write_eval_summaries(model_dir, name, results):
    """Writes evaluation results as Estimator did: scalars in ``model_dir/eval[_name]``.

    Returns:
      The directory written to.
    """
    _LOG.info(  # Estimator's line (estimator.py, _write_dict_to_summary)
        "Saving dict for global step %d: %s",
        int(results["global_step"]),
        ", ".join(f"{k} = {v}" for k, v in sorted(results.items()) if not isinstance(v, bytes)),
    )
    directory = os.path.join(model_dir, "eval" if not name else f"eval_{name}")
    writer = tf.summary.create_file_writer(directory)
    step = int(results["global_step"])
    with writer.as_default(step=step):
        for key, value in sorted(results.items()):
            if key != "global_step" and np.ndim(value) == 0:
                _scalar(key, float(value))
    writer.close()
    return directory


@functools.cache
def _scalar_metadata():
    plugin = tf.compat.v1.SummaryMetadata.PluginData(plugin_name="scalars")
    return tf.compat.v1.SummaryMetadata(plugin_data=plugin).SerializeToString()


def _scalar(tag, value):
    """A TensorBoard scalar via ``tf.summary.write`` (no tensorboard package needed)."""
    tf.summary.write(tag, tf.constant(value, tf.float32), metadata=_scalar_metadata())
