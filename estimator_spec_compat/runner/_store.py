"""The runner's variable store: every variable a model_fn makes, created once, by its TF1 name.

A legacy model_fn creates its variables each time it is called: through
``tf.compat.v1.get_variable`` (variable scopes, ``tf.compat.v1.layers``, v1
optimizer slots) or ``tf.compat.v1.Variable`` (v1 optimizers' ``beta1_power``,
v1 metrics' ``total``/``count``). Under Estimator each call built a fresh graph
and a Session held the values. Here the store's variable creator (installed
with ``tf.variable_creator_scope`` around every trace, so traced graphs and the
``tf.init_scope()`` blocks inside them both see it) intercepts each creation:

* the first time a name is asked for, while the store is *open* (a build trace),
  the variable is created once, lifted out of the graph with ``tf.init_scope()``
  and under the strategy's scope, with its TF1 name (``dense/kernel``,
  ``dense/kernel/Adam``, ``beta1_power``);
* every later request for that name (another trace, another mode, inside
  ``strategy.run``) gets the stored variable back, so nothing is created inside
  a replica context or on a retrace.

The store also installs its ``global_step`` into each trace graph's
``GLOBAL_STEP`` collection and adds each variable handed out to the trace
graph's collections (``GLOBAL_VARIABLES``, ``TRAINABLE_VARIABLES``,
``LOCAL_VARIABLES``...), as variable creation did in a TF1 graph: v1 optimizers
find their ``var_list`` there.
"""

import contextlib
import threading
import weakref

import numpy as np

from estimator_spec_compat._compat import (
    SHARED_GRAPH_COLLECTIONS,
    UncreatedResourceVariable,
    first_variable_creator_scope,
    restart_seeded_random_kernels,
    strategy_allows_partitions,
    tf,
)
from estimator_spec_compat.runner import _partitions
from estimator_spec_compat.runner._tf1_variables import give_tf1_attributes, serving

_GRAPH_KEYS = tf.compat.v1.GraphKeys
_V1_KWARGS = (
    "initial_value",
    "trainable",
    "validate_shape",
    "caching_device",
    "dtype",
    "constraint",
    "synchronization",
    "aggregation",
    "shape",
)
_LOCAL_COLLECTIONS = frozenset({_GRAPH_KEYS.LOCAL_VARIABLES, _GRAPH_KEYS.METRIC_VARIABLES})


class _Entry:
    """One stored variable and what is known about how it was made."""

    __slots__ = ("variable", "collections", "initial_value")

    def __init__(self, variable, collections, initial_value):
        self.variable = variable
        self.collections = tuple(collections)
        self.initial_value = initial_value

    @property
    def is_local(self):
        return bool(_LOCAL_COLLECTIONS.intersection(self.collections))


class VariableStore:
    """Name -> variable, filled by build traces, read by every later trace.

    Args:
      strategy: the ``tf.distribute.Strategy`` whose scope new variables are made in.
    """

    def __init__(self, strategy):
        self._strategy = strategy
        # Several replicas stand for Estimator's train_distribute, whose scope dropped
        # partitioners; one device for a plain Estimator, which kept them.
        self._partitions = strategy.num_replicas_in_sync == 1 or strategy_allows_partitions(
            strategy
        )
        self._entries = {}
        self._open = False
        self._creating = False
        self._bases = set()  # name scopes model_fn was called in (while/, replica_1/ ...)
        self._record = None
        self._use_copies = False
        #: name -> (checkpoint file, tensor name, slice spec) from init_from_checkpoint calls.
        self.warm_starts = {}
        self._copies = {}  # name -> _Entry of a plain copy (EVAL/PREDICT under replicas)
        self._seen = weakref.WeakKeyDictionary()  # graph -> {name: count}, for name_1 ...
        self._model_graph = lambda: None  # weakref to the graph model_fn is called in
        with strategy.scope():
            self.global_step = tf.Variable(
                tf.constant(0, tf.int64),
                name="global_step",
                trainable=False,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
        zero = tf.constant(0, tf.int64)
        give_tf1_attributes(self.global_step, strategy, zero)
        self._entries["global_step"] = _Entry(
            self.global_step, [_GRAPH_KEYS.GLOBAL_VARIABLES, _GRAPH_KEYS.GLOBAL_STEP], zero
        )

    @contextlib.contextmanager
    def scope(self, *, allow_creation=False, record=None):
        """Serves every variable creation from the store while active.

        Args:
          allow_creation: whether names not yet stored may be created (build traces only).
          record: a set that collects every name served, or None.

        Yields:
          Nothing.
        """
        previous = self._open, self._record
        self._open, self._record = allow_creation, record
        self._bases = set()
        try:
            with (
                first_variable_creator_scope(self._creator),
                serving(),
                _partitions.tf1_partitions(),
            ):
                yield
        finally:
            self._open, self._record = previous

    @contextlib.contextmanager
    def passthrough(self):
        """Variables made while active bypass the store (objects the runner owns itself,
        e.g. the Keras optimizer of ``RunnerConfig(optimizer="keras")``)."""
        previous, self._creating = self._creating, True
        try:
            with _collections_kept():
                yield
        finally:
            self._creating = previous

    @contextlib.contextmanager
    def plain_copies(self):
        """Hands out plain (not distributed) copies of the model's variables.

        For EVAL and PREDICT under several replicas: their v1 graphs are traced outside
        replica context, where distributed variables turn a model_fn's (unused)
        train_op into per-replica values. Copies are refreshed by `sync_copies`.
        """
        previous, self._use_copies = self._use_copies, True
        try:
            yield
        finally:
            self._use_copies = previous

    def broadcast_first_replica(self):
        """Gives every replica's component of each variable the first replica's value."""
        for entry in self._entries.values():
            parts = self._strategy.experimental_local_results(entry.variable)
            for part in parts[1:]:
                part.assign(parts[0].read_value())

    def sync_copies(self):
        """Gives every plain copy its variable's current value."""
        for name, copy in self._copies.items():
            copy.variable.assign(
                self._strategy.experimental_local_results(self._entries[name].variable)[0]
            )

    def write_back_copies(self):
        """Gives every variable its plain copy's value (what a Scaffold.init_fn wrote)."""
        for name, copy in self._copies.items():
            self._entries[name].variable.assign(copy.variable.read_value())

    def _copy_of(self, name, entry):
        copy = self._copies.get(name)
        if copy is None:
            with tf.init_scope(), _root_name_scope():
                value = self._strategy.experimental_local_results(entry.variable)[0]
                # No creator (wrap_function's would refuse a second `name` in one trace).
                variable = UncreatedResourceVariable(
                    value.read_value(), name=name, trainable=entry.variable.trainable
                )
            give_tf1_attributes(variable, self._strategy, entry.initial_value)
            copy = self._copies[name] = _Entry(variable, entry.collections, None)
        return copy

    @contextlib.contextmanager
    def creator_scope(self):
        """Only the store's creator, innermost (inside a graph built within a trace); under
        a strategy that does not partition, ``partitioner=`` is ignored, as in Estimator's
        ``train_distribute`` scope (`_partitions.without_partitioners`)."""
        drop = contextlib.nullcontext()
        if not self._partitions:
            drop = _partitions.without_partitioners()
        with first_variable_creator_scope(self._creator), drop:
            yield

    def install(self, global_step=None):
        """Gives the current graph (where model_fn is called) a fresh TF1 state.

        A tf.function graph shares the variable lists and the v1 variable (scope)
        store with its outer graph; they are cleared here so each model_fn call
        starts as in a new Estimator graph. Then the global step goes into
        GLOBAL_STEP, where ``get_global_step()`` looks.

        Args:
          global_step: a stand-in for the global step (build traces under several
            replicas, which run outside any replica context: there v1 optimizers would
            update the distributed global step as a per-replica value).
        """
        if global_step is None:
            global_step = self.global_step
            if self._use_copies:
                global_step = self._copy_of("global_step", self._entries["global_step"]).variable
        self.add_base_scope()
        graph = tf.compat.v1.get_default_graph()
        self._model_graph = weakref.ref(graph)
        if not _later_replica():
            for key in SHARED_GRAPH_COLLECTIONS:
                graph.clear_collection(key)
            graph.clear_collection(_GRAPH_KEYS.GLOBAL_STEP)
            graph.add_to_collection(_GRAPH_KEYS.GLOBAL_STEP, global_step)
            graph.add_to_collection(_GRAPH_KEYS.GLOBAL_VARIABLES, global_step)
        self._give_initializer(global_step, graph)
        self._relist_shared(graph)

    def _relist_shared(self, graph):
        """Lists again the variables an earlier call in this graph left in a custom collection.

        Several replicas call model_fn in one graph, as in Estimator's distributed graph,
        where replica 1 found the variable lists as replica 0 left them. Code that shares
        a variable through its own collection (``shared_embedding_columns``) takes it from
        there without ``get_variable``; cleared lists would leave it untrained on that
        replica.
        """
        served = {id(entry.variable): entry for entry in self._entries.values()}
        skip = set(SHARED_GRAPH_COLLECTIONS) | {_GRAPH_KEYS.GLOBAL_STEP}
        for key in graph.get_all_collection_keys():
            if key in skip:
                continue
            for item in graph.get_collection(key):
                entry = served.get(id(item))
                if entry is None:
                    continue
                for name in set(entry.collections) - _LOCAL_COLLECTIONS:
                    if not any(v is item for v in graph.get_collection(name)):
                        graph.add_to_collection(name, item)

    def add_base_scope(self):
        """Names made under the current name scope are taken relative to it (the runner's
        own ``while/``, ``cond/``, ``replica_1/`` scopes are not part of TF1 names)."""
        self._bases.add(tf.get_current_name_scope())

    def handed_out(self, names):
        """The variables (or, under `plain_copies`, the copies) served for ``names``."""
        out = []
        for name in sorted(names):
            entry = self._entries[name]
            if self._use_copies and not entry.is_local:
                entry = self._copy_of(name, entry)
            out.append(entry.variable)
        return out

    def collect_warm_starts(self):
        """Finds ``tf.compat.v1.train.init_from_checkpoint`` calls made by the last trace.

        In TF1 that call swaps a variable's initializer for a restore from another
        checkpoint (used when model_dir has none). The variables here were
        initialized long before, so the call would do nothing: its restore op is
        read back instead (checkpoint file, tensor name) and kept in
        ``warm_starts`` for `apply_warm_starts`.
        """
        for name, entry in self._entries.items():
            variable = entry.variable
            op = getattr(getattr(variable, "_initial_value", None), "op", None)
            if op is None or op.type != "RestoreV2":
                continue
            self.warm_starts[name] = tuple(_first_text(t) for t in op.inputs[:3])
            variable._initial_value = variable._initializer_op = None  # drop the graph ops

    def apply_warm_starts(self, names):
        """Assigns the ``init_from_checkpoint`` values of ``names`` (a fresh model_dir): each
        variable's restore as TF1 ran it (a part reads its slice of the full tensor)."""
        for name in sorted(set(names) & set(self.warm_starts)):
            ckpt, tensor, slice_spec = self.warm_starts[name]
            variable = self._entries[name].variable
            (value,) = _partitions.read(ckpt, [(tensor, slice_spec, variable.dtype)])
            variable.assign(value)

    @property
    def variables(self):
        """A dict of every stored variable by TF1 name (without ``:0``)."""
        return {name: entry.variable for name, entry in self._entries.items()}

    @property
    def global_variables(self):
        """Name -> variable for what Estimator's Saver would save (no local/metric variables)."""
        return {n: e.variable for n, e in self._entries.items() if not e.is_local}

    def reset_local_variables(self):
        """Gives every local (metric) variable its initial value back, as a new Session would."""
        for entry in self._entries.values():
            if entry.is_local:
                entry.variable.assign(entry.initial_value)

    def _creator(self, next_creator, **kwargs):
        if self._creating:  # our own creation below, passing through to the strategy
            return next_creator(**kwargs)
        graph = tf.compat.v1.get_default_graph()
        name = self._name_for(kwargs, graph)
        entry = self._lookup(name, kwargs)
        if self._record is not None:
            self._record.add(name)
        if self._use_copies and not entry.is_local:
            entry = self._copy_of(name, entry)
        self._list_in_model_graph(entry, graph)
        return entry.variable

    def _list_in_model_graph(self, entry, graph):
        """Adds a served variable to the collections of the graph model_fn is called in.

        Keras layers (``tf.compat.v1.keras.layers``, feature columns' ``LinearModel``)
        lift variable creation into ``tf.init_scope()``, where the creator runs
        eagerly; the variable still belongs in the model_fn's graph, where a v1
        optimizer's ``minimize`` looks for TRAINABLE_VARIABLES.
        """
        if tf.executing_eagerly():
            graph = self._model_graph()
            if graph is None:
                return
        with graph.as_default():
            # Local/metric variables stay out of the collections: upstream's EstimatorSpec
            # puts LOCAL_VARIABLES in a set(), and TF2 variables are unhashable.
            for key in set(entry.collections) - _LOCAL_COLLECTIONS:
                if not any(v is entry.variable for v in graph.get_collection(key)):
                    graph.add_to_collection(key, entry.variable)
            self._give_initializer(entry.variable, graph)

    def _give_initializer(self, variable, graph):
        """A no-op ``variable.initializer`` in ``graph``.

        The runner initializes (and restores) its variables itself, but TF1 code builds
        ``tf.compat.v1.global_variables_initializer()`` from them (a Scaffold's
        ``init_op``), which needs each variable's initializer op in the graph.
        """
        for component in self._strategy.experimental_local_results(variable):
            op = getattr(component, "_initializer_op", None)
            if op is None or op.graph is not graph:
                component._initializer_op = tf.no_op(name="initialized_by_the_runner")

    def _lookup(self, name, kwargs):
        entry = self._entries.get(name)
        if entry is not None:
            return entry
        if not self._open:
            raise ValueError(
                f"The model_fn created a new variable `{name}` in a trace where the runner "
                "expects only variables it has already built. A model_fn must create the "
                "same variables, with the same names, every time it is called in a mode; "
                "create variables unconditionally (not behind Python conditions that "
                "change between calls)."
            )
        return self._create(name, kwargs)

    def _name_for(self, kwargs, graph):
        base = (kwargs.get("name") or "Variable").split(":")[0]
        if base.endswith("/"):  # TF1: a name ending in "/" is absolute (v1 slot variables)
            name = base.rstrip("/")
        else:
            scope = _strip_base(tf.get_current_name_scope(), self._bases)
            name = f"{scope}/{base}" if scope else base
        seen = self._seen.setdefault(graph, {}).setdefault(threading.get_ident(), {})
        count = seen.get(name, 0)
        seen[name] = count + 1
        # TF1 graphs uniquify a repeated Variable name as name_1, name_2 ...
        return name if count == 0 else f"{name}_{count}"

    def _create(self, name, kwargs):
        collections = kwargs.get("collections")
        trainable = kwargs.get("trainable")
        sync = kwargs.get("synchronization")
        if trainable is None:
            trainable = sync != tf.VariableSynchronization.ON_READ
        if not collections and _is_metric_accumulator(kwargs):  # Keras metrics' total/count
            collections = sorted(_LOCAL_COLLECTIONS)
        if collections is None:
            collections = [_GRAPH_KEYS.GLOBAL_VARIABLES]
        collections = list(collections)
        if trainable and _GRAPH_KEYS.TRAINABLE_VARIABLES not in collections:
            collections.append(_GRAPH_KEYS.TRAINABLE_VARIABLES)
        args = {k: kwargs[k] for k in _V1_KWARGS if kwargs.get(k) is not None}
        args["trainable"] = trainable
        with _collections_kept(), tf.init_scope():
            initial = _eager_initial_value(name, args.pop("initial_value"), args.get("dtype"))
            self._creating = True
            try:
                # Local (metric) variables stay plain: updated from every replica, read once.
                local = _LOCAL_COLLECTIONS.intersection(collections)
                strategy_scope = contextlib.nullcontext() if local else self._strategy.scope()
                with strategy_scope, _root_name_scope():
                    variable = tf.Variable(initial, name=name, **args)
                give_tf1_attributes(variable, self._strategy, initial)
            finally:
                self._creating = False
        entry = _Entry(variable, collections, initial)
        self._entries[name] = entry
        return entry


def _later_replica():
    """Whether model_fn is called for a local replica after the first, in ``strategy.run``.

    MirroredStrategy calls it on one thread per replica, in one graph, the first
    replica first until each ``merge_call``; replicas after the first run in the first's
    variable scope with ``reuse=True`` and get its variables from the graph's v1
    variable store, as in Estimator's distributed graph. Clearing that graph state
    again for them would take the reuse away and let the first replica's variables made
    after a ``merge_call`` (a second optimizer's, an EMA's) collide with theirs.
    """
    context = tf.distribute.get_replica_context()
    if context is None:
        return False
    replica = tf.get_static_value(context.replica_id_in_sync_group)
    if not replica:  # the first, outside strategy.run, or not static (TPU)
        return False
    # Across workers the id counts every worker's replicas; each worker has its own graph.
    return replica % len(context.strategy.extended.worker_devices) != 0


def _is_metric_accumulator(kwargs):
    """ON_READ + SUM, not trainable, in no collection: how Keras metrics (2 and 3) make
    their variables.

    Estimator put a Keras metric's variables in LOCAL_VARIABLES (EstimatorSpec did),
    so they were neither checkpointed nor restored, and a new Session reset them;
    v1 metrics name those collections themselves. (Keras BatchNormalization's
    moving statistics are ON_READ too, but aggregate by MEAN: global, as in TF1.)
    """
    return (
        kwargs.get("synchronization") == tf.VariableSynchronization.ON_READ
        and kwargs.get("aggregation") == tf.VariableAggregation.SUM
        and not kwargs.get("trainable")
    )


def _first_text(tensor):
    value = np.asarray(tf.get_static_value(tensor)).reshape(-1)[0]
    return value.decode() if isinstance(value, bytes) else str(value)


def _strip_base(scope, bases):
    """``scope`` relative to the longest base it lies in: the runner's loops add none."""
    for base in sorted(bases, key=len, reverse=True):
        if base and (scope == base or scope.startswith(base + "/")):
            return scope[len(base) + 1 :]
    return scope


@contextlib.contextmanager
def _collections_kept():
    """The trace graph's variable lists as they were: creators further down (wrap_function's)
    list what they make, e.g. a MirroredVariable's components next to it, and the v1
    optimizer would then train each twice. `VariableStore._creator` lists what it hands out."""
    graph = tf.compat.v1.get_default_graph()
    keys = (_GRAPH_KEYS.GLOBAL_VARIABLES, _GRAPH_KEYS.TRAINABLE_VARIABLES)
    saved = {key: list(graph.get_collection(key)) for key in keys}
    try:
        yield
    finally:
        for key, items in saved.items():
            graph.get_collection_ref(key)[:] = items


@contextlib.contextmanager
def _root_name_scope():
    with tf.compat.v1.name_scope(None):
        yield


def _eager_initial_value(name, initial_value, dtype):
    if callable(initial_value):  # an initializer: its seeded ops draw what a TF1 graph's did
        restart_seeded_random_kernels()
        initial_value = initial_value()
    if isinstance(initial_value, tf.Tensor) and not hasattr(initial_value, "numpy"):
        static = tf.get_static_value(initial_value)
        if static is None:
            raise ValueError(
                f"The initial value of variable `{name}` is computed in the model_fn's graph "
                f"({initial_value.name}); the runner creates variables outside that graph. "
                "Give the variable an initializer (e.g. `tf.compat.v1.get_variable(..., "
                "initializer=tf.compat.v1.zeros_initializer())`) or a constant initial value."
            )
        initial_value = static
    return tf.convert_to_tensor(initial_value, dtype=dtype)
