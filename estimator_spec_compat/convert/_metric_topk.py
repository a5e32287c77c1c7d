"""``V1*`` metrics over top-k predictions: recall/precision at k, average precision at k."""

from estimator_spec_compat import _compat
from estimator_spec_compat.convert import _metric_math as math
from estimator_spec_compat.convert._metric_base import V1State

tf = _compat.tf


class V1TopKMixin(V1State):
    """v1 ``recall_at_k`` / ``precision_at_k`` (and the ``*_at_top_k`` forms).

    ``update_state(y_true, y_pred)`` takes scores [..., num_classes] and keeps
    their top ``k``; ``update_state(y_true, predictions_idx=...)`` takes top-k
    indices directly. ``y_true`` holds class ids (dense or SparseTensor), as in v1.
    """

    def __init__(self, kind, k=None, class_id=None, *, name=None, dtype=None):
        if kind not in ("recall", "precision"):
            raise ValueError(f"`kind` ({kind!r}) must be 'recall' or 'precision'.")
        self.kind = kind
        self.k = None if k is None else int(k)
        self.class_id = None if class_id is None else int(class_id)
        self._v1_args = {"kind": kind, "k": self.k, "class_id": self.class_id}
        super().__init__(name=name or f"{kind}_at_k", dtype=dtype)

    def _state_spec(self):
        return {"tp": ((), tf.float64), "other": ((), tf.float64)}

    def update_state(self, y_true, y_pred=None, sample_weight=None, predictions_idx=None):
        if predictions_idx is None:
            if y_pred is None or self.k is None:
                raise ValueError("`y_pred` and `k` are needed when `predictions_idx` is not given.")
            _, predictions_idx = tf.math.top_k(y_pred, self.k)
        tp, other = math.top_k_counts(
            y_true,
            predictions_idx,
            class_id=self.class_id,
            weights=sample_weight,
            other="fn" if self.kind == "recall" else "fp",
        )
        self._accumulate(tp=tp, other=other)

    def result(self):
        tp = self._read("tp")
        return tf.math.divide(tp, tf.math.add(tp, self._read("other")))


class V1AveragePrecisionAtKMixin(V1State):
    """v1 ``average_precision_at_k``: weighted mean over rows of average precision at k."""

    def __init__(self, k, *, name=None, dtype=None):
        self.k = int(k)
        if self.k < 1:
            raise ValueError(f"`k` ({k}) must be >= 1.")
        self._v1_args = {"k": self.k}
        super().__init__(name=name or f"average_precision_at_{self.k}", dtype=dtype)

    def _state_spec(self):
        return {"total": ((), tf.float64), "max": ((), tf.float64)}

    def update_state(self, y_true, y_pred, sample_weight=None):
        total, maximum = math.average_precision_increments(y_true, y_pred, self.k, sample_weight)
        self._accumulate(total=total, max=maximum)

    def result(self):
        return tf.math.divide_no_nan(self._read("total"), self._read("max"))
