"""Calling a legacy model_fn / input_fn as Estimator did, and reading what it returns.

Arguments are introspected like ``Estimator._call_model_fn`` and
``Estimator._call_input_fn``: ``features`` always, ``labels``, ``mode``,
``params`` and ``config`` only where the function names them. The returned spec
is read by its fields (duck-typed), so this package's specs and upstream's both
work; a spec with ``eval_metrics`` is read with TPUEstimatorSpec semantics.
"""

import dataclasses
import inspect

from estimator_spec_compat._checker import is_strict
from estimator_spec_compat._compat import tf, tf1_tensor_hashing
from estimator_spec_compat._errors import short_repr

_KERAS_3_MESSAGE = (
    "The model_fn uses tf.compat.v1.layers (or another Keras 2 API), which is not available "
    "with Keras 3. Install tf-keras matching your TensorFlow (`pip install tf-keras`) and set "
    "the environment variable TF_USE_LEGACY_KERAS=1 before TensorFlow is first imported."
)
_MODEL_FN_ARGS = frozenset({"features", "labels", "mode", "params", "config"})


def fn_args(fn):
    """The names of ``fn``'s parameters (functools.partial and callables included)."""
    try:
        return tuple(inspect.signature(fn).parameters)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"`model_fn`/`input_fn` ({short_repr(fn)}) must be a Python callable whose "
            f"signature can be read: {error}"
        ) from error


def check_model_fn(model_fn):
    """Checks ``model_fn``'s signature as Estimator's ``_verify_model_fn_args`` does.

    Raises:
      TypeError: if ``model_fn`` is not callable.
      ValueError: if it does not take ``features`` or takes unknown required arguments.
    """
    if not callable(model_fn):
        raise TypeError(f"`model_fn` ({short_repr(model_fn)}) must be callable.")
    args = fn_args(model_fn)
    if "features" not in args:
        raise ValueError(
            f"`model_fn` ({model_fn}) must take an argument named `features`; it takes {args}."
        )
    params = inspect.signature(model_fn).parameters.values()
    unknown = [
        p.name
        for p in params
        if p.name not in _MODEL_FN_ARGS
        and p.default is p.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if unknown:
        raise ValueError(
            f"`model_fn` ({model_fn}) has required arguments {unknown} the runner cannot "
            f"pass; it passes only {sorted(_MODEL_FN_ARGS)}. Give them defaults."
        )


def call_model_fn(model_fn, features, labels, mode, params, config):
    """Calls ``model_fn`` with the arguments it names; returns its spec, read."""
    args = fn_args(model_fn)
    kwargs = {}
    if "labels" in args:
        kwargs["labels"] = labels
    elif labels is not None:
        raise ValueError(
            "`model_fn` does not take `labels`, but `input_fn` returns labels. Return "
            "features only from input_fn, or add a `labels` argument to model_fn."
        )
    for name, value in (("mode", mode), ("params", params), ("config", config)):
        if name in args:
            kwargs[name] = value
    try:
        with tf1_tensor_hashing():  # as in Estimator's graph: tensors hash by identity
            spec = model_fn(features=features, **kwargs)
    except AttributeError as error:
        if "Keras 3" not in str(error):
            _explain_missing_labels(error, kwargs, mode)
            raise
        raise ImportError(_KERAS_3_MESSAGE + f" (TensorFlow said: {error})") from error
    except Exception as error:
        _explain_missing_labels(error, kwargs, mode)
        raise
    return read_spec(spec, mode)


def _explain_missing_labels(error, kwargs, mode):
    """Raises a ValueError saying the input had no labels, if that is what failed.

    In TRAIN and EVAL a model_fn called with ``labels=None`` (the input_fn's dataset
    yields features only) mostly fails deep inside TF's losses; the error says so.
    Model_fns that need no labels (unsupervised ones) never get here.
    """
    if "labels" not in kwargs or kwargs["labels"] is not None or mode == "infer":
        return
    raise ValueError(
        f"The model_fn failed in {mode!r} mode, called with labels=None because `input_fn` "
        "returned no labels (its dataset yields features only). Fix: return "
        "(features, labels) pairs from input_fn in TRAIN and EVAL. The model_fn's error: "
        f"{type(error).__name__}: {error}"
    ) from error


def call_input_fn(input_fn, *, mode, params, config, input_context):
    """Calls ``input_fn`` with the arguments it names (mode, params, config, input_context)."""
    if not callable(input_fn):
        raise TypeError(f"`input_fn` ({short_repr(input_fn)}) must be callable.")
    args = fn_args(input_fn)
    values = {"mode": mode, "params": params, "config": config, "input_context": input_context}
    return input_fn(**{k: v for k, v in values.items() if k in args})


@dataclasses.dataclass(frozen=True)
class Spec:
    """The fields of an EstimatorSpec / TPUEstimatorSpec that the runner uses.

    Attributes:
      loss, train_op, predictions, export_outputs: as in EstimatorSpec.
      eval_metric_ops: EstimatorSpec's dict, or None.
      eval_metrics: TPUEstimatorSpec's ``(metric_fn, tensors)``, or None.
      host_call: TPUEstimatorSpec's ``(fn, tensors)``, or None.
      hooks: the spec's training/evaluation/prediction hooks for the mode (in TRAIN
        also ``training_chief_hooks`` where this worker is the chief).
      scaffold_fn: TPUEstimatorSpec's ``scaffold_fn``, or None.
      scaffold: EstimatorSpec's ``scaffold``, or what ``scaffold_fn()`` returned
        (called in the model_fn's graph, as TPUEstimator called it), or None.
    """

    loss: object = None
    train_op: object = None
    predictions: object = None
    export_outputs: object = None
    eval_metric_ops: object = None
    eval_metrics: object = None
    host_call: object = None
    hooks: tuple = ()
    scaffold_fn: object = None
    scaffold: object = None


_HOOK_FIELD = {
    "train": "training_hooks",
    "eval": "evaluation_hooks",
    "infer": "prediction_hooks",
}


def read_spec(spec, mode):
    """Reads an EstimatorSpec-like object by its fields.

    Raises:
      TypeError: if ``spec`` has neither EstimatorSpec's nor TPUEstimatorSpec's fields.
    """
    is_tpu = hasattr(spec, "eval_metrics")
    needed = ("mode", "loss", "predictions", "train_op", "export_outputs")
    if not all(hasattr(spec, f) for f in needed) or not (
        is_tpu or hasattr(spec, "eval_metric_ops")
    ):
        raise TypeError(
            f"`model_fn` must return an EstimatorSpec or TPUEstimatorSpec (or an object "
            f"with their fields); it returned {short_repr(spec)}."
        )
    _check_mode(spec.mode, mode)
    predictions = spec.predictions
    if isinstance(predictions, dict) and not predictions:
        predictions = None
    scaffold_fn = getattr(spec, "scaffold_fn", None)
    scaffold = scaffold_fn() if scaffold_fn is not None else getattr(spec, "scaffold", None)
    return Spec(
        loss=_scalar_loss(spec.loss),
        train_op=spec.train_op,
        predictions=predictions,
        export_outputs=spec.export_outputs,
        eval_metric_ops=None if is_tpu else (spec.eval_metric_ops or None),
        eval_metrics=spec.eval_metrics if is_tpu else None,
        host_call=getattr(spec, "host_call", None),
        hooks=_hooks_of(spec, mode),
        scaffold_fn=scaffold_fn,
        scaffold=scaffold,
    )


_MODE_NAMES = {"train": "ModeKeys.TRAIN", "eval": "ModeKeys.EVAL", "infer": "ModeKeys.PREDICT"}


def _check_mode(got, mode):
    """A spec of another mode than the model_fn was called in is an error (strict validation).

    Estimator used whichever spec came back (a PREDICT spec with a train_op trained).
    """
    if got == mode or not is_strict():
        return
    raise ValueError(
        f"The model_fn was called in mode {mode!r} ({_MODE_NAMES.get(mode, mode)}) but "
        f"returned a spec of mode {got!r} ({_MODE_NAMES.get(got, 'not a mode')}). Fix: build "
        "the spec with the `mode` the model_fn receives (`EstimatorSpec(mode=mode, ...)`); "
        "estimator_spec_compat.lenient_validation() lets it pass, as Estimator did."
    )


def _hooks_of(spec, mode):
    hooks = tuple(getattr(spec, _HOOK_FIELD.get(mode, ""), None) or ())
    if mode == "train" and tf.distribute.get_strategy().extended.should_checkpoint:
        # The chief's hooks, as Estimator ran them (on the only worker, or the chief).
        hooks += tuple(getattr(spec, "training_chief_hooks", None) or ())
    return hooks


def _scalar_loss(loss):
    if loss is not None and isinstance(loss, tf.Tensor) and loss.shape.rank == 1:
        return tf.reshape(loss, [])  # EstimatorSpec accepts shape [1] and reshapes it
    return loss
