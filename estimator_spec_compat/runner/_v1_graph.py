"""A model_fn (or metric_fn) traced into a v1-style graph and pruned like ``Session.run``.

``tf.function`` runs every stateful op a function creates; a Session ran only
what the fetches needed. Legacy model_fns rely on that: many build their
``train_op`` in every mode, and Estimator simply did not fetch it in EVAL. Here
the callable is traced with ``tf.compat.v1.wrap_function`` (a graph without
automatic control dependencies and with fresh TF1 collections) and pruned to
its fetches, so exactly what a Session would have run, runs.
"""

import dataclasses

from estimator_spec_compat._compat import tf


@dataclasses.dataclass
class V1Function:
    """A traced v1 graph: ``run(*flat_inputs)`` computes ``fetches``.

    Attributes:
      run: the pruned concrete function of the flat inputs.
      result: whatever the traced callable returned (its tensors live in the v1 graph).
      wrapped: the ``WrappedFunction``; prune it again for other fetches.
    """

    run: object
    result: object
    wrapped: object

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
    pruned = wrapped.prune(holder["feeds"], holder["fetches"])
    return V1Function(run=pruned, result=holder["result"], wrapped=wrapped)
