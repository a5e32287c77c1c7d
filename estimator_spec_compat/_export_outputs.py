"""Validation of ``export_outputs`` (upstream: ``export_utils.get_export_outputs``, PREDICT only).

Upstream's messages changed wording inside TF 2.x; both versions lead the
problem, since test suites of legacy code match either: TF 2.15/2.21's
(```export_outputs` must be dict, received: ...``) and TF 1.x's
(``export_outputs must be dict, given: ...``).
"""

from estimator_spec_compat._compat import ExportOutput, ModeKeys, new_predict_output, tf
from estimator_spec_compat._errors import given

DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
_MULTIPLE_UPSTREAM = (
    "Multiple `export_outputs` were provided, but none of them are specified as the default. "
    "Use`tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY` to specify a default. "
    "(TF 1.x: Multiple export_outputs were provided, but none of them is specified as the "
    "default.  Do this by naming one of them with "
    "signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY.)"
)


def _not_dict_upstream(export_outputs):
    text = given(export_outputs)
    return (
        f"`export_outputs` must be dict, received: {text}. "
        f"(TF 1.x: export_outputs must be dict, given: {text})"
    )


def _values_upstream(export_outputs):
    text = given(export_outputs, limit=1000)
    return (
        f"Values in `export_outputs` must be ExportOutput objects, received: {text}. "
        f"(TF 1.x: Values in export_outputs must be ExportOutput objects. Given: {text})"
    )


def _default_output(ck, predictions):
    try:
        return {DEFAULT_SIGNATURE: new_predict_output(predictions)}
    except (TypeError, ValueError) as error:
        ck.add(
            "predictions",
            predictions,
            "cannot be exported (the default export output is a PredictOutput of them).",
            "fix the predictions.",
            upstream=given(error),
        )
        return None


def _check_entries(ck, export_outputs, add):
    upstream = ""
    for key, value in export_outputs.items():
        field = f"export_outputs[{key!r}]"
        if not isinstance(key, str):
            ck.add_strict(
                field, key, "keys must be strings.", "use a string signature name.", kind="type"
            )
        if not isinstance(value, ExportOutput):
            upstream = upstream or _values_upstream(export_outputs)
            add(
                field,
                value,
                "must be an ExportOutput (PredictOutput, ClassificationOutput, RegressionOutput).",
                "wrap the tensors, e.g. `tf.estimator.export.PredictOutput({'y': y})`.",
                kind="type",
                upstream=upstream,
            )


def check_export_outputs(ck, export_outputs, predictions, mode):
    """Checked in every mode (outside PREDICT strictly only); in PREDICT completed with defaults."""
    if export_outputs is None:
        if mode != ModeKeys.PREDICT or ck.problems:
            return export_outputs
        return _default_output(ck, predictions)
    predict = mode == ModeKeys.PREDICT

    def add(*args, upstream, **kwargs):
        if predict:
            ck.add(*args, upstream=upstream, **kwargs)
        else:
            ck.add_strict(*args, **kwargs)

    if not isinstance(export_outputs, dict):
        add(
            "export_outputs",
            export_outputs,
            "must be a dict of signature name -> ExportOutput.",
            "e.g. `{'serving_default': tf.estimator.export.PredictOutput(predictions)}`.",
            kind="type",
            upstream=_not_dict_upstream(export_outputs),
        )
        return export_outputs
    _check_entries(ck, export_outputs, add)
    if not export_outputs and predict:
        ck.add_strict(
            "export_outputs",
            export_outputs,
            "is empty, so an export would have no serving signature.",
            "leave it out (None gives a default PredictOutput of the predictions) or add outputs.",
        )
    if len(export_outputs) > 1 and DEFAULT_SIGNATURE not in export_outputs:
        add(
            "export_outputs",
            sorted(map(str, export_outputs)),
            f"several outputs were given but none is the default {DEFAULT_SIGNATURE!r}.",
            f"name one of them {DEFAULT_SIGNATURE!r} "
            "(tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY).",
            upstream=_MULTIPLE_UPSTREAM,
        )
    if predict and len(export_outputs) == 1:
        ((key, value),) = export_outputs.items()
        if key != DEFAULT_SIGNATURE:
            export_outputs = {key: value, DEFAULT_SIGNATURE: value}
    return export_outputs
