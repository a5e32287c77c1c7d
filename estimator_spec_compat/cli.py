"""The ``estimator-spec-compat`` command: check a model_fn's specs, or train and evaluate it.

Usage::

  estimator-spec-compat check my_model:model_fn [--input-fn my_model:input_fn]
      [--params '{"hidden": 8}'] [--modes train,eval,infer]
  estimator-spec-compat run my_model.py:model_fn --input-fn my_model.py:input_fn
      --model-dir /tmp/model [--eval-input-fn ...] [--steps 100] [--strategy auto]

``MODULE`` is a dotted module name (importable from the current directory) or a
path to a ``.py`` file. Exit status: 0 when every mode is OK (``check``) or
training and evaluation ran (``run``); 1 when a spec has problems or the user's
code raised; 2 for a command line that cannot be followed (the message says
what to change).
"""

import argparse
import importlib
import importlib.util
import inspect
import json
import os
import re
import sys
import traceback

from estimator_spec_compat._compat import ModeKeys, tf
from estimator_spec_compat._errors import InvalidSpecError
from estimator_spec_compat.spec import ESTIMATOR_SPEC_FIELDS, EstimatorSpec
from estimator_spec_compat.tpu_spec import TPU_ESTIMATOR_SPEC_FIELDS, TPUEstimatorSpec

_PROG = "estimator-spec-compat"
_MODES = {
    "train": ModeKeys.TRAIN,
    "eval": ModeKeys.EVAL,
    "infer": ModeKeys.PREDICT,
    "predict": ModeKeys.PREDICT,
}
_TPU_ONLY_FIELDS = ("eval_metrics", "scaffold_fn", "host_call")


class UsageError(Exception):
    """A command line that cannot be followed; exit status 2."""


class _UserCodeError(Exception):
    """Importing the user's module raised; exit status 1."""


def main(argv=None):
    """Runs the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Example:
      >>> main(["check", "my_model:model_fn", "--modes", "train"])
      0

    Args:
      argv: the arguments, without the program name.

    Returns:
      0 (all OK), 1 (problems found, or the user's code raised) or 2 (usage error).
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse's own usage errors, --help
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return args.handler(args)
    except UsageError as error:
        print(f"{_PROG} {args.command}: error: {error}", file=sys.stderr)
        return 2
    except _UserCodeError as error:
        print(f"{_PROG} {args.command}: {error}", file=sys.stderr)
        return 1


def _parser():
    parser = argparse.ArgumentParser(
        prog=_PROG, description="Check or run legacy Estimator model_fns."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="call a model_fn in each mode and validate its specs strictly",
        description="Builds features and labels from the input_fn's first batch in a tf.Graph "
        "(as Estimator does), calls the model_fn in each mode and validates the spec it returns.",
    )
    check.add_argument("model_fn", metavar="MODULE:MODEL_FN")
    check.add_argument(
        "--input-fn",
        metavar="MODULE:INPUT_FN",
        help="default: MODULE:input_fn, when the model_fn's module has one",
    )
    check.add_argument("--params", default="{}", metavar="JSON", help="the model_fn's params")
    check.add_argument("--modes", default="train,eval,infer", help="default: train,eval,infer")
    check.set_defaults(handler=_check_command)

    run = commands.add_parser("run", help="train, then evaluate, with the tf.distribute runner")
    run.add_argument("model_fn", metavar="MODULE:MODEL_FN")
    run.add_argument("--input-fn", required=True, metavar="MODULE:INPUT_FN")
    run.add_argument(
        "--eval-input-fn", metavar="MODULE:INPUT_FN", help="without it, evaluation is skipped"
    )
    run.add_argument("--model-dir", required=True, metavar="DIR")
    run.add_argument("--steps", type=_positive_int, help="default: until the input ends")
    run.add_argument("--eval-steps", type=_positive_int, help="default: until the input ends")
    run.add_argument("--params", default="{}", metavar="JSON")
    run.add_argument(
        "--strategy", default="auto", choices=("auto", "cpu", "mirrored", "tpu", "multi_worker")
    )
    run.add_argument("--train-batch-size", type=_positive_int, metavar="N")
    run.add_argument("--eval-batch-size", type=_positive_int, metavar="N")
    run.add_argument("--steps-per-loop", type=_positive_int, metavar="N")
    run.set_defaults(handler=_run_command)
    return parser


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return value


# --- loading MODULE:NAME ---------------------------------------------------------------------


def load_callable(reference, option):
    """Imports ``reference`` (``MODULE:NAME``) and returns the callable it names.

    Args:
      reference: ``package.module:name`` or ``path/to/file.py:name``.
      option: the argument it came from, for messages (e.g. ``"MODEL_FN"``).

    Returns:
      The callable.

    Raises:
      UsageError: the reference is malformed, the module cannot be found, or the
        name is missing or not callable.
    """
    module_name, sep, name = reference.rpartition(":")
    if not sep or not module_name or not name.isidentifier():
        raise UsageError(
            f"{option} ({reference!r}) must be MODULE:NAME, e.g. 'my_package.model:model_fn' "
            "or 'path/to/model.py:model_fn'."
        )
    module = _import(module_name, option)
    if not hasattr(module, name):
        functions = sorted(
            key
            for key, value in vars(module).items()
            if inspect.isfunction(value) and not key.startswith("_")
        )
        raise UsageError(
            f"{option} ({reference!r}): module {module_name!r} has no attribute {name!r}. "
            f"Name one of its functions: {', '.join(functions) or '(it defines none)'}."
        )
    value = getattr(module, name)
    if not callable(value):
        raise UsageError(
            f"{option} ({reference!r}) names a {type(value).__name__}, not a function. "
            "Name the function itself."
        )
    return value


def _import(module_name, option):
    """Imports a dotted module or a .py file; a module that is not there is a UsageError."""
    is_path = module_name.endswith(".py") or os.sep in module_name or "/" in module_name
    if is_path:
        return _import_file(module_name, option)
    _put_on_path(os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if not (module_name == missing or module_name.startswith(missing + ".")):
            raise _user_code_error(module_name, error) from error
        raise UsageError(
            f"{option}: cannot import module {module_name!r} ({error}). Check the spelling, "
            "run from the directory that contains it, or give the path to its .py file instead."
        ) from None
    except Exception as error:  # the user's module raised while importing
        raise _user_code_error(module_name, error) from error


def _user_code_error(module_name, error):
    return _UserCodeError(f"importing {module_name!r} raised {_describe(error)}")


def _import_file(path, option):
    if not os.path.isfile(path):
        raise UsageError(
            f"{option}: there is no file {path!r} (the current directory is {os.getcwd()!r}). "
            "Fix the path, or give a dotted module name instead."
        )
    unique = "_estimator_spec_compat_user_" + re.sub(r"\W", "_", os.path.abspath(path))
    if unique in sys.modules:  # MODEL_FN and --input-fn from one file: import it once
        return sys.modules[unique]
    spec = importlib.util.spec_from_file_location(unique, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    _put_on_path(os.path.dirname(os.path.abspath(path)))
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's module raised while importing
        del sys.modules[unique]
        raise _user_code_error(path, error) from error
    return module


def _put_on_path(directory):
    """Puts ``directory`` first on sys.path (kept there, as ``python -m`` and scripts do)."""
    if directory not in sys.path:
        sys.path.insert(0, directory)


def _parse_params(text):
    try:
        params = json.loads(text)
    except ValueError as error:
        raise UsageError(f"--params ({text!r}) is not valid JSON: {error}.") from None
    if not isinstance(params, dict):
        raise UsageError(
            f"--params ({text!r}) must be a JSON object, e.g. '{{\"learning_rate\": 0.1}}'."
        )
    return params


def _parse_modes(text):
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


# --- check -----------------------------------------------------------------------------------


def _check_command(args):
    model_fn = load_callable(args.model_fn, "MODEL_FN")
    input_fn = _default_input_fn(args.model_fn, args.input_fn)
    params = _parse_params(args.params)
    modes = _parse_modes(args.modes)
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
            return [f"input_fn raised {_describe(error)}"], None
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
            return [f"model_fn raised {_describe(error)}"], None
        return _validate(spec, mode), type(spec).__name__


def _describe(error):
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


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
        return [f"TPUEstimatorSpec.as_estimator_spec() raised {_describe(error)}"]
    if rebuilt.mode != mode:
        return [
            f"`mode` ({rebuilt.mode!r}): the model_fn was called in mode {mode!r} and must "
            "return a spec for that mode. Fix: pass the `mode` argument on (`mode=mode`)."
        ]
    return []


# --- run -------------------------------------------------------------------------------------


def _run_command(args):
    from estimator_spec_compat.runner import Runner, RunnerConfig
    from estimator_spec_compat.runner.strategy import resolve_strategy

    model_fn = load_callable(args.model_fn, "MODEL_FN")
    input_fn = load_callable(args.input_fn, "--input-fn")
    eval_input_fn = args.eval_input_fn and load_callable(args.eval_input_fn, "--eval-input-fn")
    params = _parse_params(args.params)
    try:  # an explicit --strategy never falls back; "auto" takes the best there is
        strategy, reason = resolve_strategy(args.strategy, fallback=args.strategy == "auto")
    except ValueError as error:
        raise UsageError(f"--strategy {args.strategy}: {error}") from None
    print(f"strategy: {type(strategy).__name__} ({reason})")
    config = RunnerConfig(steps_per_loop=args.steps_per_loop) if args.steps_per_loop else None
    runner = Runner(
        model_fn=model_fn,
        model_dir=args.model_dir,
        params=params,
        config=config,
        strategy=strategy,
        train_batch_size=args.train_batch_size,
        eval_batch_size=args.eval_batch_size,
    )
    try:
        runner.train(input_fn, steps=args.steps)
        print(f"trained: model_dir {args.model_dir}")
        if not eval_input_fn:
            print("evaluation skipped: no --eval-input-fn.")
            return 0
        metrics = runner.evaluate(eval_input_fn, steps=args.eval_steps)
    except InvalidSpecError as error:
        print(str(error))
        return 1
    print("metrics:")
    for name in sorted(metrics):
        print(f"  {name}: {_format_metric(metrics[name])}")
    return 0


def _format_metric(value):
    try:
        return f"{float(value):.6g}"
    except (TypeError, ValueError):
        return str(value)
