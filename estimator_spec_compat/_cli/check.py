"""The ``check`` command: call a model_fn in each mode as Estimator would, validate its specs."""

import inspect

from estimator_spec_compat._cli.loading import UsageError, describe, load_callable, parse_params
from estimator_spec_compat._compat import ModeKeys, tf
from estimator_spec_compat._errors import InvalidSpecError
from estimator_spec_compat.spec import ESTIMATOR_SPEC_FIELDS, EstimatorSpec
from estimator_spec_compat.tpu_spec import TPU_ESTIMATOR_SPEC_FIELDS, TPUEstimatorSpec

_MODES = {
    "train": ModeKeys.TRAIN,
    "eval": ModeKeys.EVAL,
    "infer": ModeKeys.PREDICT,
    "predict": ModeKeys.PREDICT,
}
_TPU_ONLY_FIELDS = ("eval_metrics", "scaffold_fn", "host_call")


def parse_modes(text):
    """``--modes`` (e.g. ``"train,eval,infer"``) as ModeKeys, in order, without repeats."""
    modes = []
    for word in (part.strip().lower() for part in text.split(",")):
        if word not in _MODES:
            raise UsageError(
                f"--modes ({text!r}): {word!r} is not a mode. Use a comma-separated list of "
                "train, eval, infer."
            )
        if _MODES[word] not in modes:
            modes.append(_MODES[word])
    return modes


def check_command(args):
    """``check``: prints each mode's problems (or OK) and returns the exit status."""
    model_fn = load_callable(args.model_fn, "MODEL_FN")
    input_fn = _default_input_fn(args.model_fn, args.input_fn)
    params = parse_params(args.params)
    modes = parse_modes(args.modes)
    failed = 0
    for mode in modes:
        problems, kind = check_mode(model_fn, input_fn, mode, params)
        if problems:
            failed += 1
            count = len(problems)
            print(f"{mode}: {count} problem{'s' if count != 1 else ''}")
            print("\n".join(f"  {i}. {problem}" for i, problem in enumerate(problems, 1)))
        else:
            print(f"{mode}: OK ({kind})")
    if failed:
        print(f"Problems in {failed} of {len(modes)} modes.")
        return 1
    print(f"All {len(modes)} modes OK.")
    return 0


def _default_input_fn(model_fn_reference, input_fn_reference):
    if input_fn_reference:
        return load_callable(input_fn_reference, "--input-fn")
    module_name = model_fn_reference.rpartition(":")[0]
    try:
        return load_callable(f"{module_name}:input_fn", "--input-fn")
    except UsageError:
        raise UsageError(
            f"--input-fn is missing and {module_name!r} has no `input_fn`. Pass "
            "--input-fn MODULE:INPUT_FN (a function returning a tf.data.Dataset of "
            "(features, labels), or the pair itself)."
        ) from None


def check_mode(model_fn, input_fn, mode, params):
    """Calls ``model_fn`` in ``mode`` as Estimator would and validates its spec strictly.

    Args:
      model_fn: the user's model_fn.
      input_fn: the user's input_fn; its first batch becomes features and labels.
      mode: a `ModeKeys` value.
      params: the dict passed as ``params`` (a copy each call).

    Returns:
      ``(problems, kind)``: a list of problem sentences (empty when OK) and the
      name of the spec class returned (or None).
    """
    with tf.Graph().as_default():
        tf.compat.v1.train.get_or_create_global_step()
        try:
            features, labels = _first_batch(input_fn, mode, dict(params))
        except Exception as error:  # the user's code: report, do not crash
            return [f"input_fn raised {describe(error)}"], None
        kwargs = _wanted_kwargs(model_fn, labels=labels, mode=mode, params=dict(params))
        if "labels" not in kwargs and labels is not None:
            return [
                "model_fn does not take `labels`, but input_fn returns labels. Fix: add a "
                "`labels` argument to model_fn, or return features only from input_fn."
            ], None
        try:
            spec = model_fn(features=features, **kwargs, **_wanted_kwargs(model_fn, config=None))
        except InvalidSpecError as error:
            return [str(problem) for problem in error.problems], error.spec_name
        except Exception as error:  # the user's code, or upstream's own spec checks
            return [f"model_fn raised {describe(error)}"], None
        return _validate(spec, mode), type(spec).__name__


def _first_batch(input_fn, mode, params):
    """Features and labels from ``input_fn``, as Estimator's ``parse_input_fn_result``."""
    result = input_fn(**_wanted_kwargs(input_fn, mode=mode, params=params, config=None))
    if isinstance(result, tf.data.Dataset):
        result = tf.compat.v1.data.make_initializable_iterator(result).get_next()
    if isinstance(result, (list, tuple)):
        if len(result) != 2:
            raise ValueError("input_fn should return (features, labels) as a len 2 tuple.")
        features, labels = result
    else:
        features, labels = result, None
    return features, (None if mode == ModeKeys.PREDICT else labels)


def _wanted_kwargs(fn, **candidates):
    names = {
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    return {key: value for key, value in candidates.items() if key in names}


def _validate(spec, mode):
    """Problems of ``spec`` (any object with the spec fields), rebuilt as this package's class."""
    is_tpu = all(hasattr(spec, field) for field in _TPU_ONLY_FIELDS)
    cls, fields = (
        (TPUEstimatorSpec, TPU_ESTIMATOR_SPEC_FIELDS)
        if is_tpu
        else (EstimatorSpec, ESTIMATOR_SPEC_FIELDS)
    )
    if not all(hasattr(spec, field) for field in fields):
        return [
            f"model_fn returned {type(spec).__name__}, not a spec. Return an EstimatorSpec "
            "or a TPUEstimatorSpec."
        ]
    try:
        rebuilt = cls(**{field: getattr(spec, field) for field in fields})
        if is_tpu:
            rebuilt.as_estimator_spec()  # calls metric_fn and host_call fn as on CPU
    except InvalidSpecError as error:
        return [str(problem) for problem in error.problems]
    except Exception as error:  # metric_fn / host_call fn / scaffold_fn are user code
        return [f"TPUEstimatorSpec.as_estimator_spec() raised {describe(error)}"]
    if rebuilt.mode != mode:
        return [
            f"`mode` ({rebuilt.mode!r}): the model_fn was called in mode {mode!r} and must "
            "return a spec for that mode. Fix: pass the `mode` argument on (`mode=mode`)."
        ]
    return []
