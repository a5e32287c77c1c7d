"""Which Keras metric serves each ``tf.compat.v1.metrics`` function, and how.

One :class:`MetricEntry` per supported v1 name says which v1 arguments configure
the metric (python values, fixed when the metric is built), how to build the
Keras metric from them, and how one v1 call's tensor arguments become that
metric's ``update_state`` arguments (with v1's own squeezing, casting and weight
broadcasting, so that the Keras metric ends with v1's value). Stock Keras metrics
are used where they agree exactly; the ``V1*`` classes of ``_metric_classes``
elsewhere.
"""

import dataclasses
from collections.abc import Callable

from estimator_spec_compat import _compat
from estimator_spec_compat.convert import _metric_classes as classes
from estimator_spec_compat.convert import _metric_math as math

tf = _compat.tf


@dataclasses.dataclass(frozen=True)
class MetricEntry:
    """How one v1 metric function is served.

    Attributes:
      config_args: v1 argument names whose (python) values configure the metric.
      build: ``build(config_dict, name) -> keras metric``.
      update_kwargs: ``update_kwargs(v1_arguments, mask) -> update_state kwargs``;
        ``mask`` is None or a 0./1. scalar multiplied into the weights.
      keras: the nearest stock Keras metric for a rewrite, and how it differs.
    """

    config_args: tuple
    build: Callable
    update_kwargs: Callable
    keras: str


def mask_weights(weights, mask):
    """``weights`` with a replica mask (0. or 1.) applied; ``mask`` None means none."""
    if mask is None:
        return weights
    if weights is None:
        return mask
    weights = tf.convert_to_tensor(weights)
    return weights * tf.cast(mask, weights.dtype)


def _stock(class_name, **kwargs):
    def build(config, name):
        return getattr(tf.keras.metrics, class_name)(name=name, **kwargs)

    build.served_by = f"tf.keras.metrics.{class_name}"
    return build


def _custom(class_name, *config_names, **fixed):
    def build(config, name):
        options = {key: config[key] for key in config_names}
        return classes.keras_class(class_name)(**fixed, **options, name=name)

    build.served_by = class_name
    return build


def _mean_update(args, mask):
    values, weights = math.mean_inputs(args["values"], mask_weights(args["weights"], mask))
    return {"values": values, "sample_weight": weights}


def _accuracy_update(args, mask):
    predictions, labels, weights = math.squeeze(
        args["predictions"], args["labels"], mask_weights(args["weights"], mask)
    )
    predictions.shape.assert_is_compatible_with(labels.shape)
    if labels.dtype != predictions.dtype:
        predictions = tf.cast(predictions, labels.dtype)
    if weights is not None:
        weights = tf.reshape(math.broadcast_weights(weights, predictions), [-1])
    return {
        "y_true": tf.reshape(labels, [-1]),
        "y_pred": tf.reshape(predictions, [-1]),
        "sample_weight": weights,
    }


def _error_update(column):
    """Update for v1 mean_(squared|absolute)_error and RMSE: flat pairs plus weights.

    Keras' MSE/MAE average over the last axis, so those get ``[N, 1]`` columns.
    """

    def update(args, mask):
        predictions, labels, weights = math.squeeze(
            args["predictions"], args["labels"], mask_weights(args["weights"], mask)
        )
        shape = [-1, 1] if column else [-1]
        if weights is not None:
            weights = tf.reshape(math.broadcast_weights(weights, predictions), [-1])
        return {
            "y_true": tf.reshape(labels, shape),
            "y_pred": tf.reshape(predictions, shape),
            "sample_weight": weights,
        }

    return update


def _count_update(args, mask):
    y_true, y_pred, weights = math.count_condition_inputs(
        args["labels"], args["predictions"], mask_weights(args["weights"], mask)
    )
    return {"y_true": y_true, "y_pred": y_pred, "sample_weight": weights}


def _labels_update(args, mask):
    return {
        "y_true": args["labels"],
        "y_pred": args["predictions"],
        "sample_weight": mask_weights(args["weights"], mask),
    }


def _values_update(args, mask):
    return {"values": args["values"], "sample_weight": mask_weights(args["weights"], mask)}


def _relative_error_update(args, mask):
    update = _labels_update(args, mask)
    update["normalizer"] = args["normalizer"]
    return update


def _top_k_update(args, mask):
    return {
        "y_true": args["labels"],
        "predictions_idx": args["predictions_idx"],
        "sample_weight": mask_weights(args["weights"], mask),
    }


def _thresholds_entry(kind, keras):
    return MetricEntry(
        ("thresholds",), _custom("V1AtThresholds", "thresholds", kind=kind), _labels_update, keras
    )


_AT_K = ("k", "class_id")
_RECALL_AT_K = MetricEntry(
    _AT_K,
    _custom("V1TopK", *_AT_K, kind="recall"),
    _labels_update,
    "tf.keras.metrics.SparseTopKCategoricalAccuracy(k) for one label per row; none for "
    "several labels or class_id",
)
_PRECISION_AT_K = dataclasses.replace(
    _RECALL_AT_K, build=_custom("V1TopK", *_AT_K, kind="precision"), keras="none in Keras"
)

_BOOL_NOTE = " (v1 counts any non-zero prediction as positive; Keras thresholds at 0.5)"
_ERROR_NOTE = " (with 1-D inputs pass [N, 1] columns: Keras averages the last axis first)"


def _count_entry(class_name):
    keras = f"tf.keras.metrics.{class_name}{_BOOL_NOTE}"
    return MetricEntry((), _stock(class_name), _count_update, keras)


def _error_entry(class_name, column):
    keras = f"tf.keras.metrics.{class_name}" + (_ERROR_NOTE if column else "")
    return MetricEntry((), _stock(class_name), _error_update(column), keras)


ENTRIES = {
    "mean": MetricEntry((), _stock("Mean"), _mean_update, "tf.keras.metrics.Mean"),
    "accuracy": MetricEntry((), _stock("Accuracy"), _accuracy_update, "tf.keras.metrics.Accuracy"),
    "mean_squared_error": _error_entry("MeanSquaredError", True),
    "mean_absolute_error": _error_entry("MeanAbsoluteError", True),
    "root_mean_squared_error": _error_entry("RootMeanSquaredError", False),
    "true_positives": _count_entry("TruePositives"),
    "false_positives": _count_entry("FalsePositives"),
    "true_negatives": _count_entry("TrueNegatives"),
    "false_negatives": _count_entry("FalseNegatives"),
    "precision": _count_entry("Precision"),
    "recall": _count_entry("Recall"),
    "true_positives_at_thresholds": _thresholds_entry(
        "true_positives", "tf.keras.metrics.TruePositives(thresholds=...)"
    ),
    "false_positives_at_thresholds": _thresholds_entry(
        "false_positives", "tf.keras.metrics.FalsePositives(thresholds=...)"
    ),
    "true_negatives_at_thresholds": _thresholds_entry(
        "true_negatives", "tf.keras.metrics.TrueNegatives(thresholds=...)"
    ),
    "false_negatives_at_thresholds": _thresholds_entry(
        "false_negatives", "tf.keras.metrics.FalseNegatives(thresholds=...)"
    ),
    "precision_at_thresholds": _thresholds_entry(
        "precision", "tf.keras.metrics.Precision(thresholds=...)"
    ),
    "recall_at_thresholds": _thresholds_entry("recall", "tf.keras.metrics.Recall(thresholds=...)"),
    "auc": MetricEntry(
        ("num_thresholds", "curve", "summation_method", "thresholds"),
        _custom("V1AUC", "num_thresholds", "curve", "summation_method", "thresholds"),
        _labels_update,
        "tf.keras.metrics.AUC(num_thresholds, curve) - close, not equal: Keras interpolates, "
        "v1 sums trapezoids (or careful interpolation for PR) of rates smoothed by 1e-6",
    ),
    "mean_iou": MetricEntry(
        ("num_classes",),
        _custom("V1MeanIoU", "num_classes"),
        _labels_update,
        "tf.keras.metrics.MeanIoU",
    ),
    "mean_per_class_accuracy": MetricEntry(
        ("num_classes",),
        _custom("V1MeanPerClassAccuracy", "num_classes"),
        _labels_update,
        "none in Keras",
    ),
    "mean_relative_error": MetricEntry(
        (),
        _custom("V1MeanRelativeError"),
        _relative_error_update,
        "none in Keras",
    ),
    "mean_cosine_distance": MetricEntry(
        ("dim",),
        _custom("V1MeanCosineDistance", "dim"),
        _labels_update,
        "1 - tf.keras.metrics.CosineSimilarity(axis=dim) for unit-norm inputs (Keras "
        "normalises them; v1 does not)",
    ),
    "percentage_below": MetricEntry(
        ("threshold",),
        _custom("V1PercentageBelow", "threshold"),
        _values_update,
        "tf.keras.metrics.Mean over tf.cast(values < threshold, tf.float32)",
    ),
    "mean_tensor": MetricEntry(
        ("shape",),
        _custom("V1MeanTensor", "shape"),
        _values_update,
        "none in Keras 3 (Keras 2 had MeanTensor)",
    ),
    "recall_at_k": _RECALL_AT_K,
    "precision_at_k": _PRECISION_AT_K,
    "sparse_precision_at_k": _PRECISION_AT_K,
    "recall_at_top_k": dataclasses.replace(_RECALL_AT_K, update_kwargs=_top_k_update),
    "precision_at_top_k": dataclasses.replace(_PRECISION_AT_K, update_kwargs=_top_k_update),
}


def _rate_entry(kind, target, keras):
    return MetricEntry(
        (target, "num_thresholds"),
        _custom_rate(kind, target),
        _labels_update,
        keras,
    )


def _custom_rate(kind, target):
    def build(config, name):
        return classes.keras_class("V1RateAtRate")(
            kind=kind, target=config[target], num_thresholds=config["num_thresholds"], name=name
        )

    build.served_by = "V1RateAtRate"
    return build


ENTRIES["sensitivity_at_specificity"] = _rate_entry(
    "sensitivity_at_specificity",
    "specificity",
    "tf.keras.metrics.SensitivityAtSpecificity(specificity, num_thresholds) - other "
    "thresholds and tie-breaking than v1",
)
ENTRIES["specificity_at_sensitivity"] = _rate_entry(
    "specificity_at_sensitivity",
    "sensitivity",
    "tf.keras.metrics.SpecificityAtSensitivity(sensitivity, num_thresholds) - other "
    "thresholds and tie-breaking than v1",
)

_AVERAGE_PRECISION = MetricEntry(
    ("k",),
    _custom("V1AveragePrecisionAtK", "k"),
    _labels_update,
    "none in Keras",
)
ENTRIES["average_precision_at_k"] = _AVERAGE_PRECISION
ENTRIES["sparse_average_precision_at_k"] = _AVERAGE_PRECISION

#: Metric names from TF1-era code that are not in ``tf.compat.v1.metrics``, with
#: the Keras metric to rewrite them with (``tf.contrib.metrics`` is gone in TF2).
UNSUPPORTED = {
    "streaming_accuracy": "tf.keras.metrics.Accuracy",
    "streaming_mean": "tf.keras.metrics.Mean",
    "streaming_auc": "tf.keras.metrics.AUC",
    "streaming_precision": "tf.keras.metrics.Precision",
    "streaming_recall": "tf.keras.metrics.Recall",
    "streaming_mean_squared_error": "tf.keras.metrics.MeanSquaredError",
    "streaming_concat": "a tf.Variable you append to yourself (Keras has no metric for it)",
    "f1_score": "tf.keras.metrics.F1Score (Keras >= 2.13)",
    "streaming_pearson_correlation": "tf.keras.metrics.PearsonCorrelation (Keras 3) or "
    "your own tf.keras.metrics.Metric",
}


def unsupported_message(v1_name):
    """The error text for a v1 metric the bridge does not serve."""
    hint = UNSUPPORTED.get(v1_name)
    if hint is None:
        return (
            f"`{v1_name}` is not a tf.compat.v1.metrics function the legacy-metrics bridge "
            f"serves; rewrite it with the matching tf.keras.metrics class. Served: "
            f"{', '.join(sorted(ENTRIES))}."
        )
    return (
        f"`{v1_name}` is not a tf.compat.v1.metrics function (it came from tf.contrib, "
        f"gone in TF2), so the legacy-metrics bridge cannot serve it. Rewrite it with {hint}."
    )
