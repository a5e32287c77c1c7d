"""Estimator's rules for which SignatureDefs an export has, and under which names.

:func:`export_outputs_of` is upstream's ``export_utils.get_export_outputs``
(the default ``serving_default`` output); :func:`signature_defs` is its
``build_all_signature_defs`` (one SignatureDef per output and receiver-tensors
group, ``'alt:key'`` names, the same exclusions), run in the graph being traced.
"""

import collections

from estimator_spec_compat._compat import (
    ExportOutput,
    new_predict_output,
    tf,
    tf_deprecations_silenced,
)
from estimator_spec_compat._errors import short_repr

_DEFAULT_KEY = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY


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
            outputs = {_DEFAULT_KEY: new_predict_output(predictions)}
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


def signature_defs(receiver, export_outputs):
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
                with tf_deprecations_silenced():  # upstream's build_tensor_info call
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
