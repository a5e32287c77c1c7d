"""`RunnerConfig`: the runner's options, named as RunConfig / TPUConfig named them."""

import dataclasses

_POSITIVE = (
    "steps_per_loop",
    "log_step_count_steps",
    "save_summary_steps",
)

_OPTIMIZERS = ("model_fn", "keras")

#: RunConfig's default: a checkpoint every 600 s unless ``save_checkpoints_steps`` is given.
_DEFAULT_SAVE_SECS = 600
_UNSET = object()


@dataclasses.dataclass(frozen=True)
class RunnerConfig:
    """How the runner trains: loop size, seeds, checkpoints, logs.

    Example:
      >>> config = RunnerConfig(steps_per_loop=100, save_checkpoints_steps=1000)

    Attributes:
      steps_per_loop: training steps run inside one ``tf.function`` call, in a TF
        while loop (TPUConfig's ``iterations_per_loop``). Checkpoints, logs and
        summaries happen between loops, so their step counts are rounded up to it.
      tf_random_seed: the TF global seed set before the model_fn is traced
        (RunConfig's ``tf_random_seed``); None leaves it alone.
      save_checkpoints_steps: save a checkpoint every so many steps (at most one
        of it and ``save_checkpoints_secs``, as in RunConfig).
      save_checkpoints_secs: save a checkpoint every so many seconds; by default
        600 (RunConfig's) unless ``save_checkpoints_steps`` is given. With both
        None, a checkpoint is written only at the end of each ``train`` call
        (which always saves).
      keep_checkpoint_max: how many recent checkpoints to keep; None or 0 keeps
        every checkpoint (as RunConfig and Saver's ``max_to_keep``).
      log_step_count_steps: log loss and steps/sec every so many steps.
      save_summary_steps: write ``loss`` and ``global_step/sec`` summaries to
        ``model_dir`` every so many steps; None writes none.
      optimizer: ``"model_fn"`` (default): the model_fn's ``train_op`` runs as written,
        its v1 optimizer and slot variables included. ``"keras"``: the v1 optimizer
        the model_fn calls ``minimize`` / ``apply_gradients`` on is converted once
        (`convert.optimizers.to_keras_optimizer`; a ``tf.compat.v1.train.*_decay``
        learning rate becomes a Keras schedule) and applied as that Keras optimizer,
        for users migrating further. Its slots are checkpointed as
        ``keras_optimizer/...``; a v1 checkpoint's slots are transferred on resume.
      stop_on_nan_loss: True (Estimator's behaviour, its NanTensorHook): training
        stops at the first step whose loss is NaN and raises
        ``tf.compat.v1.train.NanLossDuringTrainingError``; no checkpoint of that
        step's state is written. False: no check (training runs on).
      model_dir: filled in by the Runner (its ``model_dir``); set it only to the
        same value, as with RunConfig and Estimator.

    The config is what a model_fn / input_fn receives as ``config``; for code
    written against RunConfig it also answers ``is_chief``, ``task_type``,
    ``task_id``, ``num_worker_replicas`` (filled in by the Runner from its
    strategy's cluster: True, ``"worker"``, 0 and 1 for one process) and
    ``num_ps_replicas`` (0).
    """

    steps_per_loop: int = 100
    tf_random_seed: int | None = None
    save_checkpoints_steps: int | None = None
    save_checkpoints_secs: int | None = _UNSET
    keep_checkpoint_max: int | None = 5
    log_step_count_steps: int = 100
    save_summary_steps: int | None = 100
    model_dir: str | None = None
    optimizer: str = "model_fn"
    stop_on_nan_loss: bool = True
    is_chief: bool = dataclasses.field(default=True, repr=False)
    task_type: str = dataclasses.field(default="worker", repr=False)
    task_id: int = dataclasses.field(default=0, repr=False)
    num_worker_replicas: int = dataclasses.field(default=1, repr=False)

    num_ps_replicas = 0

    def __post_init__(self):
        if self.save_checkpoints_secs is _UNSET:  # RunConfig's default, as RunConfig set it
            secs = None if self.save_checkpoints_steps is not None else _DEFAULT_SAVE_SECS
            object.__setattr__(self, "save_checkpoints_secs", secs)
        problems = []
        optional = ("save_checkpoints_steps", "save_checkpoints_secs", "save_summary_steps")
        for name in (*_POSITIVE, "save_checkpoints_steps", "save_checkpoints_secs"):
            value = getattr(self, name)
            if value is None and name in optional:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                problems.append(f"`{name}` ({value!r}) must be a positive integer.")
        keep = self.keep_checkpoint_max
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 0):
            problems.append(
                f"`keep_checkpoint_max` ({keep!r}) must be a non-negative integer or None "
                "(None or 0: keep every checkpoint)."
            )
        if not isinstance(self.stop_on_nan_loss, bool):
            problems.append(
                f"`stop_on_nan_loss` ({self.stop_on_nan_loss!r}) must be True or False."
            )
        if self.model_dir is not None and not isinstance(self.model_dir, str):
            problems.append(f"`model_dir` ({self.model_dir!r}) must be a string or None.")
        seed = self.tf_random_seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            problems.append(f"`tf_random_seed` ({seed!r}) must be an integer or None.")
        if not isinstance(self.optimizer, str):
            raise TypeError(
                f"Invalid RunnerConfig: `optimizer` ({self.optimizer!r}) must be a string, "
                f"one of {list(_OPTIMIZERS)}."
            )
        if self.optimizer not in _OPTIMIZERS:
            problems.append(
                f"`optimizer` ({self.optimizer!r}) must be one of {list(_OPTIMIZERS)}: "
                "'model_fn' runs the model_fn's v1 optimizer as written, 'keras' applies it "
                "as the equivalent Keras optimizer."
            )
        if self.save_checkpoints_steps is not None and self.save_checkpoints_secs is not None:
            problems.append(
                f"`save_checkpoints_steps` ({self.save_checkpoints_steps!r}) and "
                f"`save_checkpoints_secs` ({self.save_checkpoints_secs!r}): give at most one "
                "(as RunConfig); set the other to None."
            )
        if problems:
            wrong_type = not isinstance(self.stop_on_nan_loss, bool) or any(
                not isinstance(getattr(self, n), int | type(None))
                for n in (*_POSITIVE, "keep_checkpoint_max")
            )
            error = TypeError if wrong_type else ValueError
            raise error("Invalid RunnerConfig: " + " ".join(problems))
