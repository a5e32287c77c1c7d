"""The v1 metric math without variables: what one batch adds, and the final formulas.

Every function here mirrors one piece of ``tensorflow/python/ops/metrics_impl.py``
(identical in TF 2.15.1 and 2.21.0) op for op, so that a Keras metric that sums
these increments in its variables ends with v1's value. Where v1 has a
variable-free helper, it is called rather than copied.
"""

from estimator_spec_compat import _compat

tf = _compat.tf
_impl = _compat.v1_metrics_impl

#: v1 ``auc`` puts its end thresholds this far outside [0, 1].
AUC_KEPSILON = 1e-7
#: v1 ``auc`` adds this to numerators and denominators of rates.
AUC_EPSILON = 1.0e-6
#: v1 ``precision_at_thresholds`` / ``recall_at_thresholds`` add this to denominators.
AT_THRESHOLDS_EPSILON = 1e-7

CURVES = ("ROC", "PR")
SUMMATION_METHODS = ("trapezoidal", "careful_interpolation", "minoring", "majoring")


def squeeze(predictions, labels, weights):
    """v1 ``_remove_squeezable_dimensions``; returns ``(predictions, labels, weights)``."""
    return _impl._remove_squeezable_dimensions(
        predictions=predictions, labels=labels, weights=weights
    )


def broadcast_weights(weights, values):
    """v1 ``weights_broadcast_ops.broadcast_weights`` (float32) to the shape of ``values``."""
    values = tf.convert_to_tensor(values)
    if values.dtype != tf.float32:
        values = tf.cast(values, tf.float32)  # v1 broadcasts against float32 values
    return _compat.weights_broadcast_ops.broadcast_weights(tf.cast(weights, tf.float32), values)


def mean_inputs(values, weights):
    """The flat ``(values, weights)`` whose weighted sum and weight sum are v1 ``mean``'s.

    Returns float32 vectors; ``weights`` stays None when it was None (then v1
    counts every element once).
    """
    values = tf.cast(values, tf.float32)
    if weights is None:
        return tf.reshape(values, [-1]), None
    values, _, weights = squeeze(values, None, weights)
    weights = broadcast_weights(weights, values)
    return tf.reshape(values, [-1]), tf.reshape(weights, [-1])


def mean_increments(values, weights):
    """``(total, count)`` one batch adds to v1 ``mean``."""
    values, weights = mean_inputs(values, weights)
    if weights is None:
        return tf.reduce_sum(values), tf.cast(tf.size(values), tf.float32)
    return tf.reduce_sum(values * weights), tf.reduce_sum(weights)


def mean_value(total, count):
    """v1 ``mean``'s value: ``div_no_nan(total, max(count, 0))``."""
    return tf.math.divide_no_nan(total, tf.maximum(count, 0.0))


def relative_errors(labels, predictions, normalizer, weights):
    """v1 ``mean_relative_error``'s per-element values; returns ``(errors, weights)``."""
    predictions, labels, weights = squeeze(predictions, labels, weights)
    predictions, normalizer = _impl.confusion_matrix.remove_squeezable_dimensions(
        predictions, tf.convert_to_tensor(normalizer)
    )
    predictions.shape.assert_is_compatible_with(normalizer.shape)
    errors = tf.where(
        tf.equal(normalizer, 0.0),
        tf.zeros_like(labels),
        tf.math.divide(tf.abs(labels - predictions), normalizer),
    )
    return errors, weights


def cosine_products(labels, predictions, dim, weights):
    """v1 ``mean_cosine_distance``'s per-row dot products; returns ``(values, weights)``."""
    predictions, labels, weights = squeeze(predictions, labels, weights)
    radial = tf.reduce_sum(tf.multiply(predictions, labels), axis=[dim], keepdims=True)
    return radial, weights


def threshold_counts(labels, predictions, thresholds, weights, includes):
    """v1 ``_confusion_matrix_at_thresholds``: per-threshold counts of one batch.

    Args:
      labels: labels, cast to bool.
      predictions: scores in [0, 1] (asserted, as v1 does).
      thresholds: list of python floats, in the caller's order.
      weights: None or weights broadcastable to ``predictions``.
      includes: subset of ``("tp", "fn", "tn", "fp")``.

    Returns:
      ``{key: float32 vector [len(thresholds)]}`` for each key in ``includes``.
    """
    predictions = tf.convert_to_tensor(predictions)
    with tf.control_dependencies(
        [
            tf.debugging.assert_greater_equal(
                predictions,
                tf.cast(0.0, predictions.dtype),
                message="predictions must be in [0, 1]",
            ),
            tf.debugging.assert_less_equal(
                predictions,
                tf.cast(1.0, predictions.dtype),
                message="predictions must be in [0, 1]",
            ),
        ]
    ):
        predictions, labels, weights = squeeze(
            tf.cast(predictions, tf.float32), tf.cast(labels, tf.bool), weights
        )
    pred_row = tf.reshape(predictions, [1, -1])
    label_pos = tf.reshape(tf.cast(labels, tf.bool), [1, -1])
    pred_pos = tf.greater(pred_row, tf.expand_dims(tf.constant(thresholds, tf.float32), 1))
    weight_row = None
    if weights is not None:
        weight_row = tf.reshape(broadcast_weights(weights, predictions), [1, -1])
    conditions = {
        "tp": lambda: tf.logical_and(label_pos, pred_pos),
        "fn": lambda: tf.logical_and(label_pos, tf.logical_not(pred_pos)),
        "tn": lambda: tf.logical_and(tf.logical_not(label_pos), tf.logical_not(pred_pos)),
        "fp": lambda: tf.logical_and(tf.logical_not(label_pos), pred_pos),
    }
    counts = {}
    for key in includes:
        hits = tf.cast(conditions[key](), tf.float32)
        if weight_row is not None:
            hits *= weight_row
        counts[key] = tf.reduce_sum(hits, 1)
    return counts


def auc_thresholds(num_thresholds, thresholds):
    """v1 ``auc``'s thresholds, end points included."""
    if thresholds is not None:
        inner = sorted(thresholds)
    else:
        inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return [0.0 - AUC_KEPSILON] + inner + [1.0 + AUC_KEPSILON]


def _interpolate_pr_auc(tp, fp, fn, n):
    """v1 ``auc``'s PR curve with ``summation_method='careful_interpolation'``."""
    dtp = tp[: n - 1] - tp[1:]
    p = tp + fp
    prec_slope = tf.math.divide_no_nan(dtp, tf.maximum(p[: n - 1] - p[1:], 0))
    intercept = tp[1:] - tf.multiply(prec_slope, p[1:])
    safe_p_ratio = tf.where(
        tf.logical_and(p[: n - 1] > 0, p[1:] > 0),
        tf.math.divide_no_nan(p[: n - 1], tf.maximum(p[1:], 0)),
        tf.ones_like(p[1:]),
    )
    return tf.reduce_sum(
        tf.math.divide_no_nan(
            prec_slope * (dtp + intercept * tf.math.log(safe_p_ratio)),
            tf.maximum(tp[1:] + fn[1:], 0),
        )
    )


def auc_value(tp, fn, tn, fp, *, curve, summation_method):
    """v1 ``auc``'s ``compute_auc`` over accumulated per-threshold counts."""
    n = tp.shape[0]
    if curve == "PR" and summation_method == "careful_interpolation":
        return _interpolate_pr_auc(tp, fp, fn, n)
    rec = tf.math.divide(tp + AUC_EPSILON, tp + fn + AUC_EPSILON)
    if curve == "ROC":
        x, y = tf.math.divide(fp, fp + tn + AUC_EPSILON), rec
    else:
        x, y = rec, tf.math.divide(tp + AUC_EPSILON, tp + fp + AUC_EPSILON)
    if summation_method in ("trapezoidal", "careful_interpolation"):
        heights = (y[: n - 1] + y[1:]) / 2.0
    elif summation_method == "minoring":
        heights = tf.minimum(y[: n - 1], y[1:])
    else:
        heights = tf.maximum(y[: n - 1], y[1:])
    return tf.reduce_sum(tf.multiply(x[: n - 1] - x[1:], heights))


def confusion_matrix(labels, predictions, num_classes, weights):
    """v1 ``_streaming_confusion_matrix``'s per-batch float64 matrix."""
    predictions = tf.cast(predictions, tf.int64)
    labels = tf.cast(labels, tf.int64)
    if predictions.shape.ndims > 1:
        predictions = tf.reshape(predictions, [-1])
    if labels.shape.ndims > 1:
        labels = tf.reshape(labels, [-1])
    if weights is not None:
        weights = tf.convert_to_tensor(weights)
        if weights.shape.ndims == 0:
            weights = tf.fill(tf.shape(labels), weights)
        elif weights.shape.ndims > 1:
            weights = tf.reshape(weights, [-1])
    return tf.math.confusion_matrix(
        labels, predictions, num_classes, weights=weights, dtype=tf.float64
    )


def mean_iou_value(total_cm):
    """v1 ``mean_iou``'s ``compute_mean_iou``."""
    sum_over_row = tf.cast(tf.reduce_sum(total_cm, 0), tf.float32)
    sum_over_col = tf.cast(tf.reduce_sum(total_cm, 1), tf.float32)
    cm_diag = tf.cast(tf.linalg.diag_part(total_cm), tf.float32)
    denominator = sum_over_row + sum_over_col - cm_diag
    num_valid = tf.reduce_sum(tf.cast(tf.not_equal(denominator, 0), tf.float32))
    denominator = tf.where(tf.greater(denominator, 0), denominator, tf.ones_like(denominator))
    iou = tf.math.divide(cm_diag, denominator)
    return tf.where(tf.greater(num_valid, 0), tf.reduce_sum(iou) / num_valid, 0.0)


def per_class_increments(labels, predictions, num_classes, weights):
    """``(total, count)`` per class that one batch adds to v1 ``mean_per_class_accuracy``.

    v1 calls ``total`` the weight seen per true class and ``count`` the weight of
    the correct ones; both are float32 vectors [num_classes].
    """
    labels = tf.cast(labels, tf.int64)
    predictions = tf.convert_to_tensor(predictions)
    if labels.shape.ndims > 1:
        labels = tf.reshape(labels, [-1])
    if predictions.shape.ndims > 1:
        predictions = tf.reshape(predictions, [-1])
    predictions.shape.assert_is_compatible_with(labels.shape)
    ones = tf.ones([tf.size(labels)], tf.float32)
    if labels.dtype != predictions.dtype:
        predictions = tf.cast(predictions, labels.dtype)
    is_correct = tf.cast(tf.equal(predictions, labels), tf.float32)
    if weights is not None:
        weights = tf.convert_to_tensor(weights)
        if weights.shape.ndims > 1:
            weights = tf.reshape(weights, [-1])
        weights = tf.cast(weights, tf.float32)
        is_correct *= weights
        ones *= weights
    total = tf.math.unsorted_segment_sum(ones, labels, num_classes)
    count = tf.math.unsorted_segment_sum(is_correct, labels, num_classes)
    return total, count


def per_class_accuracy_value(total, count):
    """v1 ``mean_per_class_accuracy``'s ``compute_mean_accuracy``."""
    return tf.reduce_mean(tf.math.divide_no_nan(count, tf.maximum(total, 0)))


def top_k_counts(labels, predictions_idx, *, class_id, weights, other):
    """``(tp, other)`` float64 sums one batch adds to v1 ``recall_at_top_k`` / ``precision_at_top_k``.

    ``other`` is ``"fn"`` (recall) or ``"fp"`` (precision). ``labels`` may be a
    SparseTensor, as in v1.
    """
    labels = _impl._maybe_expand_labels(labels, predictions_idx)
    top_k_idx = tf.cast(predictions_idx, tf.int64)
    tp = _impl._sparse_true_positive_at_k(
        labels=labels, predictions_idx=top_k_idx, class_id=class_id, weights=weights
    )
    count_other = (
        _impl._sparse_false_negative_at_k if other == "fn" else _impl._sparse_false_positive_at_k
    )
    rest = count_other(labels=labels, predictions_idx=top_k_idx, class_id=class_id, weights=weights)
    return (
        tf.cast(tf.reduce_sum(tp), tf.float64),
        tf.cast(tf.reduce_sum(rest), tf.float64),
    )


def count_condition_inputs(labels, predictions, weights):
    """Inputs for a Keras confusion count that equal v1 ``true_positives`` & co.

    v1 casts predictions (and labels) to bool, so any non-zero score counts as
    positive. Returns flat float32 ``(y_true, y_pred, sample_weight)`` with 0/1
    labels and predictions; a Keras count at threshold 0.5 then agrees exactly.
    """
    predictions, labels, weights = squeeze(
        tf.cast(predictions, tf.bool), tf.cast(labels, tf.bool), weights
    )
    y_true = tf.reshape(tf.cast(labels, tf.float32), [-1])
    y_pred = tf.reshape(tf.cast(predictions, tf.float32), [-1])
    if weights is None:
        return y_true, y_pred, None
    weights = tf.broadcast_to(tf.cast(weights, tf.float32), tf.shape(predictions))
    return y_true, y_pred, tf.reshape(weights, [-1])


def rate_thresholds(num_thresholds, *, top):
    """v1 ``sensitivity_at_specificity`` / ``specificity_at_sensitivity`` thresholds.

    ``top`` is the last threshold: ``1 + 1e-7`` for the former, ``1 - 1e-7`` for
    the latter (v1's own asymmetry, kept).
    """
    inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return [0.0 - AUC_KEPSILON] + inner + [top]


def sensitivity_at_specificity_value(tp, tn, fp, fn, specificity):
    """v1 ``compute_sensitivity_at_specificity``."""
    specificities = tf.math.divide(tn, tn + fp + AUC_KEPSILON)
    index = tf.cast(tf.math.argmin(tf.abs(specificities - specificity), 0), tf.int32)
    return tf.math.divide(tp[index], tp[index] + fn[index] + AUC_KEPSILON)


def specificity_at_sensitivity_value(tp, tn, fp, fn, sensitivity):
    """v1 ``compute_specificity_at_sensitivity`` (the last threshold among ties)."""
    sensitivities = tf.math.divide(tp, tp + fn + AUC_KEPSILON)
    distance = tf.abs(sensitivities - sensitivity)
    at_min = tf.cast(tf.equal(distance, tf.reduce_min(distance)), tf.int64)
    index = tf.cast(tf.math.argmax(tf.math.cumsum(at_min), 0), tf.int32)
    return tf.math.divide(tn[index], tn[index] + fp[index] + AUC_KEPSILON)


def average_precision_increments(labels, predictions, k, weights):
    """``(total, max)`` float64 sums one batch adds to v1 ``average_precision_at_k``."""
    predictions = tf.convert_to_tensor(predictions)
    _, predictions_idx = tf.math.top_k(predictions, k)
    labels = _impl._clean_out_of_range_indices(labels, tf.cast(tf.shape(predictions)[-1], tf.int64))
    average_precision = _impl._sparse_average_precision_at_top_k(
        labels=labels, predictions_idx=predictions_idx
    )
    if weights is None:
        return (
            tf.reduce_sum(average_precision),
            tf.cast(tf.size(average_precision), tf.float64),
        )
    weights = _compat.weights_broadcast_ops.broadcast_weights(
        tf.cast(weights, tf.float64), average_precision
    )
    return tf.reduce_sum(average_precision * weights), tf.reduce_sum(weights)
