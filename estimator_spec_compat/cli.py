"""The ``estimator-spec-compat`` command: check a model_fn's specs, or train and evaluate it.

Usage::

  estimator-spec-compat check my_model:model_fn [--input-fn my_model:input_fn]
      [--params '{"hidden": 8}'] [--modes train,eval,infer]
  estimator-spec-compat run my_model.py:model_fn --input-fn my_model.py:input_fn
      --model-dir /tmp/model [--eval-input-fn ...] [--steps 100] [--strategy auto]
      [--save-checkpoints-steps N | --save-checkpoints-secs S] [--verbosity info] [--quiet]

Logs go to stderr (``--verbosity``, default info: the runner's Estimator-style
lines every ``log_step_count_steps`` steps); on a terminal, a progress line is
redrawn in place instead. Results go to stdout.

``MODULE`` is a dotted module name (importable from the current directory) or a
path to a ``.py`` file. Exit status: 0 when every mode is OK (``check``) or
training and evaluation ran (``run``); 1 when a spec has problems or the user's
code raised; 2 for a command line that cannot be followed (the message says
what to change); 130 / 143 when ``run`` was stopped by SIGINT / SIGTERM (after
saving a checkpoint; run again to resume).
"""

import argparse
import sys

from estimator_spec_compat._cli import logs
from estimator_spec_compat._cli.check import check_command, check_mode
from estimator_spec_compat._cli.loading import UsageError, UserCodeError, load_callable
from estimator_spec_compat._cli.logs import configure_logging
from estimator_spec_compat._cli.run import run_command

__all__ = ["UsageError", "check_mode", "configure_logging", "load_callable", "main"]

_PROG = "estimator-spec-compat"


def main(argv=None):
    """Runs the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Example:
      >>> main(["check", "my_model:model_fn", "--modes", "train"])
      0

    Args:
      argv: the arguments, without the program name.

    Returns:
      0 (all OK), 1 (problems found, or the user's code raised), 2 (usage error),
      130 / 143 (``run`` stopped by SIGINT / SIGTERM after saving a checkpoint).
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse's own usage errors, --help
        return exit_.code if isinstance(exit_.code, int) else 2
    with logs.configured(args.verbosity, args.quiet):  # restored: main() may run in-process
        return _dispatch(args)


def _dispatch(args):
    try:
        return args.handler(args)
    except UsageError as error:
        print(f"{_PROG} {args.command}: error: {error}", file=sys.stderr)
        return 2
    except UserCodeError as error:
        print(f"{_PROG} {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # outside training (which saves first), or a second Ctrl-C
        print(f"{_PROG} {args.command}: aborted by Ctrl-C.", file=sys.stderr)
        return 130


def _parser():
    parser = argparse.ArgumentParser(
        prog=_PROG, description="Check or run legacy Estimator model_fns."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbosity",
        choices=logs.VERBOSITIES,
        default="info",
        help="log level on stderr (default: info)",
    )
    common.add_argument("--quiet", action="store_true", help="log errors only; no progress")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        parents=[common],
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
    check.set_defaults(handler=check_command)

    run = commands.add_parser(
        "run", parents=[common], help="train, then evaluate, with the tf.distribute runner"
    )
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
    saves = run.add_mutually_exclusive_group()
    saves.add_argument(
        "--save-checkpoints-steps",
        type=_positive_int,
        metavar="N",
        help="a checkpoint every N steps (rounded up to --steps-per-loop)",
    )
    saves.add_argument(
        "--save-checkpoints-secs",
        type=_positive_int,
        metavar="S",
        help="a checkpoint every S seconds (the default: 600, as RunConfig)",
    )
    run.set_defaults(handler=run_command)
    return parser


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return value
