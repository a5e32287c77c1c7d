"""convert.tpu_to_cpu_spec: TPU spec -> CPU spec in a graph, eagerly and inside tf.function."""

import collections

import pytest
import tensorflow as tf

import estimator_spec_compat.convert as convert
from estimator_spec_compat import EstimatorSpec, InvalidSpecError, ModeKeys, TPUEstimatorSpec
from estimator_spec_compat.tpu_spec import TPU_ESTIMATOR_SPEC_FIELDS

CONTEXTS = ["graph", "eager", "function"]
FakeTPUSpec = collections.namedtuple("FakeTPUSpec", TPU_ESTIMATOR_SPEC_FIELDS)


def build_in(context, build):
    if context == "graph":
        with tf.Graph().as_default():
            return build()
    if context == "eager":
        return build()
    out = []
    tf.function(lambda: out.append(build()) or 0).get_concrete_function()
    return out[0]


def metric_fn(labels, predictions):
    return {"mean_abs": (tf.reduce_mean(tf.abs(labels - predictions)), tf.constant(0))}


def _fields(**overrides):
    fields = dict.fromkeys(TPU_ESTIMATOR_SPEC_FIELDS)
    fields.update(mode=ModeKeys.EVAL, training_hooks=(), evaluation_hooks=(), prediction_hooks=())
    fields.update(overrides)
    return fields


@pytest.mark.parametrize("context", CONTEXTS)
def test_any_object_with_the_fields_converts_to_our_estimator_spec(context):
    def build():
        labels, predictions = tf.constant([1.0, 2.0]), tf.constant([1.5, 1.0])
        fake = FakeTPUSpec(
            **_fields(loss=tf.constant(0.5), eval_metrics=(metric_fn, [labels, predictions]))
        )
        return convert.tpu_to_cpu_spec(fake)

    cpu = build_in(context, build)
    assert type(cpu) is EstimatorSpec
    assert list(cpu.eval_metric_ops) == ["mean_abs"]
    if context == "eager":
        assert float(cpu.eval_metric_ops["mean_abs"][0]) == pytest.approx(0.75)


def test_foreign_spec_is_validated_strictly_on_the_way():
    labels = tf.constant([1.0, 2.0])
    fake = FakeTPUSpec(**_fields(loss=tf.constant(0.5), eval_metrics=(metric_fn, [labels])))
    with pytest.raises(InvalidSpecError, match=r"eval_metrics\[1\]"):
        convert.tpu_to_cpu_spec(fake)


def test_non_spec_is_a_type_error_naming_the_missing_fields():
    with pytest.raises(TypeError, match=r"lacks the fields \['mode'"):
        convert.tpu_to_cpu_spec(object())


@pytest.mark.estimator_world
@pytest.mark.parametrize("context", CONTEXTS)
def test_upstream_tpu_spec_converts(context):
    upstream = tf.compat.v1.estimator.tpu.TPUEstimatorSpec

    def build():
        labels, predictions = tf.constant([1.0, 2.0]), tf.constant([1.5, 1.0])
        spec = upstream(
            mode=ModeKeys.EVAL,
            loss=tf.constant(0.5),
            eval_metrics=(metric_fn, {"labels": labels, "predictions": predictions}),
        )
        return convert.tpu_to_cpu_spec(spec)

    cpu = build_in(context, build)
    assert type(cpu) is EstimatorSpec and list(cpu.eval_metric_ops) == ["mean_abs"]


def test_v1_metric_fn_converts_eagerly_inside_legacy_metrics_scope():
    def v1_metric_fn(labels, predictions):
        return {"mae": tf.compat.v1.metrics.mean_absolute_error(labels, predictions)}

    spec = TPUEstimatorSpec(
        mode=ModeKeys.EVAL,
        loss=tf.constant(0.5),
        eval_metrics=(v1_metric_fn, [tf.constant([1.0, 2.0]), tf.constant([1.5, 1.0])]),
    )
    with pytest.raises(RuntimeError, match="eager"):
        convert.tpu_to_cpu_spec(spec)  # TF's own error: v1 metrics need a graph
    legacy = convert.LegacyMetrics()
    with legacy.scope():
        cpu = convert.tpu_to_cpu_spec(spec)
    assert float(cpu.eval_metric_ops["mae"][0]) == pytest.approx(0.75)
