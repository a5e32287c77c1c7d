"""estimator_spec_compat: legacy Estimator model_fns, kept alive and moved to TF2.

Public API (everything else is private):

* `EstimatorSpec`, `TPUEstimatorSpec`: upstream's fields and semantics with
  strict validation; subclasses of the real classes where tensorflow-estimator
  works (`HAS_ESTIMATOR`).
* `InvalidSpecError`, `Problem`: what invalid specs raise (a TypeError and a
  ValueError), with every problem listed.
* `lenient_validation`: upstream-equivalent leniency for code that needs it.
* `ModeKeys`: upstream's own object.
* `eval_metrics_to_ops`, `call_host_fn`: TPU ``(fn, tensors)`` pairs on CPU.
"""

from estimator_spec_compat._checker import VALIDATION_ENV_VAR, lenient_validation
from estimator_spec_compat._compat import HAS_ESTIMATOR, WORLD, ModeKeys
from estimator_spec_compat._errors import InvalidSpecError, Problem
from estimator_spec_compat._host_fn import call_host_fn
from estimator_spec_compat.spec import EstimatorSpec
from estimator_spec_compat.tpu_spec import TPUEstimatorSpec, eval_metrics_to_ops

__version__ = "0.1.0"

__all__ = [
    "HAS_ESTIMATOR",
    "VALIDATION_ENV_VAR",
    "WORLD",
    "EstimatorSpec",
    "InvalidSpecError",
    "ModeKeys",
    "Problem",
    "TPUEstimatorSpec",
    "call_host_fn",
    "eval_metrics_to_ops",
    "lenient_validation",
]
