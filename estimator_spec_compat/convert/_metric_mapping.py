"""The explicit v1 -> Keras metric mapping, for code that is being rewritten.

Public through :mod:`estimator_spec_compat.convert.metrics`.
"""

from estimator_spec_compat.convert import _metric_config, _metric_patch, _metric_table


def supported_v1_metrics():
    """What serves each ``tf.compat.v1.metrics`` name, and the nearest stock Keras metric.

    Returns:
      ``{v1_name: (served_by, nearest_keras)}``, sorted by name. ``served_by`` is
      the metric class that ``LegacyMetrics`` and :func:`to_keras_metric` build (a
      stock ``tf.keras.metrics`` class where its numerics are v1's, else one of this
      package's ``V1*`` classes); ``nearest_keras`` says what to use in a rewrite
      without this package and how it differs from v1.

    Example::

        supported_v1_metrics()["auc"]  # ("V1AUC", "tf.keras.metrics.AUC(...) - close, ...")
    """
    return {
        name: (entry.build.served_by, entry.keras)
        for name, entry in sorted(_metric_table.ENTRIES.items())
    }


def to_keras_metric(v1_name, **v1_kwargs):
    """The Keras metric to use instead of ``tf.compat.v1.metrics.<v1_name>``.

    Args:
      v1_name: a name from :func:`supported_v1_metrics`, e.g. ``"auc"``.
      **v1_kwargs: the v1 call's configuration arguments (``num_thresholds``,
        ``curve``, ``summation_method``, ``thresholds``, ``num_classes``, ``dim``,
        ``threshold``, ``k``, ``class_id``, ``name``; ``shape`` for ``mean_tensor``).

    Returns:
      ``(metric, to_update_kwargs)``: a fresh Keras metric of the active
      ``tf.keras``, and a function that takes the v1 call's tensor arguments
      (as v1 names them: ``labels``, ``predictions``, ``weights`` ...) and returns
      the keyword arguments for ``metric.update_state`` (v1's squeezing, casting
      and weight broadcasting applied; v1 values follow only through it, since
      stock Keras metrics handle raw inputs their own way). Create the metric
      outside ``tf.function`` (under ``strategy.scope()`` if distributed).

    Raises:
      ValueError: for an unsupported ``v1_name`` (naming the Keras replacement) or
        a bad configuration value.
      TypeError: for an unknown argument.

    Example::

        auc, to_kwargs = to_keras_metric("auc", num_thresholds=50, curve="PR")
        auc.update_state(**to_kwargs(labels=y, predictions=p, weights=w))
        auc.result()
    """
    if v1_name not in _metric_table.ENTRIES:
        raise ValueError(_metric_table.unsupported_message(v1_name))
    entry = _metric_table.ENTRIES[v1_name]
    allowed = {*entry.config_args, "name"}
    unknown = sorted(set(v1_kwargs) - allowed)
    if unknown:
        raise TypeError(
            f"to_keras_metric({v1_name!r}) got unknown argument(s) {unknown}; it takes "
            f"{sorted(allowed)} (pass tensors to the returned function instead)."
        )
    original = _metric_patch.original(v1_name)
    defaults = _metric_config.bind(original, v1_name, (), {}, partial=True)
    config = _metric_config.normalise(v1_name, entry.config_args, {**defaults, **v1_kwargs})
    metric = entry.build(config, v1_kwargs.get("name") or v1_name)

    def to_update_kwargs(*args, **kwargs):
        arguments = _metric_config.bind(original, v1_name, args, kwargs, partial=True)
        return entry.update_kwargs(arguments, None)

    return metric, to_update_kwargs
