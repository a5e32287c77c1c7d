"""`Runner`: Estimator's train / evaluate / predict / export for a legacy model_fn, under TF2.

The design, and what differs from Estimator, is in the package docstring
(`estimator_spec_compat.runner`).
"""

import contextlib
import dataclasses
import logging
import os
import tempfile

from estimator_spec_compat._compat import ModeKeys, tf
from estimator_spec_compat._errors import short_repr
from estimator_spec_compat.runner import (
    _checkpoint,
    _data,
    _export,
    _interrupt,
    _lock,
    _partitions,
    _predict,
    _training,
    _warm_start,
)
from estimator_spec_compat.runner._calls import check_model_fn
from estimator_spec_compat.runner._cluster import Barrier, cluster_facts
from estimator_spec_compat.runner._hooks import (
    HookedEvaluation,
    HookedPrediction,
    Saves,
)
from estimator_spec_compat.runner._programs import Programs
from estimator_spec_compat.runner._reporting import write_eval_summaries
from estimator_spec_compat.runner._scaffold import ScaffoldSupport
from estimator_spec_compat.runner._tf1_mode import eager_methods
from estimator_spec_compat.runner.config import RunnerConfig
from estimator_spec_compat.runner.strategy import resolve_strategy

_LOG = logging.getLogger(__name__)


def _resolve_strategy(strategy):
    if isinstance(strategy, str):  # only "auto" falls back; a named request must be met
        return resolve_strategy(strategy, fallback=strategy.strip().lower() == "auto")[0]
    if isinstance(strategy, tf.distribute.Strategy):
        return resolve_strategy(strategy)[0]
    raise TypeError(
        f'`strategy` ({short_repr(strategy)}) must be "auto", a strategy name or a '
        "tf.distribute.Strategy."
    )


def _no_lock(model_dir):
    del model_dir
    return contextlib.nullcontext()


def _check_model_dir(model_dir):
    if model_dir is not None and "://" not in str(model_dir) and os.path.isfile(model_dir):
        raise ValueError(
            f"`model_dir` ({model_dir!r}) is an existing file; it must be a directory (new or "
            "existing) for checkpoints. Pass a directory path."
        )


def _check_positive_or_none(name, value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"`{name}` ({value!r}) must be a positive integer or None.")


@eager_methods(  # TF1 programs switch eager execution off; the runner needs it (_tf1_mode)
    "__init__",
    "get_variable_value",
    "get_variable_names",
    "train",
    "evaluate",
    "predict",
    "export_saved_model",
)
class Runner:
    """Runs a legacy Estimator ``model_fn`` under TF2: train, evaluate, predict.

    The one-line change from Estimator / TPUEstimator::

        est = tf.estimator.Estimator(model_fn, model_dir, params=params)   # before
        est = Runner(model_fn=model_fn, model_dir=model_dir, params=params) # after
        est.train(train_input_fn, max_steps=1000)
        metrics = est.evaluate(eval_input_fn)

    Batch sizes follow TPUEstimator: with ``train_batch_size`` (etc.) given,
    ``input_fn`` gets ``params['batch_size']`` = the GLOBAL batch size (one
    input pipeline feeds all replicas; the runner splits each batch among
    them) and ``model_fn`` gets the PER-REPLICA batch size (global / replicas),
    as a TPU core did. With one replica both are the global batch size, as in
    ``TPUEstimator(use_tpu=False)``. ``params['use_tpu']`` is set to False.

    Args:
      model_fn: ``model_fn(features, labels, mode, params, config)`` (any subset
        but ``features``) returning an EstimatorSpec or TPUEstimatorSpec (this
        package's or upstream's).
      model_dir: where checkpoints go; a new temporary folder if None.
      params: a dict passed to model_fn and input_fn.
      config: a `RunnerConfig` (defaults if None); model_fn's ``config`` is it.
      strategy: ``"auto"`` (a TPU, else GPUs, else the CPU), a strategy name
        (`strategy.resolve_strategy`'s: ``"tpu"``, ``"gpu"``, ``"mirrored"``,
        ``"cpu"`` ...; raises with the reason if that one is not available) or a
        ``tf.distribute.Strategy``.
      train_batch_size, eval_batch_size, predict_batch_size: global batch sizes.
      warm_start_from: as Estimator's: a checkpoint path, a SavedModel directory, or a
        ``WarmStartSettings`` (upstream's, or ``runner.WarmStartSettings``); applied
        when training starts from a ``model_dir`` without a checkpoint.

    Raises:
      TypeError: for arguments of the wrong type.
      ValueError: for wrong values (``params`` with ``batch_size`` while batch
        sizes are given, a model_fn without ``features``, a ``model_dir`` that is a
        file, a named ``strategy`` this machine cannot give).
    """

    def __init__(
        self,
        *,
        model_fn,
        model_dir=None,
        params=None,
        config=None,
        strategy="auto",
        train_batch_size=None,
        eval_batch_size=None,
        predict_batch_size=None,
        warm_start_from=None,
    ):
        check_model_fn(model_fn)
        self._warm_start = _warm_start.settings_of(warm_start_from)
        config = RunnerConfig() if config is None else config
        if not isinstance(config, RunnerConfig):
            raise TypeError(f"`config` ({short_repr(config)}) must be a RunnerConfig or None.")
        if params is not None and not isinstance(params, dict):
            raise TypeError(f"`params` ({short_repr(params)}) must be a dict or None.")
        sizes = {
            ModeKeys.TRAIN: train_batch_size,
            ModeKeys.EVAL: eval_batch_size,
            ModeKeys.PREDICT: predict_batch_size,
        }
        for name, value in zip(("train", "eval", "predict"), sizes.values()):
            _check_positive_or_none(f"{name}_batch_size", value)
        params = dict(params or {})
        if any(sizes.values()) and "batch_size" in params:
            raise ValueError(
                "`params` must not contain 'batch_size' when batch sizes are given: the "
                "runner sets params['batch_size'] per mode, as TPUEstimator did."
            )
        if model_dir and config.model_dir and str(model_dir) != config.model_dir:
            raise ValueError(
                f"`model_dir` ({model_dir!r}) and `config.model_dir` ({config.model_dir!r}) "
                "differ; give one of them (or the same value), as with Estimator."
            )
        self.model_dir = str(model_dir or config.model_dir or tempfile.mkdtemp(prefix="runner_"))
        _check_model_dir(self.model_dir)
        self.strategy = _resolve_strategy(strategy)
        cluster = cluster_facts(self.strategy)
        config = dataclasses.replace(
            config, model_dir=self.model_dir, **dataclasses.asdict(cluster)
        )
        self.params = params
        self.config = config
        self._barrier = Barrier(self.strategy, cluster.num_worker_replicas)
        self._batch_sizes = sizes
        #: The mean loss of the last training step run (None before training).
        self.last_train_loss = None
        self._programs = Programs(
            model_fn=model_fn, strategy=self.strategy, config=config, params_for=self._params
        )
        self._scaffolds = ScaffoldSupport(self._programs)

    @property
    def num_replicas(self):
        """Replicas the strategy runs each step on."""
        return self.strategy.num_replicas_in_sync

    def _params(self, mode, *, for_model_fn):
        params = dict(self.params)
        size = self._batch_sizes[mode]
        if size is not None:
            replicas = self.num_replicas if for_model_fn else 1
            if size % self.num_replicas:
                raise ValueError(
                    f"The {mode} batch size ({size}) must be divisible by the number of "
                    f"replicas ({self.num_replicas})."
                )
            params["batch_size"] = size // replicas
            params["use_tpu"] = False
        return params

    def get_variable_value(self, name):
        """The value of variable ``name`` as numpy, by its checkpoint name (as
        ``Estimator.get_variable_value``): ``dense/kernel``; a partitioned variable by its
        full name, whole (not ``name/part_0``); local (metric) variables by name too.

        Raises:
          ValueError: for a name that is not among `get_variable_names`.
        """
        groups = _partitions.grouped(self._programs.store.global_variables)
        local = self._programs.store.variables.get(name)  # metric variables: not checkpointed
        if name not in groups and local is not None and not _partitions.is_part(local):
            return local.numpy()
        if name not in groups:
            raise ValueError(
                f"`name` ({name!r}) is not a variable of this model (its checkpoint names are "
                f"{sorted(groups)}). Pass one of `get_variable_names()`."
            )
        return _partitions.full_value(self._programs.store.global_variables, groups[name])

    def get_variable_names(self):
        """The checkpoint names of every variable made so far (as
        ``Estimator.get_variable_names``: a partitioned variable by its full name)."""
        return sorted(_partitions.grouped(self._programs.store.global_variables))

    def latest_checkpoint(self):
        """The newest checkpoint prefix in ``model_dir``, or None."""
        return _checkpoint.latest(self.model_dir)

    def _dataset(self, input_fn, mode):
        dataset, has_labels = _data.make_dataset(
            input_fn,
            mode=mode,
            params=self._params(mode, for_model_fn=False),
            config=self.config,
            num_replicas=self.num_replicas,
        )
        return dataset, has_labels

    def _restore(self, mode, checkpoint_path=None):
        self._scaffolds.check(mode)
        prefix = _checkpoint.resolve(self.model_dir, checkpoint_path)
        variables = self._programs.variables_for(mode)
        if prefix is not None:
            _checkpoint.restore(prefix, variables)
            if mode == ModeKeys.TRAIN:  # RunnerConfig(optimizer="keras"): its slots
                self._programs.optimizer.restore(prefix, _checkpoint.restore)
        else:  # a fresh start: init_from_checkpoint initializers apply, as in TF1
            self._programs.store.apply_warm_starts(variables)
            if mode == ModeKeys.TRAIN and self._warm_start is not None:
                _warm_start.warm_start(self._warm_start, variables)
        self._programs.store.sync_copies()
        if prefix is None and mode != ModeKeys.EVAL:  # then Scaffold.init_fn, as SessionManager
            self._scaffolds.initialize(mode)
        return prefix

    def _save(self):
        """Writes a checkpoint (the chief only, as under Estimator)."""
        if not self.config.is_chief:
            return None
        step = int(self._programs.store.global_step.numpy())
        prefix = _checkpoint.save(
            self.model_dir,
            step,
            {
                **self._programs.store.global_variables,
                **self._programs.optimizer.checkpoint_variables(),
            },
            keep_max=self._scaffolds.keep_checkpoint_max(self.config.keep_checkpoint_max),
        )
        return prefix

    def train(self, input_fn, hooks=None, steps=None, max_steps=None, saving_listeners=None):
        """Trains until ``steps`` more steps, ``max_steps`` in all, or the input ends.

        Args:
          input_fn: returns a Dataset of (features, labels) or features, or TF1
            tensors (an iterator's ``get_next()``, constants) as Estimator took them.
          steps: how many more steps to run (None: no limit).
          max_steps: the global step to stop at (None: no limit).
          hooks: SessionRunHooks (the standard ones, see `convert.hooks`); with hooks,
            or a spec with ``training_hooks``, one step runs per call (under
            several replicas the hooks see the first replica's tensors).
          saving_listeners: ``CheckpointSaverListener``s called around each save on
            the chief, as by Estimator's CheckpointSaverHook (``session`` is None).

        Returns:
          self, as Estimator.train did.

        Raises:
          ValueError: for both ``steps`` and ``max_steps``, or non-positive counts; for a
            train_op that does not advance the global step (see `_checks`).
          TypeError: for a hook with no TF2 callback (the message says how to write one).
          RuntimeError: if another live process is training into ``model_dir`` (the
            chief holds a lock on it while training, `_lock`).
          tf.compat.v1.train.NanLossDuringTrainingError: for a NaN loss (unless
            ``RunnerConfig(stop_on_nan_loss=False)``); nothing after that step is saved.
          TrainingInterrupted: on SIGINT or SIGTERM during training (one process, main
            thread): training stopped after the loop in progress and a checkpoint of
            that step was saved; a second signal aborts at once (see `_interrupt`).
        """
        writer = _lock.exclusive_writer if self.config.is_chief else _no_lock
        with writer(self.model_dir):
            return self._train(input_fn, hooks, steps, max_steps, saving_listeners)

    def _train(self, input_fn, hooks, steps, max_steps, saving_listeners):
        _check_positive_or_none("steps", steps)
        _check_positive_or_none("max_steps", max_steps)
        if steps is not None and max_steps is not None:
            raise ValueError("Give `steps` or `max_steps`, not both (as Estimator.train).")
        dataset, has_labels = self._dataset(input_fn, ModeKeys.TRAIN)
        self._programs.build(ModeKeys.TRAIN, dataset, has_labels)
        self._restore(ModeKeys.TRAIN)
        start = int(self._programs.store.global_step.numpy())
        target = max_steps if max_steps is not None else (start + steps if steps else None)
        if target is not None and start >= target:
            _LOG.info("Skipping training: global step %d reached max_steps %d.", start, target)
            return self
        saves = Saves(self._save, saving_listeners if self.config.is_chief else ())
        with _interrupt.watching(enabled=self.config.num_worker_replicas == 1):
            if not saves.start(start):  # a listener may stop training before it begins
                hooks = list(hooks or ())
                args = (self._programs, self.config, dataset, has_labels, hooks, start, target)
                loss = _training.train(*args, saves.save)
                self.last_train_loss = self.last_train_loss if loss is None else loss
            saves.end(int(self._programs.store.global_step.numpy()))
        self._barrier()  # no worker restores model_dir before the chief's checkpoint is there
        if _interrupt.received() is not None:  # SIGINT / SIGTERM: stopped after a loop, saved
            step = int(self._programs.store.global_step.numpy())
            raise _interrupt.TrainingInterrupted(
                _interrupt.received(), step, self.latest_checkpoint()
            )
        return self

    def evaluate(self, input_fn, steps=None, hooks=None, checkpoint_path=None, name=None):
        """Evaluates a checkpoint: ``{'loss', 'global_step', every metric}``.

        Args:
          input_fn: returns a Dataset of (features, labels) or features.
          steps: how many batches (None: until the input ends).
          hooks: SessionRunHooks (the standard ones, see `convert.hooks`); with hooks,
            or a spec with ``evaluation_hooks``, one batch runs per call (under
            several replicas the hooks see the first replica's tensors).
          checkpoint_path: the checkpoint (prefix, or a directory: its latest) to
            evaluate; None: the latest in ``model_dir``.
          name: a name for this evaluation: its scalars go to ``model_dir/eval_<name>``
            (``model_dir/eval`` without a name), as Estimator wrote them.

        Returns:
          A dict of numpy values, as Estimator.evaluate returned.

        Raises:
          ValueError: if there is no checkpoint to evaluate (as Estimator), or the
            input gives no batches.
          TypeError: for a hook with no TF2 callback (the message says how to write one).
        """
        _check_positive_or_none("steps", steps)
        dataset, has_labels = self._dataset(input_fn, ModeKeys.EVAL)
        self._programs.build(ModeKeys.EVAL, dataset, has_labels)
        if self._restore(ModeKeys.EVAL, checkpoint_path) is None:
            raise ValueError(
                f"Could not find trained model in model_dir: {self.model_dir}. Train first "
                "(evaluate reads the latest checkpoint, as Estimator.evaluate)."
            )
        hooks = list(hooks or ())
        hooked = None
        if hooks or self._programs.spec_hooks(ModeKeys.EVAL):
            spec = _data.per_replica_spec(dataset.element_spec, self.num_replicas)
            hooked = HookedEvaluation(self._programs, hooks, spec, has_labels)
        results = self._programs.run_eval(dataset, steps, hooked)
        if self.config.is_chief:
            write_eval_summaries(self.model_dir, name, results)
        return results

    def predict(
        self,
        input_fn,
        predict_keys=None,
        hooks=None,
        checkpoint_path=None,
        yield_single_examples=True,
    ):
        """Yields predictions of a checkpoint, like Estimator.predict.

        Args:
          input_fn: returns a Dataset of features (labels, if any, are ignored).
          predict_keys: names of the predictions to keep (None: all).
          hooks: SessionRunHooks (the standard ones, see `convert.hooks`), run with the
            spec's ``prediction_hooks`` after each batch (under several replicas they
            see the first replica's tensors).
          checkpoint_path: the checkpoint (prefix, or a directory: its latest) to
            predict with; None: the latest in ``model_dir``.
          yield_single_examples: one dict per example (True) or per batch (False).

        Without a checkpoint it predicts with initial values (after the model_fn's
        ``init_from_checkpoint`` and ``Scaffold.init_fn`` warm starts), as Estimator.

        Yields:
          Dicts of numpy values (or arrays, where predictions is a single Tensor).

        Raises:
          ValueError: for a ``checkpoint_path`` that holds no checkpoint.
          TypeError: for a hook with no TF2 callback (the message says how to write one).
        """
        dataset, has_labels = self._dataset(input_fn, ModeKeys.PREDICT)
        self._programs.build(ModeKeys.PREDICT, dataset, has_labels)
        if self._restore(ModeKeys.PREDICT, checkpoint_path) is None:
            _LOG.warning(
                "Could not find trained model in model_dir: %s, predicting with initial values.",
                self.model_dir,
            )
        hooks = list(hooks or ())
        hooked = None
        if hooks or self._programs.spec_hooks(ModeKeys.PREDICT):
            hooked = HookedPrediction(self._programs, hooks)
        yield from _predict.run_predict(
            self._programs,
            dataset,
            predict_keys,
            yield_single_examples,
            self._batch_sizes[ModeKeys.PREDICT],
            hooked,
        )

    def export_saved_model(
        self,
        export_dir_base,
        serving_input_receiver_fn,
        assets_extra=None,
        as_text=False,
        checkpoint_path=None,
    ):
        """Exports a checkpoint for serving, as ``Estimator.export_saved_model``.

        Example:
          >>> receiver_fn = build_raw_serving_input_receiver_fn({"x": tf.zeros([1, 6])})
          >>> path = runner.export_saved_model("/models/mlp", receiver_fn)  # bytes
          >>> served = tf.saved_model.load(path.decode())

        Args:
          export_dir_base: the directory in which a timestamped export is made.
          serving_input_receiver_fn: a function of no arguments returning a
            ServingInputReceiver (this package's ``convert.serving`` or upstream's).
          assets_extra: ``{destination relative to assets.extra/: source file}`` to
            copy into the export, or None.
          as_text: write ``saved_model.pbtxt`` instead of ``saved_model.pb``.
          checkpoint_path: the checkpoint (prefix, or a directory: its latest) to
            export; None: the latest in ``model_dir``.

        Returns:
          The export directory as ``bytes``, as Estimator returned it
          (``path.decode()`` gives a str). Signatures come from the PREDICT spec's
          ``export_outputs`` (default: ``serving_default`` of the predictions).

        Raises:
          ValueError: if there is no checkpoint to export (as Estimator).
        """
        prefix = _checkpoint.resolve(self.model_dir, checkpoint_path)
        if prefix is None:
            raise ValueError(
                f"Couldn't find trained model at {self.model_dir}. Train first (the export "
                "serves the latest checkpoint, as Estimator.export_saved_model)."
            )
        path = _export.export(
            self._programs,
            prefix,
            export_dir_base,
            serving_input_receiver_fn,
            assets_extra=assets_extra,
            as_text=as_text,
        )
        return tf.compat.as_bytes(path)  # Estimator: export_lib.get_timestamped_export_dir
