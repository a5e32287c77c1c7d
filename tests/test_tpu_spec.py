"""TPUEstimatorSpec: (fn, tensors) pairs, batch-major checks, scaffold_fn, as_estimator_spec()."""

import pytest
import tensorflow as tf

from estimator_spec_compat import (
    EstimatorSpec,
    InvalidSpecError,
    ModeKeys,
    TPUEstimatorSpec,
    eval_metrics_to_ops,
    lenient_validation,
)

TRAIN, EVAL, PREDICT = ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT
CONTEXTS = ["graph", "eager", "function"]


def build_in(context, build):
    if context == "graph":
        with tf.Graph().as_default():
            return build()
    if context == "eager":
        return build()
    out = []
    tf.function(lambda: out.append(build()) or 0).get_concrete_function()
    return out[0]


def batch(n=4, *rest):
    return tf.ones([n, *rest])


def two(a, b):
    return {"sum": (tf.reduce_sum(a) + tf.reduce_sum(b), tf.constant(0))}


def with_default(a, b=None):
    return {"a": (tf.reduce_sum(a), tf.constant(0))}


def varargs(*tensors):
    return {"n": (tf.constant(float(len(tensors))), tf.constant(0))}


def kwargs_fn(a, **rest):
    return {"n": (tf.constant(float(len(rest))), tf.constant(0))}


def spec(field, value, mode=EVAL):
    return TPUEstimatorSpec(mode=mode, loss=tf.constant(1.0), **{field: value})


FIELDS = ["eval_metrics", "host_call"]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: (two, [batch(), batch()]), id="list"),
        pytest.param(lambda: (two, (batch(), batch()))[:2], id="tuple"),
        pytest.param(lambda: [two, {"a": batch(), "b": batch()}], id="list-pair-dict"),
        pytest.param(lambda: (with_default, [batch()]), id="default-omitted"),
        pytest.param(lambda: (with_default, [batch(), batch()]), id="default-given"),
        pytest.param(lambda: (varargs, [batch(), batch(), batch()]), id="varargs"),
        pytest.param(lambda: (kwargs_fn, {"a": batch(), "z": batch()}), id="kwargs"),
    ],
)
@pytest.mark.parametrize("context", CONTEXTS)
def test_host_fn_pairs_that_pass(field, make, context):
    built = build_in(context, lambda: spec(field, make()))
    assert getattr(built, field) is not None


def test_unknown_leading_dimension_passes_in_graph():
    with tf.Graph().as_default():
        unknown = tf.compat.v1.placeholder(tf.float32, [None, 2])
        assert spec("eval_metrics", (two, [unknown, batch(4)])).eval_metrics is not None


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize(
    "value, pattern",
    [
        pytest.param(lambda: two, r"must be a \(fn, tensors\) pair", id="not-pair"),
        pytest.param(lambda: (two, [batch()], 1), r"\(fn, tensors\) pair", id="triple"),
        pytest.param(lambda: ("two", [batch()]), r"\[0\]`.*must be callable", id="fn"),
        pytest.param(lambda: (two, batch()), r"\[1\]`.*list/tuple.*or dict", id="tensors-type"),
        pytest.param(
            lambda: (two, [batch()]), r"takes positional arguments \['a', 'b'\]", id="few"
        ),
        pytest.param(lambda: (two, [batch()] * 3), r"got 3 tensors", id="many"),
        pytest.param(lambda: (two, {"a": batch(), "c": batch()}), r"not keyword arg", id="key"),
        pytest.param(lambda: (two, {"a": batch()}), r"requires arguments \['b'\]", id="missing"),
        pytest.param(lambda: (two, [tf.constant(1.0), batch()]), r"rank >= 1", id="scalar"),
        pytest.param(lambda: (two, [batch(4), batch(3)]), r"one leading.*dimension", id="mixed"),
        pytest.param(lambda: (two, [batch(), [1.0]]), r"must be a Tensor", id="non-tensor"),
    ],
)
def test_host_fn_pairs_that_fail(field, value, pattern):
    with pytest.raises(InvalidSpecError, match=pattern):
        spec(field, value())


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(lambda: (two, {"a": batch(), "c": batch()}), id="key"),
        pytest.param(lambda: (two, [tf.constant(1.0), batch()]), id="scalar"),
        pytest.param(lambda: (two, [batch(4), batch(3)]), id="mixed"),
    ],
)
def test_checks_upstream_deferred_to_tpu_run_time_pass_lenient(value):
    with lenient_validation():
        assert spec("eval_metrics", value()).eval_metrics is not None


@pytest.mark.parametrize(
    "predictions, pattern",
    [
        pytest.param(lambda: tf.constant(1.0), r"`predictions`.*rank >= 1", id="scalar"),
        pytest.param(lambda: {"a": batch(4), "b": batch(2)}, r"one leading", id="mixed"),
    ],
)
def test_predict_predictions_must_be_batch_major(predictions, pattern):
    with pytest.raises(InvalidSpecError, match=pattern):
        TPUEstimatorSpec(mode=PREDICT, predictions=predictions())
    good = TPUEstimatorSpec(mode=PREDICT, predictions={"a": batch(4), "b": batch(4, 3)})
    assert set(good.predictions) == {"a", "b"}


def test_scaffold_fn_rules():
    ok = TPUEstimatorSpec(mode=EVAL, loss=tf.constant(1.0), scaffold_fn=lambda: None)
    assert callable(ok.scaffold_fn)
    with pytest.raises(InvalidSpecError, match=r"`scaffold_fn`.*must be a callable"):
        TPUEstimatorSpec(mode=EVAL, loss=tf.constant(1.0), scaffold_fn=3)
    with pytest.raises(InvalidSpecError, match=r"`scaffold_fn`.*no arguments"):
        TPUEstimatorSpec(mode=EVAL, loss=tf.constant(1.0), scaffold_fn=lambda x: None)


def test_shared_fields_are_checked_like_estimator_spec():
    with pytest.raises(InvalidSpecError) as info:
        TPUEstimatorSpec(mode="bogus", loss="x", training_hooks=[1])
    assert [p.field for p in info.value.problems] == ["mode", "loss", "training_hooks[0]"]


def _acc_fn(labels, logits):
    return {"mean_logit": (tf.reduce_mean(logits), tf.reduce_sum(labels))}


def _other_fn(labels, logits):
    return {"max_logit": (tf.reduce_max(logits), tf.reduce_sum(labels))}


@pytest.mark.parametrize("context", CONTEXTS)
def test_as_estimator_spec_uses_each_specs_own_metric_fn(context):
    def build():
        labels, logits = tf.ones([4]), tf.constant([[1.0], [2.0], [3.0], [6.0]])
        first = TPUEstimatorSpec(
            mode=EVAL, loss=tf.constant(1.0), eval_metrics=(_acc_fn, [labels, logits])
        )
        second = TPUEstimatorSpec(
            mode=EVAL,
            loss=tf.constant(1.0),
            eval_metrics=(_other_fn, {"labels": labels, "logits": logits}),
        )
        return first.as_estimator_spec(), second.as_estimator_spec()

    first, second = build_in(context, build)
    assert type(first) is EstimatorSpec and type(second) is EstimatorSpec
    assert list(first.eval_metric_ops) == ["mean_logit"]
    assert list(second.eval_metric_ops) == ["max_logit"]
    if context == "eager":
        assert float(first.eval_metric_ops["mean_logit"][0]) == 3.0
        assert float(second.eval_metric_ops["max_logit"][0]) == 6.0


def test_as_estimator_spec_adds_host_call_hook_to_every_hooks_list_and_calls_scaffold_fn():
    class Hook(tf.compat.v1.train.SessionRunHook):
        pass

    scaffold = tf.compat.v1.train.Scaffold()
    calls = []

    def host_fn(step):
        calls.append(step)
        return [tf.reduce_sum(step)]

    with tf.Graph().as_default():
        tpu_spec = TPUEstimatorSpec(
            mode=TRAIN,
            loss=tf.constant(1.0),
            train_op=tf.no_op(),
            host_call=(host_fn, [tf.ones([1])]),
            scaffold_fn=lambda: scaffold,
            training_hooks=[Hook()],
        )
        cpu = tpu_spec.as_estimator_spec()
    assert len(calls) == 1 and cpu.scaffold is scaffold
    assert [type(h).__name__ for h in cpu.training_hooks] == ["Hook", "_HostCallHook"]
    assert [type(h).__name__ for h in cpu.evaluation_hooks] == ["_HostCallHook"]
    assert [type(h).__name__ for h in cpu.prediction_hooks] == ["_HostCallHook"]


def test_scaffold_fn_returning_non_scaffold_fails_on_conversion():
    tpu_spec = TPUEstimatorSpec(mode=EVAL, loss=tf.constant(1.0), scaffold_fn=lambda: "nope")
    with pytest.raises(InvalidSpecError, match=r"`scaffold_fn\(\)`.*must return"):
        tpu_spec.as_estimator_spec()


def test_eval_metrics_to_ops_on_its_own():
    ops = eval_metrics_to_ops((_acc_fn, {"labels": tf.ones([2]), "logits": tf.ones([2, 1])}))
    assert list(ops) == ["mean_logit"]
    assert eval_metrics_to_ops(None) is None
    with pytest.raises(InvalidSpecError, match=r"not keyword arguments"):
        eval_metrics_to_ops((_acc_fn, {"label": tf.ones([2]), "logits": tf.ones([2, 1])}))


def test_replace_keeps_the_class_and_validates():
    tpu_spec = TPUEstimatorSpec(mode=EVAL, loss=tf.constant(1.0))
    replaced = tpu_spec._replace(eval_metrics=(_acc_fn, [tf.ones([2]), tf.ones([2, 1])]))
    assert type(replaced) is TPUEstimatorSpec
    with pytest.raises(InvalidSpecError, match=r"eval_metrics"):
        tpu_spec._replace(eval_metrics=(_acc_fn, [tf.ones([2])]))
