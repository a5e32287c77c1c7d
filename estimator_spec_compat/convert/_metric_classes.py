"""Keras metrics that reproduce v1 metrics whose numerics no stock Keras metric has.

Each class keeps v1's own state (sums of per-batch increments, see
``_metric_math``) in Keras metric variables, so they are summed across
replicas like v1's ``metric_variable`` s, and computes v1's final formula in
``result()``. The classes subclass whichever ``tf.keras.metrics.Metric`` is
active when they are first asked for (Keras 2.15, Keras 3 or tf_keras): the
behaviour lives in plain mixins here and :func:`keras_class` binds one to the
active base class at call time.
"""

import functools

from estimator_spec_compat import _compat
from estimator_spec_compat.convert import _metric_math as math
from estimator_spec_compat.convert._metric_base import V1MeanBase, V1State
from estimator_spec_compat.convert._metric_topk import V1AveragePrecisionAtKMixin, V1TopKMixin

tf = _compat.tf


class _V1PercentageBelow(V1MeanBase):
    """v1 ``percentage_below``: weighted fraction of ``values < threshold``."""

    def __init__(self, threshold, *, name="percentage_below_threshold", dtype=None):
        self.threshold = float(threshold)
        self._v1_args = {"threshold": self.threshold}
        super().__init__(name=name, dtype=dtype)

    def update_state(self, values, sample_weight=None):
        values = tf.convert_to_tensor(values)
        below = tf.cast(tf.less(values, tf.cast(self.threshold, values.dtype)), tf.float32)
        self._add_values(below, sample_weight)


class _V1MeanRelativeError(V1MeanBase):
    """v1 ``mean_relative_error``: mean of ``|y_true - y_pred| / normalizer`` (0 where it is 0)."""

    def __init__(self, *, name="mean_relative_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, normalizer, sample_weight=None):
        errors, weights = math.relative_errors(
            tf.convert_to_tensor(y_true), y_pred, normalizer, sample_weight
        )
        self._add_values(errors, weights)


class _V1MeanCosineDistance(V1MeanBase):
    """v1 ``mean_cosine_distance``: ``1 - mean(sum(y_true * y_pred, axis=dim))``.

    Like v1, inputs are expected to be unit-normalised already.
    """

    def __init__(self, dim, *, name="mean_cosine_distance", dtype=None):
        self.dim = int(dim)
        self._v1_args = {"dim": self.dim}
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        values, weights = math.cosine_products(y_true, y_pred, self.dim, sample_weight)
        self._add_values(values, weights)

    def result(self):
        return tf.subtract(1.0, super().result())


class _V1MeanTensor(V1State):
    """v1 ``mean_tensor``: element-wise weighted mean, shape fixed at construction."""

    def __init__(self, shape, *, name="mean_tensor", dtype=None):
        self.value_shape = tuple(int(d) for d in shape)
        self._v1_args = {"shape": list(self.value_shape)}
        super().__init__(name=name, dtype=dtype)

    def _state_spec(self):
        return {
            "total_tensor": (self.value_shape, tf.float32),
            "count_tensor": (self.value_shape, tf.float32),
        }

    def update_state(self, values, sample_weight=None):
        values = tf.cast(values, tf.float32)
        num_values = tf.ones_like(values)
        if sample_weight is not None:
            values, _, weights = math.squeeze(values, None, sample_weight)
            weights = math.broadcast_weights(weights, values)
            values = values * weights
            num_values = num_values * weights
        self._accumulate(total_tensor=values, count_tensor=num_values)

    def result(self):
        return math.mean_value(self._read("total_tensor"), self._read("count_tensor"))


_THRESHOLD_KINDS = {
    "true_positives": ("tp",),
    "false_positives": ("fp",),
    "true_negatives": ("tn",),
    "false_negatives": ("fn",),
    "precision": ("tp", "fp"),
    "recall": ("tp", "fn"),
}


class _V1AtThresholds(V1State):
    """v1 ``<kind>_at_thresholds``: one value per threshold, in the order given.

    ``kind`` is one of true_positives, false_positives, true_negatives,
    false_negatives, precision, recall. A prediction counts as positive when it
    is strictly greater than the threshold.
    """

    def __init__(self, kind, thresholds, *, name=None, dtype=None):
        if kind not in _THRESHOLD_KINDS:
            raise ValueError(f"`kind` ({kind!r}) must be one of {sorted(_THRESHOLD_KINDS)}.")
        self.kind = kind
        self.thresholds = [float(t) for t in thresholds]
        self._v1_args = {"kind": kind, "thresholds": list(self.thresholds)}
        super().__init__(name=name or f"{kind}_at_thresholds", dtype=dtype)

    def _state_spec(self):
        shape = (len(self.thresholds),)
        return {key: (shape, tf.float32) for key in _THRESHOLD_KINDS[self.kind]}

    def update_state(self, y_true, y_pred, sample_weight=None):
        counts = math.threshold_counts(
            y_true, y_pred, self.thresholds, sample_weight, _THRESHOLD_KINDS[self.kind]
        )
        self._accumulate(**counts)

    def result(self):
        if self.kind in ("precision", "recall"):
            other = self._read("fp" if self.kind == "precision" else "fn")
            tp = self._read("tp")
            return tf.math.divide(tp, math.AT_THRESHOLDS_EPSILON + tp + other)
        return self._read(_THRESHOLD_KINDS[self.kind][0])


class _V1ConfusionCounts(V1State):
    """State shared by AUC and the rate-at-rate metrics: tp/fn/tn/fp per threshold.

    Subclasses set ``self.thresholds`` before ``super().__init__``.
    """

    def _state_spec(self):
        shape = (len(self.thresholds),)
        return {key: (shape, tf.float32) for key in ("tp", "fn", "tn", "fp")}

    def update_state(self, y_true, y_pred, sample_weight=None):
        counts = math.threshold_counts(
            y_true, y_pred, self.thresholds, sample_weight, ("tp", "fn", "tn", "fp")
        )
        self._accumulate(**counts)


class _V1AUC(_V1ConfusionCounts):
    """v1 ``auc``: same thresholds, same epsilons, same summation methods.

    Unlike ``tf.keras.metrics.AUC`` (``summation_method='interpolation'``), this
    keeps v1's ``'trapezoidal'`` default, its ``'careful_interpolation'`` for PR,
    and v1's ``1e-6`` smoothing of the rates.
    """

    def __init__(
        self,
        num_thresholds=200,
        curve="ROC",
        summation_method="trapezoidal",
        thresholds=None,
        *,
        name="auc",
        dtype=None,
    ):
        if curve not in math.CURVES:
            raise ValueError(f"`curve` ({curve!r}) must be one of {math.CURVES}.")
        if summation_method not in math.SUMMATION_METHODS:
            raise ValueError(
                f"`summation_method` ({summation_method!r}) must be one of "
                f"{math.SUMMATION_METHODS}."
            )
        if thresholds is None and int(num_thresholds) < 2:
            raise ValueError(f"`num_thresholds` ({num_thresholds}) must be at least 2.")
        self.curve = curve
        self.summation_method = summation_method
        self.thresholds = math.auc_thresholds(int(num_thresholds), thresholds)
        self._v1_args = {
            "num_thresholds": int(num_thresholds),
            "curve": curve,
            "summation_method": summation_method,
            "thresholds": None if thresholds is None else [float(t) for t in thresholds],
        }
        super().__init__(name=name, dtype=dtype)

    def result(self):
        return math.auc_value(
            *(self._read(key) for key in ("tp", "fn", "tn", "fp")),
            curve=self.curve,
            summation_method=self.summation_method,
        )


class _V1RateAtRate(_V1ConfusionCounts):
    """v1 ``sensitivity_at_specificity`` / ``specificity_at_sensitivity``.

    ``kind`` names the v1 function; ``target`` is its ``specificity`` /
    ``sensitivity`` argument. Same thresholds and tie-breaking as v1 (which differ
    from ``tf.keras.metrics.SensitivityAtSpecificity``'s).
    """

    def __init__(self, kind, target, num_thresholds=200, *, name=None, dtype=None):
        if kind not in ("sensitivity_at_specificity", "specificity_at_sensitivity"):
            raise ValueError(
                f"`kind` ({kind!r}) must be 'sensitivity_at_specificity' or "
                "'specificity_at_sensitivity'."
            )
        if not 0.0 <= float(target) <= 1.0:
            raise ValueError(f"`target` ({target}) must be in the range [0, 1].")
        if int(num_thresholds) < 2:
            raise ValueError(f"`num_thresholds` ({num_thresholds}) must be at least 2.")
        self.kind = kind
        self.target = float(target)
        sign = 1.0 if kind == "sensitivity_at_specificity" else -1.0
        top = 1.0 + sign * math.AUC_KEPSILON
        self.thresholds = math.rate_thresholds(int(num_thresholds), top=top)
        self._v1_args = {
            "kind": kind,
            "target": self.target,
            "num_thresholds": int(num_thresholds),
        }
        super().__init__(name=name or kind, dtype=dtype)

    def result(self):
        tp, tn, fp, fn = (self._read(key) for key in ("tp", "tn", "fp", "fn"))
        if self.kind == "sensitivity_at_specificity":
            return math.sensitivity_at_specificity_value(tp, tn, fp, fn, self.target)
        return math.specificity_at_sensitivity_value(tp, tn, fp, fn, self.target)


class _V1MeanIoU(V1State):
    """v1 ``mean_iou``: a float64 confusion matrix and v1's IoU average."""

    def __init__(self, num_classes, *, name="mean_iou", dtype=None):
        self.num_classes = int(num_classes)
        self._v1_args = {"num_classes": self.num_classes}
        super().__init__(name=name, dtype=dtype)

    def _state_spec(self):
        return {"total_confusion_matrix": ((self.num_classes, self.num_classes), tf.float64)}

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = tf.convert_to_tensor(y_pred)
        y_pred.shape.assert_is_compatible_with(tf.convert_to_tensor(y_true).shape)
        matrix = math.confusion_matrix(y_true, y_pred, self.num_classes, sample_weight)
        self._accumulate(total_confusion_matrix=matrix)

    def result(self):
        return math.mean_iou_value(self._read("total_confusion_matrix"))


class _V1MeanPerClassAccuracy(V1State):
    """v1 ``mean_per_class_accuracy``: mean over classes of per-class weighted accuracy."""

    def __init__(self, num_classes, *, name="mean_accuracy", dtype=None):
        self.num_classes = int(num_classes)
        self._v1_args = {"num_classes": self.num_classes}
        super().__init__(name=name, dtype=dtype)

    def _state_spec(self):
        shape = (self.num_classes,)
        return {"total": (shape, tf.float32), "count": (shape, tf.float32)}

    def update_state(self, y_true, y_pred, sample_weight=None):
        total, count = math.per_class_increments(y_true, y_pred, self.num_classes, sample_weight)
        self._accumulate(total=total, count=count)

    def result(self):
        return math.per_class_accuracy_value(self._read("total"), self._read("count"))


#: Public class name -> the mixin holding its behaviour.
MIXINS = {
    "V1PercentageBelow": _V1PercentageBelow,
    "V1MeanRelativeError": _V1MeanRelativeError,
    "V1MeanCosineDistance": _V1MeanCosineDistance,
    "V1MeanTensor": _V1MeanTensor,
    "V1AtThresholds": _V1AtThresholds,
    "V1AUC": _V1AUC,
    "V1RateAtRate": _V1RateAtRate,
    "V1MeanIoU": _V1MeanIoU,
    "V1MeanPerClassAccuracy": _V1MeanPerClassAccuracy,
    "V1TopK": V1TopKMixin,
    "V1AveragePrecisionAtK": V1AveragePrecisionAtKMixin,
}


@functools.cache
def _bind(name, base):
    mixin = MIXINS[name]
    return type(name, (mixin, base), {"__module__": __name__, "__doc__": mixin.__doc__})


def keras_class(name):
    """The class ``name`` (a key of ``MIXINS``) bound to the active ``tf.keras.metrics.Metric``."""
    return _bind(name, tf.keras.metrics.Metric)
