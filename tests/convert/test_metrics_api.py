"""LegacyMetrics' contract (scope, positions, pass-through, errors) and to_keras_metric."""

import pathlib

import numpy as np
import pytest

from estimator_spec_compat import _compat
from estimator_spec_compat.convert.metrics import (
    LegacyMetrics,
    supported_v1_metrics,
    to_keras_metric,
)

tf = _compat.tf

LABELS = np.array([[1, 0, 1, 1, 0, 0], [0, 1, 1, 0, 1, 0]], np.int64)
SCORES = np.array([[0.9, 0.2, 0.6, 0.4, 0.7, 0.1], [0.3, 0.8, 0.55, 0.2, 0.9, 0.45]], np.float32)
WEIGHTS = np.array([[1.0, 0.5, 2.0, 1.0, 0.0, 1.5], [0.5, 1.0, 1.0, 2.0, 1.0, 0.25]], np.float32)


def v1_values(calls, batches):
    """The real v1 metrics: ``calls(**batch) -> {key: (value, update)}`` in a Session."""
    graph = tf.Graph()
    with graph.as_default():
        feeds = {
            k: tf.compat.v1.placeholder(tf.as_dtype(v.dtype), v.shape)
            for k, v in batches[0].items()
        }
        ops = calls(**feeds)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.local_variables_initializer())
            for batch in batches:
                session.run(
                    {k: op[1] for k, op in ops.items()}, {feeds[k]: batch[k] for k in batch}
                )
            return session.run({k: op[0] for k, op in ops.items()})


def _batches():
    return [{"y": LABELS[i], "p": SCORES[i], "w": WEIGHTS[i]} for i in range(2)]


def test_scope_patches_and_restores_even_on_error():
    originals = {name: getattr(tf.compat.v1.metrics, name) for name in supported_v1_metrics()}
    legacy = LegacyMetrics()
    with pytest.raises(ZeroDivisionError):
        with legacy.scope():
            assert tf.compat.v1.metrics.auc is not originals["auc"]
            assert tf.compat.v1.metrics.auc.__wrapped__ is originals["auc"]
            1 / 0  # noqa: B018
    for name, function in originals.items():
        assert getattr(tf.compat.v1.metrics, name) is function, name


def test_every_v1_metric_name_is_served():
    public = {name for name in dir(tf.compat.v1.metrics) if not name.startswith("_")}
    assert public == set(supported_v1_metrics())


def test_a_second_owner_cannot_open_its_scope_meanwhile():
    first, second = LegacyMetrics(), LegacyMetrics()
    with first.scope():
        with first.scope():  # the same owner may nest
            pass
        with pytest.raises(ValueError, match=r"Another LegacyMetrics has its scope\(\) open"):
            with second.scope():
                pass
    with second.scope():  # free again once the first closed
        pass


def test_value_is_read_after_the_update_eagerly():
    legacy = LegacyMetrics()
    with legacy.scope():
        value, update_op = tf.compat.v1.metrics.mean([1.0, 3.0])
    assert value.numpy() == pytest.approx(2.0)
    assert update_op.numpy() == pytest.approx(2.0)
    with legacy.scope():
        value, _ = tf.compat.v1.metrics.mean([8.0], weights=[2.0])
    assert value.numpy() == pytest.approx((1 + 3 + 16) / 4)
    assert legacy.results() == {0: pytest.approx(5.0)}


def test_retracing_reuses_the_metrics():
    legacy = LegacyMetrics()

    @tf.function
    def step(values, weights):
        return legacy.run_metric_fn(
            lambda v, w: {"mean": tf.compat.v1.metrics.mean(v, weights=w)}, [values, weights]
        )

    step(tf.constant([1.0, 2.0]), tf.constant([1.0, 1.0]))
    step(tf.constant([3.0, 4.0, 5.0]), tf.constant([2.0, 0.0, 1.0]))  # new shape: a new trace
    assert step.experimental_get_tracing_count() >= 2  # (3: variable creation retraces too)
    assert len(legacy.metrics) == 1
    assert legacy.results()["mean"] == pytest.approx((1 + 2 + 6 + 5) / 5)


def test_each_trace_counts_from_zero_when_the_scope_is_open_outside():
    legacy = LegacyMetrics()

    @tf.function
    def step(x):
        tf.compat.v1.metrics.mean(x)
        return tf.compat.v1.metrics.percentage_below(x, 2.5)[0]

    with legacy.scope():
        step(tf.constant([1.0, 2.0]))
        below = step(tf.constant([3.0, 4.0, 5.0]))  # a second shape: a second trace
    assert len(legacy.metrics) == 2
    assert below.numpy() == pytest.approx(2 / 5)
    assert legacy.results() == {0: pytest.approx(3.0), 1: pytest.approx(2 / 5)}


def test_a_different_call_at_the_same_position_is_refused():
    legacy = LegacyMetrics()
    y, p = tf.constant([1, 0]), tf.constant([0.3, 0.6])
    with legacy.scope():
        tf.compat.v1.metrics.auc(y, p, num_thresholds=10)
    with pytest.raises(ValueError, match=r"call #0 .*auc\(.*num_thresholds=20.*serves .*=10"):
        with legacy.scope():
            tf.compat.v1.metrics.auc(y, p, num_thresholds=20)
    with pytest.raises(ValueError, match=r"call #0 .*precision.*serves .*auc"):
        with legacy.scope():
            tf.compat.v1.metrics.precision(y, p)


def test_bad_configuration_is_a_value_error():
    legacy = LegacyMetrics()
    with pytest.raises(ValueError, match=r"`curve` \('XYZ'\) must be one of"):
        with legacy.scope():
            tf.compat.v1.metrics.auc([1, 0], [0.2, 0.4], curve="XYZ")


def test_run_metric_fn_dict_tensors_passthrough_results_and_reset():
    legacy = LegacyMetrics()
    keras_mean = tf.keras.metrics.Mean()

    def metric_fn(labels, scores, weights):
        keras_mean.update_state(scores)
        value, update = tf.compat.v1.metrics.accuracy(labels, scores > 0.5, weights=weights)
        return {
            "acc": (value, update),
            "acc_percent": (value * 100.0, update),  # not the served value: listed by position
            "keras_mean": keras_mean,
        }

    for batch in _batches():
        ops = legacy.run_metric_fn(
            metric_fn, {"labels": batch["y"] > 0, "scores": batch["p"], "weights": batch["w"]}
        )
    assert ops["keras_mean"] is keras_mean
    correct = (SCORES > 0.5) == (LABELS > 0)
    expected_acc = np.sum(correct * WEIGHTS) / np.sum(WEIGHTS)
    results = legacy.results()
    assert sorted(results, key=str) == ["acc", "keras_mean"]
    assert results["acc"] == pytest.approx(expected_acc, rel=1e-6)
    assert results["keras_mean"] == pytest.approx(SCORES.mean(), rel=1e-6)
    legacy.reset()
    assert legacy.results() == {"acc": 0.0, "keras_mean": 0.0}


def test_track_keys_results_for_a_model_fn_spec():
    legacy = LegacyMetrics()

    @tf.function
    def step(x):
        with legacy.scope():
            eval_metric_ops = {"below": tf.compat.v1.metrics.percentage_below(x, 0.5)}
            legacy.track(eval_metric_ops)
        return eval_metric_ops["below"][0]

    step(tf.constant([0.1, 0.9]))
    assert step(tf.constant([0.2, 0.3])).numpy() == pytest.approx(0.75)
    assert legacy.results() == {"below": pytest.approx(0.75)}
    with pytest.raises(ValueError, match=r"`track` must be called inside `scope\(\)`"):
        legacy.track({})
    with pytest.raises(TypeError, match=r"`eval_metric_ops` \(list\) must be a dict"):
        with legacy.scope():
            legacy.track([])


def test_metric_fn_runs_as_graph_code_without_autograph():
    """As under Estimator: a python `if` on a tensor is an error, not a tf.cond."""

    def metric_fn(x):
        if tf.reduce_sum(x) > 0:
            x = -x
        return {"mean": tf.compat.v1.metrics.mean(x)}

    legacy = LegacyMetrics()
    step = tf.function(lambda x: legacy.run_metric_fn(metric_fn, [x]))
    with pytest.raises(TypeError, match=r"as a Python `bool` is not allowed"):
        step(tf.constant([1.0]))


def test_results_lists_unkeyed_metrics_by_position():
    legacy = LegacyMetrics()
    legacy.run_metric_fn(
        lambda x: {"scaled": tuple(t * 2 for t in tf.compat.v1.metrics.mean(x))}, [[1.0, 2.0]]
    )
    assert legacy.results() == {0: pytest.approx(1.5)}


@pytest.mark.parametrize(
    "metric_fn,tensors,error,match",
    [
        pytest.param("nope", [], TypeError, r"`metric_fn` \('nope'\) must be callable", id="fn"),
        pytest.param(lambda x: {}, 3, TypeError, r"`tensors` \(int\) must be a list", id="tensors"),
        pytest.param(lambda: [], [], TypeError, r"must return a dict .*got list", id="result"),
        pytest.param(
            lambda: {"a": [1, 2]}, [], TypeError, r"eval_metric_ops\['a'\] .* tuple", id="pair"
        ),
    ],
)
def test_run_metric_fn_rejects_bad_input(metric_fn, tensors, error, match):
    with pytest.raises(error, match=match):
        LegacyMetrics().run_metric_fn(metric_fn, tensors)


def test_collections_receive_value_and_update_op_in_tf_function():
    legacy = LegacyMetrics()

    @tf.function
    def step(x):
        with legacy.scope():
            value, update_op = tf.compat.v1.metrics.mean(
                x, metrics_collections=["values"], updates_collections=["updates"]
            )
        assert tf.compat.v1.get_collection("values") == [value]
        assert tf.compat.v1.get_collection("updates") == [update_op]
        return value

    assert step(tf.constant([2.0, 4.0])).numpy() == pytest.approx(3.0)


def test_in_a_tf1_graph_the_real_v1_metric_runs():
    legacy = LegacyMetrics()
    with legacy.scope(), tf.Graph().as_default():
        value, update_op = tf.compat.v1.metrics.mean(tf.constant([1.0, 2.0]))
        assert tf.compat.v1.local_variables()  # v1's own metric variables
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.local_variables_initializer())
            session.run(update_op)
            assert session.run(value) == pytest.approx(1.5)
    assert legacy.metrics == []


def test_to_keras_metric_gives_stock_keras_where_exact():
    metric, to_kwargs = to_keras_metric("accuracy")
    assert isinstance(metric, tf.keras.metrics.Accuracy)
    metric, _ = to_keras_metric("auc", curve="PR")
    assert isinstance(metric, tf.keras.metrics.Metric)
    assert not isinstance(metric, tf.keras.metrics.AUC)
    assert type(metric).__name__ == "V1AUC" == supported_v1_metrics()["auc"][0]
    assert supported_v1_metrics()["accuracy"][0] == "tf.keras.metrics.Accuracy"


@pytest.mark.parametrize(
    "name,kwargs",
    [
        pytest.param("auc", {"curve": "PR", "thresholds": [0.2, 0.6]}, id="auc"),
        pytest.param("recall_at_thresholds", {"thresholds": [0.5]}, id="at-thresholds"),
        pytest.param("mean_iou", {"num_classes": 3}, id="mean_iou"),
        pytest.param("precision_at_k", {"k": 2, "class_id": 1}, id="top-k"),
        pytest.param("sensitivity_at_specificity", {"specificity": 0.3}, id="rate"),
        pytest.param("mean_tensor", {"shape": (2, 3)}, id="mean_tensor"),
        pytest.param("percentage_below", {"threshold": 0.25}, id="percentage_below"),
    ],
)
def test_v1_classes_round_trip_through_their_config(name, kwargs):
    metric, _ = to_keras_metric(name, **kwargs)
    config = metric.get_config()
    rebuilt = type(metric).from_config(config)
    assert rebuilt.get_config() == config
    assert [v.shape for v in rebuilt.variables] == [v.shape for v in metric.variables]


def test_to_keras_metric_equals_v1():
    batches = _batches()

    def calls(y, p, w):
        return {
            "auc": tf.compat.v1.metrics.auc(
                y, p, weights=w, curve="PR", summation_method="careful_interpolation"
            ),
            "iou": tf.compat.v1.metrics.mean_iou(y, tf.cast(p > 0.5, tf.int64), 2, weights=w),
            "precision": tf.compat.v1.metrics.precision(y, p > 0.5, weights=w),
        }

    want = v1_values(calls, batches)
    auc, auc_kwargs = to_keras_metric("auc", curve="PR", summation_method="careful_interpolation")
    iou, iou_kwargs = to_keras_metric("mean_iou", num_classes=2)
    precision, precision_kwargs = to_keras_metric("precision")
    for b in batches:
        auc.update_state(**auc_kwargs(b["y"], b["p"], weights=b["w"]))
        iou.update_state(**iou_kwargs(b["y"], b["p"] > 0.5, weights=b["w"]))
        precision.update_state(
            **precision_kwargs(labels=b["y"], predictions=b["p"] > 0.5, weights=b["w"])
        )
    assert auc.result().numpy() == pytest.approx(want["auc"], rel=1e-6)
    assert iou.result().numpy() == pytest.approx(want["iou"], rel=1e-6)
    assert precision.result().numpy() == pytest.approx(want["precision"], rel=1e-6)


@pytest.mark.parametrize(
    "name,kwargs,error,match",
    [
        pytest.param(
            "streaming_auc",
            {},
            ValueError,
            r"`streaming_auc` is not a tf.compat.v1.metrics function .*tf.keras.metrics.AUC",
            id="contrib-name",
        ),
        pytest.param("made_up", {}, ValueError, r"`made_up` .*Served: accuracy, ", id="unknown"),
        pytest.param(
            "auc", {"labels": 1}, TypeError, r"unknown argument\(s\) \['labels'\]", id="kw"
        ),
        pytest.param(
            "mean_iou", {}, TypeError, r"`num_classes` of .*mean_iou.* integer", id="miss"
        ),
        pytest.param("recall_at_k", {"k": 0}, ValueError, r"`k` .* \(0\) must be >= 1", id="k"),
    ],
)
def test_to_keras_metric_rejects(name, kwargs, error, match):
    with pytest.raises(error, match=match):
        to_keras_metric(name, **kwargs)


_LEGACY_KERAS_SCRIPT = """
import importlib.util, sys
import numpy as np
import tensorflow as tf
assert not tf.keras.__name__.startswith("keras._tf_keras") and "tf_keras" in tf.keras.__name__, tf.keras
spec = importlib.util.spec_from_file_location("cases", {path!r})
cases = importlib.util.module_from_spec(spec)
sys.modules["cases"] = cases
spec.loader.exec_module(cases)
batches = cases.make_batches()
want = cases.v1_reference(batches)
legacy = cases.LegacyMetrics()
step = tf.function(lambda batch: legacy.run_metric_fn(cases.metric_fn, batch), autograph=False)
for batch in batches:
    step(batch)
got = legacy.results()
bad = [k for k, rtol in ((c[0], c[2]) for c in cases.CASES)
       if not np.allclose(got[k], want[k], rtol=rtol, atol=rtol * 0.1)]
print("KERAS", type(legacy.metrics[0]).__module__)
print("MISMATCHES", bad)
"""


@pytest.mark.modern_world
def test_tf_keras_backs_the_bridge_with_legacy_keras(python_subprocess):
    """With TF_USE_LEGACY_KERAS=1, tf.keras is tf_keras: every case still equals v1."""
    path = pathlib.Path(__file__).with_name("test_metrics_equality.py").resolve()
    out = python_subprocess(
        _LEGACY_KERAS_SCRIPT.format(path=str(path)), env={"TF_USE_LEGACY_KERAS": "1"}
    )
    assert "KERAS tf_keras" in out
    assert "MISMATCHES []" in out
