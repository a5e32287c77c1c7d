"""The training part of one ``Runner.train`` call: loops of steps, reports, saves.

Without hooks, ``steps_per_loop`` steps run per ``tf.function`` call (`_loops`);
with hooks (``train(hooks=...)``, the spec's training hooks) one step per call
(`_hooks.HookedTraining`). After each call: logs, summaries and saves when due
(`_reporting.LoopReporter`); a saving listener may stop training there, and so
does a SIGINT / SIGTERM received during the loop (`_interrupt`).
"""

from estimator_spec_compat._compat import ModeKeys, tf
from estimator_spec_compat.runner import _data, _interrupt
from estimator_spec_compat.runner._hooks import HookedTraining
from estimator_spec_compat.runner._reporting import LoopReporter


def train(programs, config, dataset, has_labels, hooks, start, target, save):
    """Trains from global step ``start`` to ``target`` (None: the input's end).

    Args:
      programs: the runner's `Programs`, built for TRAIN.
      config: the `RunnerConfig` (with ``model_dir``).
      dataset: the training input (one pipeline for all replicas).
      has_labels: whether elements are (features, labels).
      hooks: the hooks given to ``train``; with these or the spec's training hooks,
        one step runs per call.
      start: the global step training starts from.
      target: the global step to stop at, or None.
      save: ``save(step)`` writes a checkpoint; returns whether to stop.

    Returns:
      The last step's mean loss, or None if no step ran.
    """
    reporter = LoopReporter(config, config.model_dir, start, save, target)
    box = [iter(programs.distribute(dataset))]  # the iterator's only owner
    try:
        if hooks or programs.spec_hooks(ModeKeys.TRAIN):
            spec = _data.per_replica_spec(dataset.element_spec, programs.num_replicas)
            hooked = HookedTraining(programs, hooks, spec, has_labels)
            return hooked.run(box[0], start, target, _after_step(reporter))
        infinite = bool(dataset.cardinality().numpy() == tf.data.INFINITE_CARDINALITY)
        return _run_loops(programs, config, box[0], start, target, infinite, reporter)
    finally:
        reporter.close()
        _data.release_in_background(box)


def _run_loops(programs, config, iterator, start, target, infinite, reporter):
    loop = programs.train_loop(iterator, infinite)
    step, per_loop, last_loss = start, config.steps_per_loop, None
    while target is None or step < target:
        n = per_loop if target is None else min(per_loop, target - step)
        ran, loss = loop(tf.constant(n, tf.int64))
        step = int(programs.store.global_step.numpy())
        if int(ran):
            last_loss = float(loss)
            if reporter.after_loop(step, last_loss):
                break
        if int(ran) < n or _interrupt.requested():
            break
    return last_loss


def _after_step(reporter):
    """The hooked loop's ``after_step``: the reporter's, then a stop on SIGINT / SIGTERM."""
    return lambda step, loss: reporter.after_loop(step, loss) or _interrupt.requested()
