"""`EstimatorSpec`: upstream's fields and semantics, validated strictly.

In the estimator world (tensorflow-estimator importable) the class subclasses
the real ``tf.estimator.EstimatorSpec``, so ``tf.estimator.Estimator`` accepts
it; in the modern world it stands on a namedtuple with the same fields.
"""

import collections

from estimator_spec_compat import _compat
from estimator_spec_compat import _validation as v
from estimator_spec_compat._checker import Checker, is_strict
from estimator_spec_compat._errors import InvalidSpecError, Problem, short_repr
from estimator_spec_compat._eval_metric_ops import check_eval_metric_ops
from estimator_spec_compat._export_outputs import check_export_outputs

ESTIMATOR_SPEC_FIELDS = (
    "mode",
    "predictions",
    "loss",
    "train_op",
    "eval_metric_ops",
    "export_outputs",
    "training_chief_hooks",
    "training_hooks",
    "scaffold",
    "evaluation_hooks",
    "prediction_hooks",
)

if _compat.HAS_ESTIMATOR:
    _Base = _compat.UPSTREAM_ESTIMATOR_SPEC
else:
    _Base = collections.namedtuple("EstimatorSpec", ESTIMATOR_SPEC_FIELDS)


def _same_mode(new, old):
    if new is old:
        return True
    return isinstance(new, str) and isinstance(old, str) and new == old


def replace_fields(spec, kwds):
    """``_replace`` for both spec classes: keeps the subclass, refuses a new mode, validates.

    Upstream's EstimatorSpec refuses a new mode; its TPUEstimatorSpec kept the
    namedtuple's ``_replace``, which allows one, so for it the refusal is a
    strict rule.
    """
    name = type(spec).__name__
    refuse = isinstance(spec, EstimatorSpec) or is_strict()
    if "mode" in kwds and not _same_mode(kwds["mode"], spec.mode) and refuse:
        upstream = isinstance(spec, EstimatorSpec)
        problem = Problem(
            "mode",
            short_repr(kwds["mode"]),
            f"cannot be changed by `_replace` (the spec is for mode {spec.mode!r}).",
            "build a new spec for the other mode.",
            upstream=f"mode of {name} cannot be changed." if upstream else "",
            strict=not upstream,
        )
        raise InvalidSpecError.from_problems(name, [problem])
    unknown = set(kwds) - set(spec._fields)
    if unknown:
        raise TypeError(
            f"`_replace` got unknown field names {sorted(unknown)}; "
            f"{name} has fields {list(spec._fields)}."
        )
    fields = spec._asdict()
    fields.update(kwds)
    return type(spec)(**fields)


class EstimatorSpec(_Base):
    """Ops and objects returned from a ``model_fn`` and passed to an Estimator or the runner.

    Same 11 fields, order, defaults and normalisations as
    ``tf.estimator.EstimatorSpec`` (loss of shape [1] reshaped to a scalar,
    predictions None -> {}, a default ``serving_default`` PredictOutput in
    PREDICT, hooks as tuples, a default Scaffold). Validation is stricter (mode,
    loss dtype, string keys, export_outputs in every mode, Keras metrics
    eagerly and in tf.function) and reports every problem at once in an
    `InvalidSpecError`; `lenient_validation()` restores upstream's rules.

    Example:
      >>> def model_fn(features, labels, mode):
      ...     logits = tf.compat.v1.layers.dense(features, 1)
      ...     loss = tf.compat.v1.losses.mean_squared_error(labels, logits)
      ...     train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
      ...         loss, global_step=tf.compat.v1.train.get_or_create_global_step())
      ...     return EstimatorSpec(mode=mode, loss=loss, train_op=train_op,
      ...                          predictions={"y": logits})

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
        eval_metric_ops=None,
        export_outputs=None,
        training_chief_hooks=None,
        training_hooks=None,
        scaffold=None,
        evaluation_hooks=None,
        prediction_hooks=None,
    ):
        ck = Checker(cls.__name__)
        key = v.check_mode(ck, mode)
        train_op = v.check_train_op(ck, train_op, key)
        loss = v.check_loss(ck, loss, key)
        predictions = v.check_predictions(ck, predictions, key)
        eval_metric_ops = check_eval_metric_ops(ck, eval_metric_ops)
        export_outputs = check_export_outputs(ck, export_outputs, predictions, key)
        training_chief_hooks = v.check_hooks(ck, "training_chief_hooks", training_chief_hooks)
        training_hooks = v.check_hooks(ck, "training_hooks", training_hooks)
        evaluation_hooks = v.check_hooks(ck, "evaluation_hooks", evaluation_hooks)
        prediction_hooks = v.check_hooks(ck, "prediction_hooks", prediction_hooks)
        scaffold = v.check_scaffold(ck, scaffold)
        ck.raise_if_any()
        return tuple.__new__(
            cls,
            (
                mode,
                predictions,
                loss,
                train_op,
                eval_metric_ops,
                export_outputs,
                training_chief_hooks,
                training_hooks,
                scaffold,
                evaluation_hooks,
                prediction_hooks,
            ),
        )

    def _replace(self, **kwds):
        """A new spec of the same class with fields replaced, validated again."""
        return replace_fields(self, kwds)
