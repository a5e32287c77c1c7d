"""`TPUEstimatorSpec`: upstream's fields, checks made at construction, no class state.

Upstream defers most TPU checks (arity of ``eval_metrics``/``host_call``,
keyword names, batch-major tensors) to TPU run time and keeps ``_host_calls``
on the class, so building a second spec breaks ``as_estimator_spec()`` of the
first. Here every check is made at construction and each spec converts with its
own ``(fn, tensors)`` pairs.
"""

import collections

from estimator_spec_compat import _compat
from estimator_spec_compat import _validation as v
from estimator_spec_compat._checker import Checker
from estimator_spec_compat._compat import summary_ops_v2, tf
from estimator_spec_compat._errors import InvalidSpecError, Problem, short_repr
from estimator_spec_compat._export_outputs import check_export_outputs
from estimator_spec_compat._host_fn import call_host_fn, callable_without_arguments, check_host_fn
from estimator_spec_compat.spec import EstimatorSpec, replace_fields

TPU_ESTIMATOR_SPEC_FIELDS = (
    "mode",
    "predictions",
    "loss",
    "train_op",
    "eval_metrics",
    "export_outputs",
    "scaffold_fn",
    "host_call",
    "training_hooks",
    "evaluation_hooks",
    "prediction_hooks",
)

if _compat.HAS_ESTIMATOR:
    _Base = _compat.UPSTREAM_TPU_ESTIMATOR_SPEC
else:
    _Base = collections.namedtuple("TPUEstimatorSpec", TPU_ESTIMATOR_SPEC_FIELDS)

__all__ = ["TPUEstimatorSpec", "call_host_fn", "eval_metrics_to_ops"]


def _check_scaffold_fn(ck, scaffold_fn):
    if scaffold_fn is None:
        return scaffold_fn
    if not callable(scaffold_fn):
        # Upstream never checks it at construction (and skips a falsy one later).
        ck.add_strict(
            "scaffold_fn",
            scaffold_fn,
            "must be a callable taking no arguments and returning a Scaffold.",
            "pass a function, e.g. `scaffold_fn=lambda: tf.compat.v1.train.Scaffold(...)`.",
            kind="type",
        )
        return scaffold_fn
    if not callable_without_arguments(scaffold_fn):
        ck.add_strict(
            "scaffold_fn",
            scaffold_fn,
            "must be callable with no arguments.",
            "give every argument a default, or wrap it: `lambda: make_scaffold(...)`.",
        )
    return scaffold_fn


class _HostCallHook(tf.compat.v1.train.SessionRunHook):
    """Runs a host_call's ops every step on CPU (upstream's ``_OutfeedHostCallHook``)."""

    def __init__(self, tensors):
        self._tensors = tensors
        self._init_ops = []
        self._finalize_ops = []

    def begin(self):
        self._init_ops = summary_ops_v2.summary_writer_initializer_op()
        self._finalize_ops = [
            summary_ops_v2.legacy_raw_flush(writer=op.inputs[0]) for op in self._init_ops
        ]

    def after_create_session(self, session, coord):
        session.run(self._init_ops)

    def before_run(self, run_context):
        return tf.compat.v1.train.SessionRunArgs(self._tensors)

    def end(self, session):
        session.run(self._finalize_ops)


def eval_metrics_to_ops(eval_metrics):
    """Turns a TPUEstimatorSpec ``eval_metrics`` pair into an ``eval_metric_ops`` dict.

    Calls ``metric_fn`` on CPU with the (unconcatenated) tensors, as
    ``TPUEstimator(use_tpu=False)`` does: a list/tuple is passed as positional
    arguments, a dict as keyword arguments.

    Example:
      >>> def metric_fn(labels, logits):
      ...     return {"acc": tf.compat.v1.metrics.accuracy(labels, tf.argmax(logits, 1))}
      >>> ops = eval_metrics_to_ops((metric_fn, [labels, logits]))

    Args:
      eval_metrics: ``(metric_fn, tensors)`` or None.

    Returns:
      The dict metric_fn returns, or None when ``eval_metrics`` is None.

    Raises:
      InvalidSpecError: if the pair is malformed (see `TPUEstimatorSpec`).
    """
    if eval_metrics is None:
        return None
    ck = Checker("eval_metrics")
    check_host_fn(ck, "eval_metrics", eval_metrics)
    ck.raise_if_any()
    return call_host_fn("eval_metrics", eval_metrics)


class TPUEstimatorSpec(_Base):
    """Ops and objects returned from a ``model_fn`` and passed to TPUEstimator or the runner.

    Same 11 fields, order and defaults as
    ``tf.compat.v1.estimator.tpu.TPUEstimatorSpec``. ``eval_metrics`` and
    ``host_call`` are ``(fn, tensors)`` pairs; tensors are a list (positional
    arguments) or dict (keyword arguments), batch-major since TPU concatenates
    them along axis 0 across replicas. All of it is checked at construction
    against ``fn``'s signature. In the estimator world this subclasses the real
    class, so ``TPUEstimator`` accepts it.

    Example:
      >>> spec = TPUEstimatorSpec(
      ...     mode=mode, loss=loss,
      ...     eval_metrics=(metric_fn, {"labels": labels, "logits": logits}))
      >>> cpu_spec = spec.as_estimator_spec()

    Raises:
      InvalidSpecError: listing every invalid field (a TypeError and a ValueError).
    """

    __slots__ = ()

    def __new__(
        cls,
        mode,
        predictions=None,
        loss=None,
        train_op=None,
        eval_metrics=None,
        export_outputs=None,
        scaffold_fn=None,
        host_call=None,
        training_hooks=None,
        evaluation_hooks=None,
        prediction_hooks=None,
    ):
        ck = Checker(cls.__name__)
        key = v.check_mode(ck, mode)
        train_op = v.check_train_op(ck, train_op, key)
        loss = v.check_loss(ck, loss, key)
        predictions = v.check_predictions(ck, predictions, key, batch_major=True)
        eval_metrics = check_host_fn(ck, "eval_metrics", eval_metrics)
        export_outputs = check_export_outputs(ck, export_outputs, predictions, key)
        scaffold_fn = _check_scaffold_fn(ck, scaffold_fn)
        host_call = check_host_fn(ck, "host_call", host_call)
        training_hooks = v.check_hooks(ck, "training_hooks", training_hooks)
        evaluation_hooks = v.check_hooks(ck, "evaluation_hooks", evaluation_hooks)
        prediction_hooks = v.check_hooks(ck, "prediction_hooks", prediction_hooks)
        ck.raise_if_any()
        return tuple.__new__(
            cls,
            (
                mode,
                predictions,
                loss,
                train_op,
                eval_metrics,
                export_outputs,
                scaffold_fn,
                host_call,
                training_hooks,
                evaluation_hooks,
                prediction_hooks,
            ),
        )

    @property
    def _host_calls(self):
        # Upstream keeps this dict on the class (shared by every spec); here it
        # is derived from this spec's own fields.
        calls = {}
        if self.eval_metrics is not None:
            calls["eval_metrics"] = self.eval_metrics
        if self.host_call is not None:
            calls["host_call"] = self.host_call
        return calls

    def _replace(self, **kwds):
        """A new spec of the same class with fields replaced, validated again."""
        return replace_fields(self, kwds)

    def as_estimator_spec(self):
        """The equivalent CPU `EstimatorSpec` (of this package), as TPUEstimator(use_tpu=False) builds it.

        Calls ``metric_fn`` and the host_call fn with this spec's own tensors,
        calls ``scaffold_fn``, and appends a hook running the host_call's ops
        to every hooks list. Works in a graph, eagerly and inside tf.function
        (what the functions themselves do must suit the context: v1
        ``tf.compat.v1.metrics`` need a graph or `convert.LegacyMetrics`).

        Returns:
          An `EstimatorSpec`.

        Raises:
          InvalidSpecError: if ``scaffold_fn`` returns something other than a
            Scaffold, or the resulting fields are invalid.
        """
        eval_metric_ops = None
        if self.eval_metrics is not None:
            eval_metric_ops = call_host_fn("eval_metrics", self.eval_metrics)
        hooks = ()
        if self.host_call is not None:
            hooks = (_HostCallHook(call_host_fn("host_call", self.host_call)),)
        # Upstream: `self.scaffold_fn() if self.scaffold_fn else None`.
        scaffold = None if v.is_falsy(self.scaffold_fn) else self.scaffold_fn()
        if scaffold is not None and not isinstance(scaffold, tf.compat.v1.train.Scaffold):
            raise InvalidSpecError.from_problems(
                type(self).__name__,
                [
                    Problem(
                        "scaffold_fn()",
                        short_repr(scaffold),
                        "must return a tf.compat.v1.train.Scaffold or None.",
                        "return `tf.compat.v1.train.Scaffold(...)` from scaffold_fn.",
                    )
                ],
            )
        return EstimatorSpec(
            mode=self.mode,
            predictions=self.predictions,
            loss=self.loss,
            train_op=self.train_op,
            eval_metric_ops=eval_metric_ops,
            export_outputs=self.export_outputs,
            scaffold=scaffold,
            training_hooks=self.training_hooks + hooks,
            evaluation_hooks=self.evaluation_hooks + hooks,
            prediction_hooks=self.prediction_hooks + hooks,
        )
