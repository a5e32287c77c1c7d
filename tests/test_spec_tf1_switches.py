"""The spec classes under TF1's process-wide switches give the same results as without them.

Migrated programs often start with ``tf.compat.v1.disable_v2_behavior()`` (or one
of its parts). ``disable_v2_tensorshape()`` makes ``shape[0]`` an unhashable
``Dimension``; the batch-major check once crashed on it with a bare TypeError.
Each switch runs in its own process; the outcomes of a fixed set of specs are
compared with the same set built in this process, in a graph, without a switch.
"""

import json
import textwrap

import pytest

# Builds each spec in a fresh graph, strict and lenient; prints outcome per case as JSON.
_SCRIPT = textwrap.dedent(
    """
    import json
    import tensorflow as tf
    from estimator_spec_compat import (
        EstimatorSpec, InvalidSpecError, ModeKeys, TPUEstimatorSpec, lenient_validation)


    def metric_fn(labels, logits):
        return {"mean": tf.compat.v1.metrics.mean(tf.reduce_mean(labels) + tf.reduce_mean(logits))}


    def host_fn(a, b):
        return [tf.compat.v1.summary.scalar("a", tf.reduce_mean(a) + tf.reduce_mean(b))]


    CASES = {
        "tpu-predict-rank2": lambda: TPUEstimatorSpec(
            ModeKeys.PREDICT, predictions={"y": tf.ones([4, 3]), "z": tf.ones([4])}),
        "tpu-predict-unknown-batch": lambda: TPUEstimatorSpec(
            ModeKeys.PREDICT,
            predictions=tf.compat.v1.placeholder(tf.float32, [None, 3])),
        "tpu-predict-mixed-batch": lambda: TPUEstimatorSpec(
            ModeKeys.PREDICT, predictions={"y": tf.ones([4, 3]), "z": tf.ones([5])}),
        "tpu-eval-metrics": lambda: TPUEstimatorSpec(
            ModeKeys.EVAL, loss=tf.constant(1.0),
            eval_metrics=(metric_fn, [tf.ones([4, 1]), tf.ones([4, 1])])),
        "tpu-eval-metrics-mixed-batch": lambda: TPUEstimatorSpec(
            ModeKeys.EVAL, loss=tf.constant(1.0),
            eval_metrics=(metric_fn, {"labels": tf.ones([4]), "logits": tf.ones([2])})),
        "tpu-host-call": lambda: TPUEstimatorSpec(
            ModeKeys.TRAIN, loss=tf.constant([1.0]), train_op=tf.no_op(),
            host_call=(host_fn, [tf.ones([4]), tf.ones([4, 2])])),
        "tpu-host-call-scalar": lambda: TPUEstimatorSpec(
            ModeKeys.TRAIN, loss=tf.constant(1.0), train_op=tf.no_op(),
            host_call=(host_fn, [tf.constant(1.0), tf.ones([4])])),
        "est-train-variable-op": lambda: EstimatorSpec(
            ModeKeys.TRAIN, loss=tf.ones([1]),
            train_op=tf.compat.v1.get_variable("v", [2])),
        "est-eval-nested-metric": lambda: EstimatorSpec(
            ModeKeys.EVAL, loss=tf.constant(1.0),
            eval_metric_ops={"m": ((tf.ones([2]), (tf.constant(2), tf.ones([]))), tf.no_op())}),
        "est-predict-default-export": lambda: EstimatorSpec(
            ModeKeys.PREDICT, predictions={"y": tf.ones([4, 2])}),
        "est-loss-not-scalar": lambda: EstimatorSpec(ModeKeys.EVAL, loss=tf.ones([2, 2])),
    }


    def outcome(build):
        with tf.Graph().as_default():
            try:
                spec = build()
            except InvalidSpecError as error:
                return ["rejected", [(p.field, p.rule, p.upstream) for p in error.problems]]
            shapes = [t.shape.as_list() for t in tf.nest.flatten(spec.predictions)]
            loss = spec.loss.shape.as_list() if spec.loss is not None else None
            if not isinstance(spec, TPUEstimatorSpec):
                return ["accepted", shapes, loss]
            cpu = spec.as_estimator_spec()
            metrics = {k: [v[0].shape.as_list()] for k, v in cpu.eval_metric_ops.items()}
            return ["accepted", shapes, loss, metrics, len(cpu.training_hooks)]


    def outcomes():
        result = {}
        for name, build in CASES.items():
            result[name + "/strict"] = outcome(build)
            with lenient_validation():
                result[name + "/lenient"] = outcome(build)
        return result
    """
)


def _outcomes_here():
    namespace = {}
    exec(compile(_SCRIPT, "<spec cases>", "exec"), namespace)
    return json.loads(json.dumps(namespace["outcomes"]()))


@pytest.fixture(scope="module")
def outcomes_without_switch():
    return _outcomes_here()


def test_the_cases_cover_acceptance_and_both_kinds_of_rejection(outcomes_without_switch):
    kinds = {(name.split("/")[1], result[0]) for name, result in outcomes_without_switch.items()}
    assert kinds == {
        ("strict", "accepted"),
        ("strict", "rejected"),
        ("lenient", "accepted"),
        ("lenient", "rejected"),
    }
    assert outcomes_without_switch["tpu-predict-mixed-batch/strict"][0] == "rejected"
    assert outcomes_without_switch["tpu-predict-mixed-batch/lenient"][0] == "accepted"


@pytest.mark.parametrize(
    "switch",
    [
        "disable_v2_behavior",
        "disable_eager_execution",
        "disable_v2_tensorshape",
        "disable_resource_variables",
    ],
)
def test_specs_give_the_same_results_under_a_tf1_switch(
    switch, outcomes_without_switch, python_subprocess
):
    out = python_subprocess(
        f"import tensorflow as tf\ntf.compat.v1.{switch}()\n"
        + _SCRIPT
        + "\nprint('RESULT ' + json.dumps(outcomes()))\n"
    )
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    assert json.loads(line[len("RESULT ") :]) == outcomes_without_switch
