"""The runner's per-mode programs: how and where the model_fn is traced and run.

* EVAL and PREDICT, and TRAIN on one replica: the model_fn is traced once into a
  pruned v1 graph (`_v1_graph`), Session semantics; the pruned function is what
  each step runs (per replica, inside ``strategy.run``). Tracing it eagerly, with
  the variable store open, is also the build that creates every variable.
* TRAIN on several replicas: v1 optimizers all-reduce through ``merge_call``,
  which must happen while the model_fn itself is traced in replica context; so
  the model_fn is called inside ``strategy.run`` within one v1 graph
  (`_v1_graph.trace_replicated`), pruned like the one-replica step, after a
  build trace outside any replica (``tf.function(...).get_concrete_function``,
  never run) created the variables. The step's fetches: the train_op of every
  replica, the mean of their losses, TPU ``host_call`` tensors gathered across
  replicas, and hooks' tensors from the first replica (as Estimator took hooks
  from the first device).
* Evaluation metrics: the model_fn's eval_metric_ops updates run each step; their
  values are read once at the end from the same v1 graph, as Estimator read them
  after the last update. TPU ``eval_metrics``: each step the tensors are
  gathered across replicas and metric_fn (traced once, in its own v1 graph)
  updates on them, as TPUEstimator ran it on the host. The ``loss`` result is
  the mean over steps of the replicas' mean loss (Estimator's ``mean(loss)``).
"""

import contextlib
import random

from estimator_spec_compat._compat import ModeKeys, global_seed, per_replica, tf
from estimator_spec_compat._host_fn import call_host_fn
from estimator_spec_compat.runner import _data, _loops, _summaries, _v1_graph
from estimator_spec_compat.runner._calls import call_model_fn
from estimator_spec_compat.runner._keras_optimizer import KerasOptimizerSwap
from estimator_spec_compat.runner._metrics import EvalFunctions
from estimator_spec_compat.runner._progress import EvalProgress, known_batches
from estimator_spec_compat.runner._replica_updates import check_updates_use_every_replica
from estimator_spec_compat.runner._store import VariableStore


class Programs:
    """Builds and runs the train / eval / predict programs of one model_fn."""

    def __init__(self, *, model_fn, strategy, config, params_for):
        self._model_fn = model_fn
        self._strategy = strategy
        self._config = config
        self._params_for = params_for
        self.store = VariableStore(strategy)
        #: ``RunnerConfig(optimizer="keras")``: the v1 optimizer applied as a Keras one.
        self.optimizer = KerasOptimizerSwap(
            enabled=config.optimizer == "keras", store=self.store, strategy=strategy
        )
        self._used = {}
        self._fns = {}
        self._specs = {}  # mode -> (element spec, has_labels) last traced
        self._loops = {}
        self._host_call_fn = None
        # Made here, outside the store's creator: the build trace's global step under replicas.
        self._stand_in = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="global_step")
        #: Whether a train step computes the model_fn's summaries (`_summaries`).
        self.summarize = tf.Variable(False, trainable=False, name="summarize")

    @property
    def num_replicas(self):
        return self._strategy.num_replicas_in_sync

    def _call(self, element, has_labels, mode, global_step=None):
        features, labels = _data.split_element(element, has_labels)
        if mode == ModeKeys.PREDICT:
            labels = None  # Estimator.predict drops labels
        self.store.install(global_step)  # later local replicas keep the first's (`_store`)
        self.optimizer.mode = mode
        params = self._params_for(mode, for_model_fn=True)
        with self.store.creator_scope():  # innermost: before strategy.run's own creators
            return call_model_fn(self._model_fn, features, labels, mode, params, self._config)

    def _trace(self, mode, spec, has_labels, fetches_of):
        view = contextlib.nullcontext()
        if mode != ModeKeys.TRAIN and self.num_replicas > 1:
            view = self.store.plain_copies()
        with view:
            return _v1_graph.trace(
                lambda element: self._call(element, has_labels, mode),
                spec,
                fetches_of,
                self.store.creator_scope,
            )

    def scope(self, *, build=False, record=None):
        """The store's scope and Estimator loss scaling, for tracing and running steps.

        Args:
          build: whether variables not yet stored may be made (a build trace).
          record: a set collecting the names of the variables served, or None.
        """
        return self._scope(build=build, record=record)

    def call_model_fn(self, features, mode):
        """The model_fn called on ``features`` alone (labels None), as a serving export calls it."""
        return self._call(features, False, mode)

    def trace_train(self, spec, has_labels, extra_fetches=None):
        """TRAIN's model_fn traced into one pruned step (one replica or all of them).

        Args:
          spec: one replica's element spec.
          has_labels: whether elements are (features, labels).
          extra_fetches: first replica's model spec -> more fetches (hooks' tensors).

        Returns:
          A `_v1_graph.V1Function` fetching ``loss`` (the replicas' mean, after
          every train_op), ``train_op``, ``host`` (TPU host_call tensors, gathered
          across replicas), ``extra`` and ``summary`` (the model_fn's merged
          ``tf.compat.v1.summary`` ops if it makes any, computed where `summarize`
          is set, else ``b""``); bind it with `train_step`.
        """

        def fetches_of(model_specs):
            fetches = self._train_fetches(model_specs)
            if extra_fetches is not None:
                fetches["extra"] = extra_fetches(model_specs[0])
            summary = _summaries.on_demand(self.summarize)
            if summary is not None:
                fetches["summary"] = summary
            return fetches

        def model_call(element):
            return self._call(element, has_labels, ModeKeys.TRAIN)

        if self.num_replicas == 1:
            return _v1_graph.trace(
                model_call,
                spec,
                lambda model_spec: fetches_of([model_spec]),
                self.store.creator_scope,
            )
        return _v1_graph.trace_replicated(
            self._strategy, model_call, spec, fetches_of, self.store.creator_scope
        )

    def train_step(self, traced):
        """``element -> fetches`` of a `trace_train` function, for the current tf.function.

        Call it at the tf.function's top level (it takes the call-time values there);
        call the step it returns anywhere in that function, e.g. in a while loop.
        """
        if self.num_replicas == 1:
            return lambda element: self._strategy.run(
                lambda e: traced.run(*tf.nest.flatten(e)), (element,)
            )
        extra = traced.call_time_args()
        return lambda element: traced.run(
            *_v1_graph.flat_local_inputs(self._strategy, element), *extra
        )

    @property
    def traced_modes(self):
        """The modes built so far."""
        return tuple(self._specs)

    def last_trace(self, mode):
        """The `_v1_graph.V1Function` of ``mode``'s last build trace.

        Its ``result`` is the read spec (under several replicas, the TRAIN model_fn's
        first replica's).
        """
        fn = self._fns[mode]
        return getattr(fn, "model", fn)  # EvalFunctions: the model_fn's own trace

    def spec_hooks(self, mode):
        """The ``*_hooks`` of ``mode``'s spec, as last traced."""
        fn = self._fns.get(mode)
        fn = getattr(fn, "model", fn)  # EVAL: the model_fn's traced function
        return tuple(getattr(getattr(fn, "result", None), "hooks", ()) or ())

    @contextlib.contextmanager
    def _scope(self, *, build=False, record=None):
        with self.store.scope(allow_creation=build, record=record):
            with _estimator_loss_scaling(self._strategy), self.optimizer.intercept():
                yield

    def distribute(self, dataset):
        """``dataset`` split among the replicas; for one replica, as is with its own
        tf.data threads (`_data.with_private_threads`: the loops may read it synchronously)."""
        if self.num_replicas == 1:
            return _data.with_private_threads(dataset)
        return self._strategy.experimental_distribute_dataset(dataset)

    def variables_for(self, mode):
        """Name -> variable of what ``mode``'s graph uses and a checkpoint holds."""
        saved = self.store.global_variables
        return {name: saved[name] for name in self._used[mode] if name in saved}

    def build(self, mode, dataset, has_labels):
        """Traces ``mode``'s model_fn for this input; the first time, that makes its variables.

        A later input with other shapes or structure traces again, with the store
        closed: the same variables, by name, and an error if the model_fn asks for
        a new one.
        """
        if self.num_replicas > 1 and mode != ModeKeys.PREDICT:
            _data.check_static_batch(dataset, self.num_replicas, mode)
        spec = _data.per_replica_spec(dataset.element_spec, self.num_replicas)
        if self._specs.get(mode) == (spec, has_labels):
            return
        first = mode not in self._used
        seed = self._config.tf_random_seed if first else None
        names = set()
        with self._scope(build=first, record=names), _seeded(seed):
            if mode == ModeKeys.TRAIN:
                self._build_train(spec, has_labels)
            elif mode == ModeKeys.EVAL:
                self._fns[mode] = self.eval_functions(spec, has_labels)
            else:
                self._fns[mode] = self._trace(
                    mode, spec, has_labels, lambda s: {"predictions": _predictions(s)}
                )
        self.store.collect_warm_starts()
        self._specs[mode] = (spec, has_labels)
        self._loops.pop(mode, None)  # its programs call the functions just traced
        if first:
            names.add("global_step")
            self._used[mode] = names

    # --- train --------------------------------------------------------------------

    def _train_fetches(self, model_specs):
        first = model_specs[0]  # every replica's spec comes from the same model_fn
        if first.loss is None or first.train_op is None:
            raise ValueError(
                "In TRAIN mode the model_fn must return `loss` and `train_op` (as "
                f"EstimatorSpec requires); got loss={first.loss!r}, train_op={first.train_op!r}."
            )
        losses, hosts = [], []
        for spec in model_specs:
            with tf.control_dependencies([spec.train_op]):
                losses.append(tf.identity(spec.loss))
            if spec.host_call is not None:
                self._host_call_fn, host = spec.host_call
                hosts.append(host)
        fetches = {"train_op": tf.group(*(spec.train_op for spec in model_specs))}
        if len(model_specs) == 1:
            fetches["loss"] = losses[0]
        else:
            fetches["loss"] = self._strategy.reduce(
                tf.distribute.ReduceOp.MEAN, per_replica(losses), axis=None
            )
        if hosts:
            fetches["host"] = hosts[0]
            if len(hosts) > 1:
                fetches["host"] = tf.nest.map_structure(
                    lambda v: self._strategy.gather(v, axis=0), per_replica(hosts)
                )
        return fetches

    def _build_train(self, spec, has_labels):
        if self.num_replicas > 1:

            def build_fn(element):
                spec = self._call(element, has_labels, ModeKeys.TRAIN, global_step=self._stand_in)
                return self._train_fetches([spec])["loss"]

            fn = tf.function(build_fn, autograph=False)
            fn.get_concrete_function(spec)  # creates the variables; never run
        traced = self.trace_train(spec, has_labels)
        if self.num_replicas > 1:  # before any step: no replica-local training
            check_updates_use_every_replica(
                traced.wrapped.graph,
                traced.fetches,
                traced.replica_feeds,
                self.store.variables,
                self._strategy,
            )
        self._fns[ModeKeys.TRAIN] = traced

    def host_call(self, host_tensors):
        """Calls the TPU spec's host_call fn on (gathered) tensors fetched by a train step."""
        call_host_fn("host_call", (self._host_call_fn, host_tensors))

    def train_loop(self, iterator, infinite):
        """The train program on ``iterator``: ``run(n, summarize) -> (steps, loss, summary)``.

        ``summary``: with ``summarize``, the model_fn's merged summaries of the
        loop's last step (a serialized ``Summary``); else, or if it makes none,
        None. It calls the loop's concrete function directly: no signature
        matching per call.
        """
        traced = self._fns[ModeKeys.TRAIN]
        with_summary = "summary" in traced.run.structured_outputs
        if ModeKeys.TRAIN not in self._loops:
            self._loops[ModeKeys.TRAIN] = _loops.make_train_loop(
                lambda: self.train_step(traced),
                self.host_call,
                self.summarize if with_summary else None,
                self._config.stop_on_nan_loss,
            )
        args = (tf.TensorSpec([], tf.int64), infinite, tf.TensorSpec([], tf.bool))
        with self._scope():
            loop = self._loops[ModeKeys.TRAIN].get_concrete_function(iterator, *args)

        def run(n, summarize=False):
            summarize = bool(summarize and with_summary)
            with self._scope():
                ran, loss, summary = loop(
                    iterator, tf.constant(n, tf.int64), infinite, tf.constant(summarize)
                )
            ran = int(ran)
            if not ran:
                return 0, None, None
            summary = summary.numpy() if summarize and ran == n else None
            return ran, float(loss), summary

        return run

    @property
    def train_tracing_count(self):
        """How many times the train loop was traced (0 before the first loop)."""
        loop = self._loops.get(ModeKeys.TRAIN)
        return 0 if loop is None else loop.experimental_get_tracing_count()

    # --- eval ---------------------------------------------------------------------

    @property
    def strategy(self):
        return self._strategy

    def eval_functions(self, spec, has_labels, hook_fetches=None):
        """EVAL's model_fn and metrics traced (`_metrics.EvalFunctions`), with hooks' fetches."""
        return EvalFunctions(
            self._trace, spec, has_labels, self.num_replicas, self.store, hook_fetches
        )

    def run_eval(self, dataset, steps, hooked=None):
        """Runs eval to the end of the input (or ``steps`` batches); returns numpy results.

        Args:
          dataset: the eval input.
          steps: how many batches (None: to the input's end).
          hooked: a `_hooks.HookedEvaluation` to run instead (one step per call).
        """
        fns = self._fns[ModeKeys.EVAL] if hooked is None else hooked.functions
        if ModeKeys.EVAL not in self._loops:
            plain = self._fns[ModeKeys.EVAL]
            self._loops[ModeKeys.EVAL] = _loops.make_eval_loop(
                lambda element: plain.body(self._strategy, element)
            )
        self.store.reset_local_variables()
        box = [iter(self.distribute(dataset))]  # the iterator's only owner
        progress = EvalProgress(steps or known_batches(dataset))
        try:
            if hooked is None:
                done = self._eval_loops(self._loops[ModeKeys.EVAL], box[0], steps, progress)
            else:
                done = hooked.run(box[0], steps, progress.update)
        finally:
            _data.release_in_background(box)
        progress.finish()
        if not done:
            raise ValueError("`input_fn` gave no batches to evaluate.")
        results = {k: v.numpy() for k, v in fns.values().items()}
        results["global_step"] = self.store.global_step.numpy()
        return results

    def _eval_loops(self, loop, iterator, steps, progress):
        done, per_loop = 0, self._config.steps_per_loop
        while steps is None or done < steps:
            n = per_loop if steps is None else min(per_loop, steps - done)
            with self._scope():
                ran = int(loop(iterator, tf.constant(n, tf.int64)))
            done += ran
            if ran:
                progress.update(done)
            if ran < n:
                break
        return done

    # --- predict ------------------------------------------------------------------

    def predict_step(self, hook_fetches=None):
        """``batch -> (predictions, hooks' tensors)``: PREDICT's model_fn, traced once more
        with ``hook_fetches(model spec)`` if given."""
        if hook_fetches is None:
            if ModeKeys.PREDICT not in self._loops:
                fn = self._fns[ModeKeys.PREDICT]
                self._loops[ModeKeys.PREDICT] = _loops.make_predict_step(self._strategy, fn.run)
            return self._loops[ModeKeys.PREDICT]
        spec, has_labels = self._specs[ModeKeys.PREDICT]

        def fetches_of(model_spec):
            return {"predictions": _predictions(model_spec), "hooks": hook_fetches(model_spec)}

        with self._scope():
            fn = self._trace(ModeKeys.PREDICT, spec, has_labels, fetches_of)
        return _loops.make_predict_step(self._strategy, fn.run)


def _predictions(spec):
    if spec.predictions is None:
        raise ValueError("In PREDICT mode the model_fn must return `predictions`.")
    return spec.predictions


@contextlib.contextmanager
def _seeded(seed):
    """TF's global seed and Python's ``random`` seeded with ``seed`` while active, then restored.

    ``RunnerConfig.tf_random_seed`` is the seed of the build (as RunConfig's was the seed
    of Estimator's graph): TF's global seed gives random ops their op seeds, and Keras 2
    layers (``tf.compat.v1.layers``, tf-keras) built outside TF1 graph mode draw the
    seeds of their unseeded initializers and dropout from Python's ``random``, which
    ``tf.random.set_seed`` does not seed (without it every run started from other
    weights). Both are given back afterwards, so a seed does not leak into the user's
    program or into another Runner (Estimator's never outlived its graph). None: untouched.
    """
    if seed is None:
        yield
        return
    previous = global_seed() if global_seed is not None else seed
    state = random.getstate()
    tf.random.set_seed(seed)
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)
        tf.random.set_seed(previous)


def _estimator_loss_scaling(strategy):
    """v1 optimizers divide a MEAN loss by the replica count only with this on (Estimator did)."""
    enable = getattr(strategy, "_scale_loss_for_estimator_enabled", None)
    return enable() if enable is not None else contextlib.nullcontext()
