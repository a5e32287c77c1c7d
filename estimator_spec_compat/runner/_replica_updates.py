"""Refuses replica-local updates of trainable variables under several replicas.

A ``tf.compat.v1.train.Optimizer`` subclass that overrides ``apply_gradients``
without ``merge_call`` (BERT's ``AdamWeightDecayOptimizer``), fed gradients from
``tf.gradients``, writes each replica's copy of a variable from that replica's
batch alone. Measured with tensorflow-estimator 2.15 over two logical CPUs:
``Estimator(config=RunConfig(train_distribute=MirroredStrategy))`` ran it without
a word, each copy trained on its own replica's batches, and its checkpoint (the
first copy) equals one device trained on every second batch only. The runner
refuses such a train step before its first run instead.

The test is on the traced step itself, so it holds whatever the code looks
like: a write to a trainable variable whose value depends on some replicas'
inputs but not all of them is replica-local. (An all-reduced update depends on
every replica's inputs; v1 optimizers all-reduce in ``merge_call``.)
"""

import inspect

from estimator_spec_compat._compat import tf

_COLLECTIVE_PREFIXES = ("Collective", "NcclAllReduce", "CrossReplicaSum", "AllToAll")
_WRITE_PREFIXES = ("Assign", "ResourceApply", "ResourceSparseApply", "ResourceScatter")


def check_updates_use_every_replica(graph, fetches, replica_feeds, variables, strategy):
    """Raises if the step computing ``fetches`` updates a trainable variable replica-locally.

    Args:
      graph: the traced replicated step's graph.
      fetches: what one step runs.
      replica_feeds: one list of input placeholders per replica.
      variables: name -> variable (the store's).
      strategy: the ``tf.distribute.Strategy`` the variables belong to.

    Raises:
      ValueError: naming the variables, the optimizer class (where found) and the fix.
    """
    if len(replica_feeds) < 2:
        return
    names = _trainable_handles(graph, variables, strategy)
    replicas_of = _replicas_each_op_reads(graph, replica_feeds)
    local = {}
    for op in _ops_run(fetches):
        target = names.get(op.inputs[0].ref()) if op.inputs and _is_write(op) else None
        if target is None:
            continue
        used = frozenset().union(*(replicas_of[t.op.name] for t in op.inputs[1:]))
        if used and len(used) < len(replica_feeds):
            local.setdefault(target, op)
    if local:
        raise ValueError(_message(local, len(replica_feeds)))


def _is_write(op):
    return op.type.startswith(_WRITE_PREFIXES) and op.inputs[0].dtype == tf.resource


def _trainable_handles(graph, variables, strategy):
    """The graph's captured handle (``.ref()``) -> name, for every trainable variable's copies."""
    by_handle = {}
    for name, variable in variables.items():
        if getattr(variable, "trainable", False):
            for copy in strategy.experimental_local_results(variable):
                by_handle[id(copy.handle)] = name
    return {
        internal.ref(): by_handle[id(external)]
        for external, internal in graph.captures
        if id(external) in by_handle
    }


def _replicas_each_op_reads(graph, replica_feeds):
    """Op name -> the replicas whose inputs its value depends on (data edges only).

    Ops are created after their inputs, so one pass in creation order suffices.
    Collective ops (MirroredStrategy's all-reduce) meet the other replicas' at run
    time, not through edges: their results count as reading every replica.
    """
    feed_replica = {t.op.name: r for r, feeds in enumerate(replica_feeds) for t in feeds}
    every = frozenset(range(len(replica_feeds)))
    reads = {}
    for op in graph.get_operations():
        if op.type.startswith(_COLLECTIVE_PREFIXES):  # joined with the others at run time
            reads[op.name] = every
            continue
        own = {feed_replica[op.name]} if op.name in feed_replica else set()
        reads[op.name] = frozenset(own).union(*(reads.get(t.op.name, ()) for t in op.inputs))
    return reads


def _ops_run(fetches):
    """Every op a Session would run for ``fetches`` (data and control edges)."""
    flat = tf.nest.flatten(fetches, expand_composites=True)
    stack = [f if isinstance(f, tf.Operation) else f.op for f in flat]
    seen = {}
    while stack:
        op = stack.pop()
        if op.name not in seen:
            seen[op.name] = op
            stack.extend(t.op for t in op.inputs)
            stack.extend(op.control_inputs)
    return sorted(seen.values(), key=lambda op: op.name)


def _message(local, replicas):
    op = next(iter(local.values()))
    found = _optimizer_class(op)
    where = f"`{found.__qualname__}` ({found.__module__})" if found else "The model_fn's train_op"
    frame = _user_frame(op)
    return (
        f"{where} updates trainable variables {sorted(local)} from each replica's own batch "
        f"(no all-reduce; e.g. {op.type} {op.name!r}{frame}): a tf.compat.v1.train.Optimizer "
        "subclass that overrides `apply_gradients` without `merge_call`, fed by "
        f"`tf.gradients`, does that. Under {replicas} replicas every copy would train on its "
        f"own share of the batches and the copies would drift apart; Estimator(train_distribute="
        "MirroredStrategy) did exactly that, silently (its checkpoint held the first copy, "
        f"trained on one batch in {replicas} only). Fix: run on one replica (`strategy=` a "
        "tf.distribute.OneDeviceStrategy), or all-reduce the gradients before applying them "
        "(`grads = tf.distribute.get_replica_context().all_reduce('mean', grads)`), or apply "
        "them with a stock tf.compat.v1.train optimizer (its `apply_gradients` all-reduces)."
    )


def _user_frame(op):
    frames = [f for f in op.traceback if "/tensorflow/" not in f.filename]
    return f", made at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _optimizer_class(op):
    """The v1 Optimizer subclass whose method built ``op`` (by its creation traceback), or None."""
    classes = _subclasses(tf.compat.v1.train.Optimizer)
    for frame in reversed(list(op.traceback)):
        for cls in classes:
            for fn in vars(cls).values():
                code = getattr(inspect.unwrap(fn) if callable(fn) else None, "__code__", None)
                if code is not None and code.co_filename == frame.filename:
                    lines = [line for _, _, line in code.co_lines() if line is not None]
                    if lines and min(lines) <= frame.lineno <= max(lines):
                        return cls
    return None


def _subclasses(cls):
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found
