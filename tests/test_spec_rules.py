"""EstimatorSpec: every rule has a should-pass and a should-fail case, in graph, eager and tf.function."""

import re

import numpy as np
import pytest
import tensorflow as tf

from estimator_spec_compat import (
    EstimatorSpec,
    InvalidSpecError,
    ModeKeys,
    lenient_validation,
)
from estimator_spec_compat._compat import PredictOutput

TRAIN, EVAL, PREDICT = ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT
CONTEXTS = ["graph", "eager", "function"]


def build_in(context, build):
    """Runs ``build()`` in a fresh graph, eagerly, or while tracing a tf.function."""
    if context == "graph":
        with tf.Graph().as_default():
            return build()
    if context == "eager":
        return build()
    out = []
    tf.function(lambda: out.append(build()) or 0).get_concrete_function()
    return out[0]


def fails(context, build, *patterns):
    """Asserts ``build()`` raises InvalidSpecError whose message matches every pattern."""
    with pytest.raises(InvalidSpecError) as info:
        build_in(context, build)
    for pattern in patterns:
        assert any(re.search(pattern, str(p)) for p in info.value.problems), (
            f"no problem matches {pattern!r} in:\n{info.value}"
        )
    return info.value


def scalar():
    return tf.constant(1.5)


def train_op():
    # tf.no_op() is None eagerly; a Tensor is a valid train_op everywhere.
    return tf.constant(0) if tf.executing_eagerly() else tf.no_op()


# --- mode -----------------------------------------------------------------


@pytest.mark.parametrize("mode", [TRAIN, EVAL, PREDICT])
@pytest.mark.parametrize("context", CONTEXTS)
def test_mode_valid_passes(mode, context):
    spec = build_in(
        context,
        lambda: EstimatorSpec(
            mode=mode, loss=scalar(), train_op=train_op(), predictions={"y": tf.ones([2])}
        ),
    )
    assert spec.mode == mode


@pytest.mark.parametrize("mode", ["bogus", "training", None, 1])
def test_mode_unknown_fails_strict_but_passes_lenient(mode):
    fails("eager", lambda: EstimatorSpec(mode=mode), r"`mode`.*must be one of")
    with lenient_validation():
        assert EstimatorSpec(mode=mode).mode == mode


# --- loss -----------------------------------------------------------------


@pytest.mark.parametrize("mode", [TRAIN, EVAL])
@pytest.mark.parametrize("context", CONTEXTS)
def test_loss_missing_fails_in_train_and_eval(mode, context):
    fails(
        context, lambda: EstimatorSpec(mode=mode, train_op=train_op()), r"`loss`.*required in mode"
    )


@pytest.mark.parametrize("context", CONTEXTS)
def test_loss_shape_one_is_reshaped_to_scalar(context):
    spec = build_in(
        context,
        lambda: EstimatorSpec(mode=EVAL, loss=tf.constant([2.0])),
    )
    assert spec.loss.shape == tf.TensorShape([])


@pytest.mark.parametrize(
    "loss, pattern",
    [
        pytest.param(lambda: 1.0, r"must be a Tensor", id="python-float"),
        pytest.param(lambda: np.float32(1.0), r"must be a Tensor", id="numpy"),
        pytest.param(lambda: tf.constant([1.0, 2.0]), r"must be scalar", id="vector"),
        pytest.param(lambda: tf.constant(3), r"floating dtype, not int32", id="int"),
    ],
)
@pytest.mark.parametrize("context", CONTEXTS)
def test_loss_bad_values_fail(loss, pattern, context):
    fails(context, lambda: EstimatorSpec(mode=EVAL, loss=loss()), r"`loss`.*" + pattern)


def test_loss_int_dtype_passes_lenient():
    with lenient_validation():
        assert EstimatorSpec(mode=EVAL, loss=tf.constant(3)).loss.dtype == tf.int32


def test_loss_unknown_shape_passes_in_graph_like_upstream():
    with tf.Graph().as_default():
        unknown_rank = tf.compat.v1.placeholder(tf.float32, None)
        assert EstimatorSpec(mode=EVAL, loss=unknown_rank).loss is unknown_rank
        unknown_size = tf.compat.v1.placeholder(tf.float32, [None])
        assert EstimatorSpec(mode=EVAL, loss=unknown_size).loss.shape == ()  # reshaped


# --- train_op ---------------------------------------------------------------


@pytest.mark.parametrize("context", CONTEXTS)
def test_train_op_missing_fails_in_train(context):
    fails(context, lambda: EstimatorSpec(mode=TRAIN, loss=scalar()), r"`train_op`.*required")


@pytest.mark.parametrize(
    "make", [pytest.param(train_op, id="op"), pytest.param(scalar, id="tensor")]
)
@pytest.mark.parametrize("context", CONTEXTS)
def test_train_op_op_or_tensor_passes(make, context):
    spec = build_in(context, lambda: EstimatorSpec(mode=TRAIN, loss=scalar(), train_op=make()))
    assert spec.train_op is not None


def test_train_op_variable_in_graph_becomes_its_op():
    with tf.Graph().as_default():
        var = tf.compat.v1.get_variable("v", [], use_resource=True)
        spec = EstimatorSpec(mode=TRAIN, loss=scalar(), train_op=var)
        assert spec.train_op is var.op


def test_train_op_variable_works_eagerly():
    var = tf.Variable(2.0)
    spec = EstimatorSpec(mode=TRAIN, loss=scalar(), train_op=var)
    assert float(spec.train_op) == 2.0


@pytest.mark.parametrize("bad", [1, "op", [tf.no_op]], ids=["int", "str", "list"])
def test_train_op_wrong_type_fails(bad):
    fails("eager", lambda: EstimatorSpec(mode=TRAIN, loss=scalar(), train_op=bad), r"`train_op`")


# --- predictions ------------------------------------------------------------


@pytest.mark.parametrize("context", CONTEXTS)
def test_predictions_missing_fails_in_predict(context):
    fails(context, lambda: EstimatorSpec(mode=PREDICT), r"`predictions`.*required")


@pytest.mark.parametrize("mode", [TRAIN, EVAL])
def test_predictions_none_becomes_empty_dict_outside_predict(mode):
    spec = EstimatorSpec(mode=mode, loss=scalar(), train_op=train_op())
    assert spec.predictions == {}


@pytest.mark.parametrize("context", CONTEXTS)
def test_predictions_tensor_or_dict_passes(context):
    spec = build_in(context, lambda: EstimatorSpec(mode=PREDICT, predictions=tf.ones([3, 2])))
    assert spec.predictions.shape == (3, 2)
    spec = build_in(context, lambda: EstimatorSpec(mode=PREDICT, predictions={"a": tf.ones([3])}))
    assert list(spec.predictions) == ["a"]


@pytest.mark.parametrize(
    "predictions, pattern",
    [
        pytest.param(np.ones(3), r"`predictions`.*must be a Tensor", id="numpy"),
        pytest.param({"a": [1.0]}, r"`predictions\['a'\]`.*must be a Tensor", id="list-value"),
        pytest.param({1: None}, r"`predictions\[1\]`.*keys must be strings", id="int-key"),
    ],
)
def test_predictions_bad_values_fail(predictions, pattern):
    fails("eager", lambda: EstimatorSpec(mode=PREDICT, predictions=predictions), pattern)


# --- eval_metric_ops ----------------------------------------------------------


def test_eval_metric_ops_v1_metric_tuple_passes_in_graph():
    with tf.Graph().as_default():
        labels = tf.constant([1, 0])
        ops = {"acc": tf.compat.v1.metrics.accuracy(labels, labels)}
        spec = EstimatorSpec(mode=EVAL, loss=scalar(), eval_metric_ops=ops)
        assert spec.eval_metric_ops["acc"] is ops["acc"]


@pytest.mark.parametrize(
    "ops, pattern",
    [
        pytest.param([("a", 1)], r"`eval_metric_ops`.*must be a dict", id="not-dict"),
        pytest.param(
            {"a": [tf.constant(1.0), tf.constant(0)]}, r"a tuple, not a list", id="list-pair"
        ),
        pytest.param({"a": (tf.constant(1.0),)}, r"\(metric_value, update_op\)", id="1-tuple"),
        pytest.param({"a": (1.0, tf.constant(0))}, r"`eval_metric_ops\['a'\]\[0\]`", id="value"),
        pytest.param({"a": (tf.constant(1.0), "op")}, r"update_op must be", id="update"),
        pytest.param({3: (tf.constant(1.0), tf.constant(0))}, r"keys must be strings", id="key"),
    ],
)
def test_eval_metric_ops_bad_values_fail(ops, pattern):
    fails("eager", lambda: EstimatorSpec(mode=EVAL, loss=scalar(), eval_metric_ops=ops), pattern)


@pytest.mark.parametrize("context", ["eager", "function"])
def test_eval_metric_ops_keras_metric_passes_eagerly_and_in_function(context):
    metric = tf.keras.metrics.Mean()  # built outside the trace, as a runner would

    def build():
        metric.update_state(tf.constant([1.0, 3.0]))
        return EstimatorSpec(mode=EVAL, loss=scalar(), eval_metric_ops={"mean": metric})

    spec = build_in(context, build)
    assert spec.eval_metric_ops["mean"] is metric


@pytest.mark.estimator_world
def test_eval_metric_ops_keras_metric_in_graph_must_be_updated():
    with tf.Graph().as_default():
        metric = tf.keras.metrics.Mean()
        with pytest.raises(InvalidSpecError, match=r"call `update_state\(\.\.\.\)`"):
            EstimatorSpec(mode=EVAL, loss=scalar(), eval_metric_ops={"m": metric})
        metric.update_state(tf.constant([1.0, 3.0]))
        spec = EstimatorSpec(mode=EVAL, loss=scalar(), eval_metric_ops={"m": metric})
        value, update = spec.eval_metric_ops["m"]
        assert tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.METRIC_VARIABLES)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.local_variables_initializer())
            sess.run(update)
            assert sess.run(value) == pytest.approx(2.0)


# --- export_outputs -----------------------------------------------------------

DEFAULT = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY


def test_export_outputs_default_predict_output_in_predict():
    spec = EstimatorSpec(mode=PREDICT, predictions={"y": tf.ones([2])})
    assert list(spec.export_outputs) == [DEFAULT]
    assert isinstance(spec.export_outputs[DEFAULT], PredictOutput)
    assert spec.export_outputs[DEFAULT].outputs == spec.predictions


def test_export_outputs_single_named_is_duplicated_under_default():
    out = _predict_output()
    given = {"head": out}
    spec = EstimatorSpec(mode=PREDICT, predictions={"y": tf.ones([2])}, export_outputs=given)
    assert spec.export_outputs == {"head": out, DEFAULT: out}
    assert given == {"head": out}, "the caller's dict must not be mutated"


@pytest.mark.parametrize("mode", [TRAIN, EVAL, PREDICT])
def test_export_outputs_several_without_default_fail_in_every_mode(mode):
    outs = {"a": _predict_output(), "b": _predict_output()}
    fails(
        "eager",
        lambda: EstimatorSpec(
            mode=mode,
            loss=scalar(),
            train_op=train_op(),
            predictions={"y": tf.ones([2])},
            export_outputs=outs,
        ),
        r"none is the default 'serving_default'",
    )


@pytest.mark.parametrize("mode", [TRAIN, EVAL])
def test_export_outputs_non_export_output_fails_strict_outside_predict(mode):
    def build():
        return EstimatorSpec(
            mode=mode, loss=scalar(), train_op=train_op(), export_outputs={"a": tf.ones([1])}
        )

    fails("eager", build, r"`export_outputs\['a'\]`.*must be an ExportOutput")
    with lenient_validation():
        assert build().export_outputs["a"] is not None  # upstream skipped the check


def test_export_outputs_non_dict_fails_in_predict_even_lenient():
    with lenient_validation():
        fails(
            "eager",
            lambda: EstimatorSpec(mode=PREDICT, predictions=tf.ones([2]), export_outputs=[1]),
            r"`export_outputs`.*must be a dict",
        )


def test_export_outputs_empty_in_predict_fails_strict_passes_lenient():
    def build():
        return EstimatorSpec(mode=PREDICT, predictions={"y": tf.ones([2])}, export_outputs={})

    fails("eager", build, r"`export_outputs`.*no serving signature")
    with lenient_validation():
        assert build().export_outputs == {}  # upstream keeps it


def _predict_output():
    return EstimatorSpec(mode=PREDICT, predictions={"y": tf.ones([2])}).export_outputs[DEFAULT]


# --- hooks and scaffold ------------------------------------------------------------


class _Hook(tf.compat.v1.train.SessionRunHook):
    pass


@pytest.mark.parametrize(
    "field",
    ["training_chief_hooks", "training_hooks", "evaluation_hooks", "prediction_hooks"],
)
def test_hooks_list_passes_as_tuple_and_bad_hooks_fail(field):
    hook = _Hook()
    spec = EstimatorSpec(mode=EVAL, loss=scalar(), **{field: [hook]})
    assert getattr(spec, field) == (hook,)
    fails(
        "eager", lambda: EstimatorSpec(mode=EVAL, loss=scalar(), **{field: [1]}), field + r"\[0\]"
    )
    fails("eager", lambda: EstimatorSpec(mode=EVAL, loss=scalar(), **{field: hook}), r"\[hook\]")
    fails("eager", lambda: EstimatorSpec(mode=EVAL, loss=scalar(), **{field: 3}), field)


def test_scaffold_default_and_custom_pass_and_wrong_type_fails():
    assert isinstance(EstimatorSpec(mode=EVAL, loss=scalar()).scaffold, tf.compat.v1.train.Scaffold)
    scaffold = tf.compat.v1.train.Scaffold()
    assert EstimatorSpec(mode=EVAL, loss=scalar(), scaffold=scaffold).scaffold is scaffold
    fails("eager", lambda: EstimatorSpec(mode=EVAL, loss=scalar(), scaffold="s"), r"`scaffold`")


# --- graphs -----------------------------------------------------------------------


def test_tensor_from_another_graph_fails_with_upstreams_causes():
    with tf.Graph().as_default():
        other = tf.constant(1.0)
    with tf.Graph().as_default():
        with pytest.raises(InvalidSpecError, match=r"(?s)default graph.*most recent call"):
            EstimatorSpec(mode=EVAL, loss=other)


def test_eager_tensor_in_graph_fails():
    eager = tf.constant(1.0)
    with tf.Graph().as_default():
        with pytest.raises(InvalidSpecError, match=r"`loss`.*default graph"):
            EstimatorSpec(mode=EVAL, loss=eager)


# --- reporting ------------------------------------------------------------------------


def test_every_problem_is_reported_at_once_with_field_value_rule_and_fix():
    with pytest.raises(InvalidSpecError) as info:
        EstimatorSpec(mode=TRAIN, loss="x", train_op=None, training_hooks=[1], scaffold=2)
    error = info.value
    assert isinstance(error, TypeError) and isinstance(error, ValueError)
    fields = [p.field for p in error.problems]
    assert fields == ["train_op", "loss", "training_hooks[0]", "scaffold"]
    assert all(p.rule and p.fix for p in error.problems)
    assert "4 problems" in str(error) and "'x'" in str(error)


def test_replace_keeps_the_subclass_and_validates_again():
    class MySpec(EstimatorSpec):
        __slots__ = ()

    spec = MySpec(mode=EVAL, loss=scalar())
    replaced = spec._replace(loss=tf.constant([3.0]))
    assert type(replaced) is MySpec and replaced.loss.shape == ()
    with pytest.raises(InvalidSpecError, match=r"`loss`"):
        spec._replace(loss="bad")
    with pytest.raises(InvalidSpecError, match=r"cannot be changed"):
        spec._replace(mode=TRAIN)
    with pytest.raises(TypeError, match=r"unknown field names \['los'\]"):
        spec._replace(los=scalar())


def test_invalid_spec_inside_tf_function_keeps_its_type_and_problems():
    @tf.function
    def step():
        EstimatorSpec(mode=TRAIN, loss=tf.constant(1.0))
        return 0

    with pytest.raises(InvalidSpecError) as info:
        step()
    assert [p.field for p in info.value.problems] == ["train_op"]
