"""The training part of one ``Runner.train`` call: loops of steps, reports, saves.

Without hooks, ``steps_per_loop`` steps run per ``tf.function`` call (`_loops`);
with hooks (``train(hooks=...)``, the spec's training hooks) one step per call
(`_hooks.HookedTraining`). After each call: a NaN loss or a global step that
does not move stops training (`_checks.LoopChecks`); then logs, summaries and
saves when due (`_reporting.LoopReporter`); a saving listener may stop training there,
and so does a SIGINT / SIGTERM received during the loop (`_interrupt`).
"""

from estimator_spec_compat._compat import ModeKeys, tf
from estimator_spec_compat.runner import _data, _interrupt
from estimator_spec_compat.runner._checks import LoopChecks
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
    checks = LoopChecks(config, start)
    box = [iter(programs.distribute(dataset))]  # the iterator's only owner
    try:
        if hooks or programs.spec_hooks(ModeKeys.TRAIN):
            spec = _data.per_replica_spec(dataset.element_spec, programs.num_replicas)
            hooked = HookedTraining(programs, hooks, spec, has_labels)

            def after_step(step, loss, summary):
                checks.after_loop(step, 1, loss)
                return reporter.after_loop(step, loss, summary) or _interrupt.requested()

            return hooked.run(box[0], start, target, after_step, reporter.summary_due)
        infinite = bool(dataset.cardinality().numpy() == tf.data.INFINITE_CARDINALITY)
        loops = (programs, config, box[0], start, target, infinite)
        return _run_loops(*loops, reporter, checks)
    finally:
        reporter.close()
        _data.release_in_background(box)


def _run_loops(programs, config, iterator, start, target, infinite, reporter, checks):
    loop = programs.train_loop(iterator, infinite)
    step, per_loop, last_loss = start, config.steps_per_loop, None
    while target is None or step < target:
        n = per_loop if target is None else min(per_loop, target - step)
        ran, loss, summary = loop(n, summarize=reporter.summary_due(step + n))
        step = int(programs.store.global_step.numpy())
        checks.after_loop(step, ran, loss)
        if ran:
            last_loss = loss
            if reporter.after_loop(step, last_loss, summary):
                break
        if ran < n or _interrupt.requested():
            break
    return last_loss
