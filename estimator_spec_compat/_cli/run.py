"""The ``run`` command: train, then evaluate, a model_fn with the tf.distribute runner."""

import sys

from estimator_spec_compat._cli.loading import UsageError, load_callable, parse_params
from estimator_spec_compat._errors import InvalidSpecError


def run_command(args):
    """``run``: trains, then evaluates, printing the metrics; returns the exit status.

    SIGINT / SIGTERM during training: the runner saves a checkpoint after the loop
    in progress; this prints one line and returns 130 / 143, as a shell reports them.
    """
    from estimator_spec_compat.runner import Runner, RunnerConfig, TrainingInterrupted
    from estimator_spec_compat.runner.strategy import resolve_strategy

    model_fn = load_callable(args.model_fn, "MODEL_FN")
    input_fn = load_callable(args.input_fn, "--input-fn")
    eval_input_fn = args.eval_input_fn and load_callable(args.eval_input_fn, "--eval-input-fn")
    params = parse_params(args.params)
    try:  # an explicit --strategy never falls back; "auto" takes the best there is
        strategy, reason = resolve_strategy(args.strategy, fallback=args.strategy == "auto")
    except ValueError as error:
        raise UsageError(f"--strategy {args.strategy}: {error}") from None
    print(f"strategy: {type(strategy).__name__} ({reason})")
    config = RunnerConfig(**_config_args(args))
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
    except TrainingInterrupted as interrupted:
        print(f"estimator-spec-compat run: {interrupted}", file=sys.stderr)
        return interrupted.exit_code
    print("metrics:")
    for name in sorted(metrics):
        print(f"  {name}: {_format_metric(metrics[name])}")
    return 0


def _config_args(args):
    """RunnerConfig's arguments from the command line (only those given: defaults stay)."""
    names = ("steps_per_loop", "save_checkpoints_steps", "save_checkpoints_secs")
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _format_metric(value):
    try:
        return f"{float(value):.6g}"
    except (TypeError, ValueError):
        return str(value)
