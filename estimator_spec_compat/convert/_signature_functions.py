"""Tracing a model's serving signatures into TF2 concrete functions.

:func:`build_signatures` calls the serving input receiver fn and the model
(PREDICT) once inside a TF2 function graph (``tf.compat.v1.wrap_function``,
which allows legacy placeholder-based receiver fns), turns its export outputs
into SignatureDefs as Estimator does (``convert._signature_defs``) and prunes
one concrete function per signature out of that graph.
"""

import contextlib
import dataclasses
import types

from estimator_spec_compat._compat import (
    ResourceTracker,
    resource_tracker_scope,
    tf,
    wrap_v1_graph_function,
)
from estimator_spec_compat._errors import short_repr
from estimator_spec_compat.convert._signature_defs import export_outputs_of, signature_defs
from estimator_spec_compat.convert.serving import check_receiver


@dataclasses.dataclass(frozen=True)
class ServingSignatures:
    """The signatures of one export, ready for ``tf.saved_model.save``.

    Attributes:
      functions: signature key -> concrete function taking the input keys as
        keyword arguments and returning a dict of the output keys. Pass it as
        ``signatures=`` to ``tf.saved_model.save``.
      method_names: signature key -> SignatureDef method name
        (``tensorflow/serving/predict``, ``.../classify`` or ``.../regress``).
      excluded: signature key -> why it was left out. Estimator leaves out the
        same ones (e.g. a classification output with a non-string input).
      variables: the variables the functions capture; the object saved must
        track all of them.
      resources: the resources made while the signatures were traced (the lookup
        tables of vocabulary feature columns); `save_serving_model` tracks them.
    """

    functions: types.MappingProxyType
    method_names: types.MappingProxyType
    excluded: types.MappingProxyType
    variables: tuple
    resources: tuple = ()


def build_signatures(model_call, serving_input_receiver_fn):
    """Builds the serving signatures of a model, as Estimator's export does.

    Example:
        >>> model = tf.compat.v1.make_template("model", model_fn)
        >>> model_call = lambda features: model(features, None, ModeKeys.PREDICT)
        >>> sigs = build_signatures(model_call, build_parsing_serving_input_receiver_fn(spec))
        >>> sorted(sigs.functions)
        ['classify', 'serving_default']

    Args:
      model_call: ``features -> spec or dict of ExportOutput``; called once,
        inside a graph, with the receiver's features (see
        :func:`export_outputs_of`). Its variables must exist already. A
        ``tf.compat.v1.make_template`` template caches its variable scope on
        its second call, with the graph of that call: call it twice eagerly
        before any tracing (here or in a tf.function), or later eager calls
        build into a finished graph.
      serving_input_receiver_fn: a function of no arguments returning a
        receiver (see ``convert.serving``; upstream receivers work too).

    Returns:
      A :class:`ServingSignatures`.

    Raises:
      TypeError: if an argument is not callable, or returns the wrong type.
      ValueError: if ``model_call`` creates variables or v1 lookup tables, no
        signature can be served, or an input or output is sparse or ragged.
    """
    for name, value in [
        ("model_call", model_call),
        ("serving_input_receiver_fn", serving_input_receiver_fn),
    ]:
        if not callable(value):
            raise TypeError(f"`{name}` ({short_repr(value)}) must be callable.")
    built, created = {}, []

    def record_creation(next_creator, **kwargs):
        variable = next_creator(**kwargs)
        created.append(variable.name)
        return variable

    def graph_fn():
        with tf.variable_creator_scope(record_creation):
            receiver = check_receiver(serving_input_receiver_fn())
            export_outputs = export_outputs_of(model_call(receiver.features))
        built["defs"], built["excluded"] = signature_defs(receiver, export_outputs)

    tracker = ResourceTracker() if ResourceTracker is not None else None
    with resource_tracker_scope(tracker) if tracker else contextlib.nullcontext():
        wrapped = wrap_v1_graph_function(graph_fn)
    if created:
        raise ValueError(
            f"`model_call` created variables {created[:5]} while the serving signatures were "
            "traced, so the export would hold fresh values, not trained ones. Build and restore "
            "the model's variables first (e.g. call the template once, then restore the "
            "checkpoint)."
        )
    _check_no_tables(wrapped.graph)
    if not built["defs"]:
        raise ValueError(
            f"No servable signature: every export output was left out: {built['excluded']}."
        )
    functions = {
        key: _signature_function(wrapped, key, sig_def) for key, sig_def in built["defs"].items()
    }
    return ServingSignatures(
        functions=types.MappingProxyType(functions),
        method_names=types.MappingProxyType(
            {key: sig_def.method_name for key, sig_def in built["defs"].items()}
        ),
        excluded=types.MappingProxyType(built["excluded"]),
        variables=tuple(wrapped.variables),
        resources=tuple(tracker.resources) if tracker else (),
    )


def _check_no_tables(graph):
    """Refuses v1 lookup tables made while tracing: nothing would initialize them."""
    initializers = graph.get_collection(tf.compat.v1.GraphKeys.TABLE_INITIALIZERS)
    made = [op.name for op in initializers if getattr(op, "graph", None) is graph]
    if made:
        raise ValueError(
            f"`model_call` made lookup tables while the signatures were traced (initializers "
            f"{made[:3]}, e.g. from vocabulary feature columns); a TF2 SavedModel cannot "
            "initialize them. Create the tables once, eagerly (e.g. tf.lookup.StaticHashTable "
            "or tf.keras.layers.StringLookup), use them in `model_call`, and track them on "
            "`root` when saving."
        )


def _signature_function(wrapped, key, sig_def):
    """A concrete function with keyword inputs, pruned out of the wrapped graph."""
    graph = wrapped.graph
    input_keys = sorted(sig_def.inputs)
    feeds = [_dense(graph, key, "input", k, sig_def.inputs[k]) for k in input_keys]
    fetches = {k: _dense(graph, key, "output", k, info) for k, info in sig_def.outputs.items()}
    pruned = wrapped.prune(feeds=feeds, fetches=fetches)

    def signature(**inputs):
        return pruned(*[inputs[k] for k in input_keys])

    signature.__name__ = "signature_" + "".join(c if c.isalnum() else "_" for c in key)
    specs = {k: tf.TensorSpec(t.shape, t.dtype, name=k) for k, t in zip(input_keys, feeds)}
    return tf.function(signature).get_concrete_function(**specs)


def _dense(graph, key, kind, name, tensor_info):
    if tensor_info.WhichOneof("encoding") != "name":
        raise ValueError(
            f"Signature {key!r} {kind} {name!r} is sparse or ragged; TF2 signatures take and "
            "return dense tensors only. Densify it in the receiver fn or the model."
        )
    return graph.get_tensor_by_name(tensor_info.name)
