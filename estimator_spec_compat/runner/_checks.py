"""After each training loop: a NaN loss, or a global step that does not move, stops training.

Both are read from what the loop returns anyway (its last loss, and the global
step read after it), so they cost the training steps nothing; the train loop
itself ends at the first NaN step (`_loops.make_train_loop`). They run before
anything is logged or saved after that loop, so no checkpoint ever holds the
state of a step whose loss was NaN.

What Estimator did (tensorflow-estimator 2.15, measured):

* NaN: ``Estimator.train`` always added ``NanTensorHook(loss)``, which raised
  ``NanLossDuringTrainingError`` ("NaN loss during training.") after the first NaN
  step; no final checkpoint was written. But a checkpoint due at that very step
  was written first (its CheckpointSaverHook ran before the NanTensorHook), so
  the latest checkpoint could hold the NaN step's state; here it never does.
* A global step that never moves (``optimizer.minimize(loss)`` without
  ``global_step=``): Estimator logged "It seems that global step
  (tf.train.get_global_step) has not been increased" five times and then trained
  on forever, as ``max_steps`` was never reached. Here training stops with a
  ValueError naming the fix once the step has not moved for
  ``max(steps_per_loop, 100)`` steps in a row (some train_ops leave it still for
  a few steps by design: gradient accumulation, skipped loss-scaled steps).
"""

import logging
import math

from estimator_spec_compat._compat import tf, tf_deprecations_silenced
from estimator_spec_compat.runner import _checkpoint

_LOG = logging.getLogger("estimator_spec_compat.runner")

#: The fewest steps in a row without a global step increment that stop training.
MIN_STALLED_STEPS = 100


class LoopChecks:
    """Checks the outcome of each training loop (or hooked step) of one ``train`` call.

    Args:
      config: the `RunnerConfig` (``stop_on_nan_loss``, ``steps_per_loop``, ``model_dir``).
      start: the global step training starts from.
    """

    def __init__(self, config, start):
        self._nan = config.stop_on_nan_loss
        self._limit = max(config.steps_per_loop, MIN_STALLED_STEPS)
        self._model_dir = config.model_dir
        self._step = start
        self._stalled = 0

    def after_loop(self, step, ran, loss):
        """Raises if the loop that just ran ``ran`` steps up to global ``step`` went wrong.

        Raises:
          tf.compat.v1.train.NanLossDuringTrainingError: the last step's loss is NaN.
          ValueError: the global step has not moved for too many steps.
        """
        if not ran:
            return
        if self._nan and math.isnan(loss):
            _LOG.error("Model diverged with loss = NaN (global step %d).", step)
            with tf_deprecations_silenced():  # its __new__ is marked deprecated
                error = tf.compat.v1.train.NanLossDuringTrainingError()
            error.add_note(
                f"The loss was NaN at global step {step}; nothing was saved after that step, "
                f"the latest checkpoint is {_checkpoint.latest(self._model_dir)}. Fix the model or input (or turn "
                "the check off with RunnerConfig(stop_on_nan_loss=False))."
            )
            raise error
        self._stalled = self._stalled + ran if step == self._step else 0
        self._step = step
        if self._stalled >= self._limit:
            raise ValueError(_stalled_message(step, self._stalled))


def _stalled_message(step, stalled):
    return (
        f"The global step has not moved for {stalled} training steps (it stays at {step}): "
        "the model_fn's train_op does not increment it, so training would never reach "
        "`max_steps` (Estimator warned 'It seems that global step (tf.train.get_global_step) "
        "has not been increased' and trained on forever). Fix: pass the global step to the "
        "optimizer, `optimizer.minimize(loss, "
        "global_step=tf.compat.v1.train.get_or_create_global_step())` (or "
        "`apply_gradients(..., global_step=...)`), or increment it in the train_op."
    )
