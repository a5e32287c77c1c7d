"""A model_fn (or metric_fn) traced into a v1-style graph and pruned like ``Session.run``.

``tf.function`` runs every stateful op a function creates; a Session ran only
what the fetches needed. Legacy model_fns rely on that: many build their
``train_op`` in every mode, and Estimator simply did not fetch it in EVAL. Here
the callable is traced with ``tf.compat.v1.wrap_function`` (a graph without
automatic control dependencies and with fresh TF1 collections) and pruned to
its fetches, so exactly what a Session would have run, runs.

Under several replicas (`trace_replicated`) the v1 graph holds the whole
replicated step: ``strategy.run`` of the model_fn (v1 optimizers all-reduce
through ``merge_call`` there, as under Estimator's distributed graph mode) and
the cross-replica reductions of its fetches, pruned as one.
"""

import dataclasses

from estimator_spec_compat._compat import call_time_captures, per_replica, tf


@dataclasses.dataclass
class V1Function:
    """A traced v1 graph: ``run(*flat_inputs)`` computes ``fetches``.

    Attributes:
      run: the pruned concrete function of the flat inputs, then `call_time_args`.
      result: whatever the traced callable returned (its tensors live in the v1
        graph); for a replicated trace, the first replica's.
      wrapped: the ``WrappedFunction``; prune it again for other fetches.
      closures: what computes the graph's call-time values (collective instance
        keys under MirroredStrategy); empty for most graphs.
      fetches: what ``run`` computes, as tensors/operations of the v1 graph.
      replica_feeds: the input placeholders, one list per replica (one list for `trace`).
    """

    run: object
    result: object
    wrapped: object
    closures: tuple = ()
    fetches: object = None
    replica_feeds: tuple = ()

    def call_time_args(self):
        """The values `run` takes after its inputs.

        Call this once per ``tf.function`` call, at the function's top level (not
        inside a while loop: each closure captures a call-time value in the
        current graph, which must be the function's own).
        """
        return [t for closure in self.closures for t in closure()]

    def prune_without_inputs(self, fetches):
        """A function of no arguments computing ``fetches`` (e.g. metric values)."""
        return self.wrapped.prune([], fetches)


def trace(fn, input_spec, fetches_of, creator_scope):
    """Traces ``fn(inputs)`` in a v1 graph, pruned to ``fetches_of(fn's result)``.

    Args:
      fn: callable of one structure of tensors matching ``input_spec``.
      input_spec: a structure of ``tf.TensorSpec``.
      fetches_of: result -> a structure of tensors/operations to compute (no None).
      creator_scope: a context-manager factory installing the variable store's
        creator innermost (before wrap_function's own creator).

    Returns:
      A `V1Function`.
    """
    holder = {}
    flat_spec = tf.nest.flatten(input_spec)

    def v1_graph(*placeholders):
        inputs = tf.nest.pack_sequence_as(input_spec, placeholders)
        with creator_scope():
            holder["result"] = result = fn(inputs)
        holder["feeds"] = list(placeholders)
        holder["fetches"] = fetches_of(result)

    wrapped = tf.compat.v1.wrap_function(v1_graph, flat_spec)
    return _pruned(wrapped, holder)


def trace_replicated(strategy, fn, input_spec, fetches_of, creator_scope):
    """Traces ``strategy.run(fn)`` in a v1 graph, pruned to ``fetches_of(per-replica results)``.

    Args:
      strategy: the ``tf.distribute.Strategy``; its variables exist already (none
        can be made inside ``strategy.run``).
      fn: callable of one replica's structure of tensors (``input_spec``), called
        in replica context.
      input_spec: one replica's structure of ``tf.TensorSpec``.
      fetches_of: the list of ``fn``'s results, one per local replica in order ->
        a structure of tensors/operations to compute, built in cross-replica context.
      creator_scope: as for `trace`.

    Returns:
      A `V1Function` whose ``run`` takes every local replica's flat inputs
      (`flat_local_inputs`), then `V1Function.call_time_args`.
    """
    holder = {}
    flat_spec = tf.nest.flatten(input_spec)
    replicas = len(strategy.extended.worker_devices)

    def v1_graph(*placeholders):
        k = len(flat_spec)
        parts = [
            tf.nest.pack_sequence_as(input_spec, placeholders[r * k : (r + 1) * k])
            for r in range(replicas)
        ]
        results = {}

        def replica_fn(inputs):
            replica = tf.get_static_value(
                tf.distribute.get_replica_context().replica_id_in_sync_group
            )
            with creator_scope():
                results[len(results) if replica is None else int(replica)] = fn(inputs)

        strategy.run(replica_fn, (per_replica(parts),))
        ordered = [results[key] for key in sorted(results)]
        holder["result"] = ordered[0]
        holder["feeds"] = list(placeholders)
        holder["replica_feeds"] = [placeholders[r * k : (r + 1) * k] for r in range(replicas)]
        holder["fetches"] = fetches_of(ordered)

    wrapped = tf.compat.v1.wrap_function(v1_graph, flat_spec * replicas)
    return _pruned(wrapped, holder)


def flat_local_inputs(strategy, element):
    """The flat inputs of a `trace_replicated` function for one distributed ``element``."""
    leaves = [strategy.experimental_local_results(leaf) for leaf in tf.nest.flatten(element)]
    return [leaf[r] for r in range(len(leaves[0])) for leaf in leaves]


def _pruned(wrapped, holder):
    placeholders, closures = call_time_captures(wrapped.graph)
    pruned = wrapped.prune(holder["feeds"] + placeholders, holder["fetches"])
    return V1Function(
        run=pruned,
        result=holder["result"],
        wrapped=wrapped,
        closures=tuple(closures),
        fetches=holder["fetches"],
        replica_feeds=tuple(holder.get("replica_feeds", [holder["feeds"]])),
    )
