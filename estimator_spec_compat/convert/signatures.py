"""Estimator ``export_outputs`` -> TF2 SavedModel signatures, and an atomic export.

Estimator's ``export_saved_model`` calls the serving input receiver fn and the
model_fn (PREDICT) in one graph and turns each ``export_outputs`` entry into a
SignatureDef (``ExportOutput.as_signature_def``), once for the receiver
tensors and once per receiver-tensors alternative (named ``'alt:key'``).

:func:`build_signatures` does the same inside a TF2 function graph
(``tf.compat.v1.wrap_function``, which allows legacy placeholder-based receiver
fns) and prunes one concrete function per signature, with the same signature
names, input keys, output keys and method names as Estimator writes.  The
model's variables must already exist (built and restored): they are captured,
not created.  :func:`save_serving_model` writes them with ``tf.saved_model.save``
into a temporary directory, sets the classify/regress method names that TF2
saving cannot express, and only then renames the directory into place.

Example:
    >>> sigs = build_signatures(model_call, receiver_fn)
    >>> save_serving_model("/models/m/1", sigs, root=module)
"""

import collections
import dataclasses
import os
import time
import types
import uuid

from estimator_spec_compat._compat import ExportOutput, PredictOutput, tf, wrap_v1_graph_function
from estimator_spec_compat._errors import short_repr
from estimator_spec_compat.convert.serving import check_receiver

_DEFAULT_KEY = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
_SERVE_TAG = tf.saved_model.SERVING
_PREDICT = tf.saved_model.PREDICT_METHOD_NAME


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
    """

    functions: types.MappingProxyType
    method_names: types.MappingProxyType
    excluded: types.MappingProxyType
    variables: tuple


def export_outputs_of(spec_or_outputs):
    """The checked ``export_outputs`` dict of a PREDICT spec, with its default.

    As upstream's ``export_utils.get_export_outputs``: None becomes
    ``{'serving_default': PredictOutput(spec.predictions)}``; a single entry
    under another key is also served as ``serving_default``; several entries
    need one under ``serving_default``. The input is not modified.

    Example:
        >>> outputs = export_outputs_of({"classify": ClassificationOutput(scores=probs)})
        >>> sorted(outputs)
        ['classify', 'serving_default']

    Args:
      spec_or_outputs: an object with ``export_outputs`` and ``predictions``
        (EstimatorSpec, TPUEstimatorSpec, ours or upstream's), or a dict of
        key -> ``ExportOutput`` itself.

    Returns:
      A new dict of signature key -> ``ExportOutput``.

    Raises:
      TypeError: if ``export_outputs`` is not a dict of ExportOutput objects.
      ValueError: if several outputs are given and none is ``serving_default``.
    """
    if isinstance(spec_or_outputs, collections.abc.Mapping):
        outputs, predictions = spec_or_outputs, None
    elif hasattr(spec_or_outputs, "export_outputs"):
        outputs = spec_or_outputs.export_outputs
        predictions = getattr(spec_or_outputs, "predictions", None)
        if outputs is None:
            outputs = {_DEFAULT_KEY: PredictOutput(predictions)}
    else:
        raise TypeError(
            f"`model_call` returned {short_repr(spec_or_outputs)}; it must return a spec with "
            "`export_outputs` and `predictions` (e.g. an EstimatorSpec), or a dict of "
            "key -> ExportOutput."
        )
    if not isinstance(outputs, collections.abc.Mapping):
        raise TypeError(
            f"`export_outputs` ({short_repr(outputs)}) must be a dict of signature key -> "
            "ExportOutput (PredictOutput, ClassificationOutput, RegressionOutput), or None."
        )
    outputs = dict(outputs)
    for key, value in outputs.items():
        if not isinstance(value, ExportOutput):
            raise TypeError(
                f"`export_outputs[{key!r}]` ({short_repr(value)}) must be an ExportOutput: "
                "wrap it in tf.estimator.export.PredictOutput (or Classification/Regression)."
            )
    if len(outputs) == 1:
        outputs.setdefault(_DEFAULT_KEY, next(iter(outputs.values())))
    if len(outputs) > 1 and _DEFAULT_KEY not in outputs:
        raise ValueError(
            f"`export_outputs` (keys {sorted(outputs)}) has several outputs but none under "
            f"'{_DEFAULT_KEY}'. Put the default one under "
            "tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY."
        )
    return outputs


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
        built["defs"], built["excluded"] = _signature_defs(receiver, export_outputs)

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


def _signature_defs(receiver, export_outputs):
    """SignatureDefs keyed by signature name, and the excluded names with reasons.

    The naming and exclusion rules are upstream's ``build_all_signature_defs``.
    """
    groups = [(None, receiver.receiver_tensors)]
    groups += sorted((receiver.receiver_tensors_alternatives or {}).items())
    defs, excluded = {}, {}
    for group_name, receiver_tensors in groups:
        for output_key, export_output in export_outputs.items():
            name = output_key if group_name is None else f"{group_name}:{output_key}"
            try:
                sig_def = export_output.as_signature_def(receiver_tensors)
                _check_servable(receiver_tensors, sig_def)
            except ValueError as error:
                excluded[name] = str(error)
                continue
            if tf.compat.v1.saved_model.signature_def_utils.is_valid_signature(sig_def):
                defs[name] = sig_def
            else:
                excluded[name] = "not a valid serving signature (is_valid_signature)."
    if excluded:
        short = {name: reason.split(".")[0] for name, reason in excluded.items()}
        tf.get_logger().warning("Signatures left out, as Estimator would: %s", short)
    return defs, excluded


def _check_servable(receiver_tensors, sig_def):
    """Raises ValueError if an output needs a placeholder that is not an input."""
    graph = tf.compat.v1.get_default_graph()
    inputs = {t.name for t in receiver_tensors.values()}
    captures = {t.name for t in getattr(graph, "internal_captures", ())}
    stack = [graph.get_tensor_by_name(info.name) for info in sig_def.outputs.values()]
    seen = set()
    while stack:
        tensor = stack.pop()
        if tensor.name in inputs or tensor.op.name in seen:
            continue
        seen.add(tensor.op.name)
        if tensor.op.type == "Placeholder" and tensor.name not in captures:
            raise ValueError(
                f"its outputs depend on placeholder `{tensor.op.name}`, which is not one of "
                f"its inputs {sorted(receiver_tensors)}."
            )
        stack.extend(tensor.op.inputs)
        stack.extend(op.outputs[0] for op in tensor.op.control_inputs if op.outputs)


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


def fix_method_names(export_dir, method_names):
    """Sets the SignatureDef method names (classify/regress) in a SavedModel.

    ``tf.saved_model.save`` writes every signature as a predict signature;
    TF Serving's Classify and Regress APIs need the method names Estimator
    wrote. Uses ``tf.compat.v1.saved_model.signature_def_utils.MethodNameUpdater``.
    :func:`save_serving_model` calls it; call it yourself only after your own
    ``tf.saved_model.save``.

    Example:
        >>> tf.saved_model.save(module, path, signatures=dict(sigs.functions))
        >>> fix_method_names(path, sigs.method_names)

    Args:
      export_dir: a SavedModel directory written with tag ``serve``.
      method_names: signature key -> method name (``ServingSignatures.method_names``).
    """
    changes = {k: m for k, m in method_names.items() if m != _PREDICT}
    if not changes:
        return
    updater = tf.compat.v1.saved_model.signature_def_utils.MethodNameUpdater(export_dir)
    for key, method_name in changes.items():
        updater.replace_method_name(key, method_name, tags=_SERVE_TAG)
    updater.save()


def save_serving_model(export_dir, signatures, *, root=None, options=None):
    """Writes a serving SavedModel atomically, with Estimator's method names.

    The model is written to a temporary directory next to ``export_dir``
    (named ``temp-<name>-<random>``, which TF Serving ignores) and renamed
    into place only when complete; on any failure the temporary directory is
    removed and ``export_dir`` does not exist.

    Example:
        >>> sigs = build_signatures(model_call, receiver_fn)
        >>> path = save_serving_model(os.path.join(base, "1700000000"), sigs)
        >>> tf.saved_model.load(path).signatures["serving_default"](x=batch)

    Args:
      export_dir: the final directory; it must not exist yet.
      signatures: a :class:`ServingSignatures` from :func:`build_signatures`.
      root: the trackable object to save (e.g. the runner's ``tf.Module``); it
        must track every variable in ``signatures.variables``. None: a new
        ``tf.Module`` tracking exactly those variables.
      options: an optional ``tf.saved_model.SaveOptions``.

    Returns:
      ``export_dir`` as a string.

    Raises:
      TypeError: if ``signatures`` is not a ServingSignatures.
      ValueError: if ``export_dir`` already exists, or ``root`` does not track
        a variable or other resource the signatures capture.
    """
    if not isinstance(signatures, ServingSignatures):
        raise TypeError(
            f"`signatures` ({short_repr(signatures)}) must be the ServingSignatures that "
            "build_signatures returns."
        )
    export_dir = os.fspath(export_dir)
    if isinstance(export_dir, bytes):
        export_dir = export_dir.decode()
    if tf.io.gfile.exists(export_dir):
        raise ValueError(
            f"`export_dir` ({export_dir!r}) already exists; an export never overwrites one. "
            "Pass a new directory (e.g. a new timestamp)."
        )
    if root is None:
        root = tf.Module()
        root.exported_variables = list(signatures.variables)
    parent, name = os.path.split(export_dir.rstrip("/"))
    temp_dir = os.path.join(parent, f"temp-{name}-{uuid.uuid4().hex[:8]}")
    tf.io.gfile.makedirs(parent or ".")
    try:
        try:
            tf.saved_model.save(
                root, temp_dir, signatures=dict(signatures.functions), options=options
            )
        except AssertionError as error:  # TF's way of saying a capture is untracked
            if "untracked" not in str(error):
                raise
            raise ValueError(
                f"`root` ({short_repr(root)}) does not track a resource the signatures capture "
                "(a variable or a lookup table). Assign it to an attribute of `root` (e.g. "
                "`root.model_variables = list(signatures.variables)`), or pass `root=None` if "
                "the model has variables only.\n" + str(error)
            ) from None
        fix_method_names(temp_dir, signatures.method_names)
        tf.io.gfile.rename(temp_dir, export_dir, overwrite=False)
    finally:
        if tf.io.gfile.exists(temp_dir):
            tf.io.gfile.rmtree(temp_dir)
    return export_dir


def timestamped_export_dir(export_dir_base):
    """A new ``export_dir_base/<seconds since epoch>`` path, as Estimator names exports.

    Unlike upstream it never sleeps: if the current second is taken, the next
    free number above every existing numeric version is used, so versions
    still increase (TF Serving serves the largest).

    Example:
        >>> path = save_serving_model(timestamped_export_dir("/models/m"), sigs)

    Args:
      export_dir_base: the directory that holds one subdirectory per export.

    Returns:
      The path (a str); the directory is not created.
    """
    export_dir_base = os.fspath(export_dir_base)
    if isinstance(export_dir_base, bytes):
        export_dir_base = export_dir_base.decode()
    taken = []
    if tf.io.gfile.isdir(export_dir_base):
        taken = [
            int(n.strip("/"))
            for n in tf.io.gfile.listdir(export_dir_base)
            if n.strip("/").isdigit()
        ]
    version = max([int(time.time())] + [n + 1 for n in taken])
    return os.path.join(export_dir_base, str(version))


def export_serving_model(
    export_dir_base, model_call, serving_input_receiver_fn, *, root=None, options=None
):
    """``Estimator.export_saved_model`` in one call: build, then save atomically.

    Example:
        >>> path = export_serving_model("/models/m", model_call, receiver_fn, root=module)

    Args:
      export_dir_base: where the timestamped export directory is made.
      model_call: as for :func:`build_signatures`.
      serving_input_receiver_fn: as for :func:`build_signatures`.
      root: as for :func:`save_serving_model`.
      options: an optional ``tf.saved_model.SaveOptions``.

    Returns:
      The path of the new export (a str).
    """
    signatures = build_signatures(model_call, serving_input_receiver_fn)
    export_dir = timestamped_export_dir(export_dir_base)
    return save_serving_model(export_dir, signatures, root=root, options=options)
