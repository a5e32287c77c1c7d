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

This module is the public address of the export; the work is done in
``_signature_defs`` (Estimator's naming and exclusion rules),
``_signature_functions`` (tracing and pruning) and ``_export_writer`` (writing).

Example:
    >>> sigs = build_signatures(model_call, receiver_fn)
    >>> save_serving_model("/models/m/1", sigs, root=module)
"""

from estimator_spec_compat.convert._export_writer import (
    export_serving_model,
    fix_method_names,
    save_serving_model,
    timestamped_export_dir,
)
from estimator_spec_compat.convert._signature_defs import export_outputs_of
from estimator_spec_compat.convert._signature_functions import ServingSignatures, build_signatures

__all__ = [
    "ServingSignatures",
    "build_signatures",
    "export_outputs_of",
    "export_serving_model",
    "fix_method_names",
    "save_serving_model",
    "timestamped_export_dir",
]
