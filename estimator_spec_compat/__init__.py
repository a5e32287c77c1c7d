"""estimator_spec_compat: legacy Estimator model_fns, kept alive and moved to TF2."""

from estimator_spec_compat._compat import HAS_ESTIMATOR, WORLD, ModeKeys
from estimator_spec_compat._errors import InvalidSpecError

__version__ = "0.1.0"

__all__ = [
    "HAS_ESTIMATOR",
    "WORLD",
    "InvalidSpecError",
    "ModeKeys",
]
