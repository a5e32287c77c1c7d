"""A TF2 runner for unchanged legacy Estimator model_fns (see `runner.runner` for the design)."""

from estimator_spec_compat.runner._warm_start import WarmStartSettings
from estimator_spec_compat.runner.config import RunnerConfig
from estimator_spec_compat.runner.runner import Runner

__all__ = ["Runner", "RunnerConfig", "WarmStartSettings"]
