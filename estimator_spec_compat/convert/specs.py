"""TPU spec -> CPU spec, for this package's specs, upstream's, or any object with the fields."""

from estimator_spec_compat.tpu_spec import TPU_ESTIMATOR_SPEC_FIELDS, TPUEstimatorSpec

__all__ = ["tpu_to_cpu_spec"]


def tpu_to_cpu_spec(spec):
    """Converts a TPUEstimatorSpec to this package's `EstimatorSpec`.

    Works in a graph, eagerly and inside ``tf.function`` (what ``metric_fn``
    and the host_call fn do must suit the context: ``tf.compat.v1.metrics``
    need a graph, or `LegacyMetrics.scope()` around this call). Upstream's
    ``tf.compat.v1.estimator.tpu.TPUEstimatorSpec`` is accepted too and is
    validated strictly on the way, so its deferred TPU problems show up here.

    Example:
      >>> legacy = LegacyMetrics()
      >>> with legacy.scope():
      ...     cpu_spec = tpu_to_cpu_spec(model_fn(features, labels, "eval", params))

    Args:
      spec: a TPUEstimatorSpec (ours or upstream's) or an object with its 11 fields.

    Returns:
      An `estimator_spec_compat.EstimatorSpec`.

    Raises:
      TypeError: if ``spec`` lacks TPUEstimatorSpec fields.
      InvalidSpecError: if the fields are invalid.
    """
    if not isinstance(spec, TPUEstimatorSpec):
        missing = [name for name in TPU_ESTIMATOR_SPEC_FIELDS if not hasattr(spec, name)]
        if missing:
            raise TypeError(
                f"`spec` ({type(spec).__name__}) must be a TPUEstimatorSpec; it lacks the "
                f"fields {missing}. Return `TPUEstimatorSpec(...)` from model_fn."
            )
        spec = TPUEstimatorSpec(**{name: getattr(spec, name) for name in TPU_ESTIMATOR_SPEC_FIELDS})
    return spec.as_estimator_spec()
