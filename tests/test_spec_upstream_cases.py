"""Upstream's own spec behaviours, written down as cases: what it accepts, what it rejects and how.

The cases restate tensorflow-estimator 2.15's unit tests for the spec classes
(``model_fn_test.py``: ``EstimatorSpec{Train,Eval,Infer}Test``) and the checks
of ``TPUEstimatorSpec.__new__`` / ``_OutfeedHostCall.validate``
(``tpu/tpu_estimator.py``), which upstream tested only through TPU runs. Each
case runs in a fresh graph, as upstream's tests did, strict and lenient, in both
worlds:

* a spec upstream accepts is accepted (strict too: none of these trips a
  documented strict rule);
* a spec upstream rejects raises `InvalidSpecError`, an instance of upstream's
  exception type, whose message contains upstream's wording (matched by regex).

In the estimator world each case is also run on the real upstream class, so
the expectations are upstream's, not this package's.
"""

import re

import pytest
import tensorflow as tf

from estimator_spec_compat import (
    EstimatorSpec,
    InvalidSpecError,
    ModeKeys,
    TPUEstimatorSpec,
    _compat,
    lenient_validation,
)
from estimator_spec_compat._compat import (
    ClassificationOutput,
    PredictOutput,
    RegressionOutput,
)

TRAIN, EVAL, PREDICT = ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT
DEFAULT_KEY = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
STRICTNESS = ["strict", "lenient"]
EST, TPU = "EstimatorSpec", "TPUEstimatorSpec"


def _keras_metrics():
    """Keras 2 metrics, which have graph-mode ``updates`` (tf_keras in the modern world)."""
    try:
        import tf_keras

        return tf_keras.metrics
    except ImportError:
        return tf.keras.metrics


class _Hook(tf.compat.v1.train.SessionRunHook):
    """A valid hook."""


class _NotAHook:
    """Not a SessionRunHook."""


class _NotAScaffold:
    """Not a Scaffold."""


def _ours(name):
    return {EST: EstimatorSpec, TPU: TPUEstimatorSpec}[name]


def _upstream(name):
    return {EST: _compat.UPSTREAM_ESTIMATOR_SPEC, TPU: _compat.UPSTREAM_TPU_ESTIMATOR_SPEC}[name]


def _in_other_graph(build):
    with tf.Graph().as_default():
        return build()


def _updated_mean():
    metric = _keras_metrics().Mean()
    metric.update_state(tf.constant(1.0))
    return metric


def _all_args(mode):
    """Every field set, as upstream's ``testAllArgumentsSet`` (Train/Eval/Infer)."""
    loss = tf.constant(1.0)
    kwargs = dict(
        mode=mode,
        predictions={"loss": loss},
        loss=loss,
        train_op=tf.no_op(),
        eval_metric_ops={"loss": (tf.no_op(), loss), "mean": _updated_mean()},
        export_outputs={"head_name": ClassificationOutput(classes=tf.constant("hello"))},
        training_chief_hooks=[_Hook()],
        training_hooks=[_Hook()],
        scaffold=tf.compat.v1.train.Scaffold(),
        evaluation_hooks=[_Hook()],
    )
    if mode != EVAL:
        kwargs["prediction_hooks"] = [_Hook()]
    return kwargs


def _sparse():
    return tf.sparse.SparseTensor(indices=[[0]], values=[0.0], dense_shape=[1])


def _train(**kwargs):
    return dict(mode=TRAIN, loss=tf.constant(1.0), train_op=tf.no_op(), **kwargs)


def _eval(**kwargs):
    loss = tf.constant(1.0)
    return dict(mode=EVAL, predictions={"loss": loss}, loss=loss, **kwargs)


def _three_heads(default):
    return {
        (DEFAULT_KEY if default else "head-1"): RegressionOutput(value=tf.constant([1.0])),
        "head-2": ClassificationOutput(classes=tf.constant(["2"])),
        "head-3": PredictOutput(outputs={"some_output_3": tf.constant(["3"])}),
    }


def _metric_fn(labels, logits):
    return {"mean": tf.compat.v1.metrics.mean(labels + logits)}


def _host_fn(*tensors):
    return list(tensors)


def _batch():
    return tf.ones([4, 1])


# (id, spec classes, kwargs factory): upstream accepts each.
ACCEPTED = [
    ("train-required", (EST, TPU), lambda: _train()),
    ("train-all-args", (EST,), lambda: _all_args(TRAIN)),
    ("train-loss-1d", (EST, TPU), lambda: dict(_train(), loss=tf.constant([1.0]))),
    ("eval-required", (EST, TPU), lambda: _eval()),
    ("eval-all-args", (EST,), lambda: _all_args(EVAL)),
    (
        "eval-op-as-metric-value",
        (EST,),
        lambda: _eval(eval_metric_ops={"loss": (tf.no_op(), tf.constant(1.0))}),
    ),
    (
        "eval-nested-tuple-metric",
        (EST,),
        lambda: _eval(
            eval_metric_ops={
                "some_metric": (
                    (tf.constant(1.0), tf.constant(1.0), (tf.constant(2), tf.constant(1.0))),
                    tf.no_op(),
                )
            }
        ),
    ),
    ("eval-loss-1d", (EST, TPU), lambda: dict(_eval(), loss=tf.constant([1.0]))),
    ("eval-predictions-missing", (EST, TPU), lambda: dict(mode=EVAL, loss=tf.constant(1.0))),
    ("eval-predictions-tensor", (EST, TPU), lambda: dict(_eval(), predictions=tf.ones([2]))),
    ("predict-required", (EST, TPU), lambda: dict(mode=PREDICT, predictions={"y": tf.ones([2])})),
    ("predict-all-args", (EST,), lambda: _all_args(PREDICT)),
    ("predict-tensor", (EST, TPU), lambda: dict(mode=PREDICT, predictions=tf.ones([2]))),
    (
        "predict-multihead-with-default",
        (EST, TPU),
        lambda: dict(
            mode=PREDICT, predictions={"y": tf.ones([2])}, export_outputs=_three_heads(True)
        ),
    ),
    (
        "tpu-eval-metrics-list",
        (TPU,),
        lambda: dict(_eval(), eval_metrics=(_metric_fn, [_batch(), _batch()])),
    ),
    (
        "tpu-eval-metrics-dict",
        (TPU,),
        lambda: dict(_eval(), eval_metrics=(_metric_fn, {"labels": _batch(), "logits": _batch()})),
    ),
    (
        "tpu-host-call-varargs",
        (TPU,),
        lambda: dict(_train(), host_call=(_host_fn, [_batch(), _batch(), _batch()])),
    ),
]

_DIFFERENT_GRAPH = "must be from the default graph"
_HOOKS = "All hooks must be SessionRunHook instances"

# (id, spec classes, kwargs factory, upstream's exception type, patterns its message matches).
REJECTED = [
    (
        "train-loss-number",
        (EST, TPU),
        lambda: dict(_train(), loss=1.0),
        TypeError,
        ["loss must be Tensor"],
    ),
    (
        "train-loss-missing",
        (EST, TPU),
        lambda: dict(_train(), loss=None),
        ValueError,
        ["Missing loss"],
    ),
    (
        "train-loss-not-scalar",
        (EST, TPU),
        lambda: dict(_train(), loss=tf.constant([1.0, 2.0])),
        ValueError,
        ["Loss must be scalar"],
    ),
    (
        "train-loss-sparse",
        (EST, TPU),
        lambda: dict(_train(), loss=_sparse()),
        TypeError,
        ["loss must be Tensor"],
    ),
    (
        "train-loss-other-graph",
        (EST, TPU),
        lambda: dict(_train(), loss=_in_other_graph(lambda: tf.constant(1.0))),
        ValueError,
        [_DIFFERENT_GRAPH],
    ),
    (
        "train-op-missing",
        (EST, TPU),
        lambda: dict(_train(), train_op=None),
        ValueError,
        ["Missing train_op"],
    ),
    (
        "train-op-not-op",
        (EST, TPU),
        lambda: dict(_train(), train_op="Not an Operation or Tensor"),
        TypeError,
        ["train_op must be Operation or Tensor"],
    ),
    (
        "train-op-other-graph",
        (EST, TPU),
        lambda: dict(_train(), train_op=_in_other_graph(tf.no_op)),
        ValueError,
        [_DIFFERENT_GRAPH],
    ),
    (
        "train-chief-hook",
        (EST,),
        lambda: _train(training_chief_hooks=[_NotAHook()]),
        TypeError,
        [_HOOKS],
    ),
    ("train-hook", (EST, TPU), lambda: _train(training_hooks=[_NotAHook()]), TypeError, [_HOOKS]),
    (
        "train-scaffold",
        (EST,),
        lambda: _train(scaffold=_NotAScaffold()),
        TypeError,
        [r"scaffold must be tf\.train\.Scaffold"],
    ),
    (
        "eval-evaluation-hook",
        (EST, TPU),
        lambda: dict(mode=EVAL, loss=tf.constant(1.0), evaluation_hooks=[_NotAHook()]),
        TypeError,
        [_HOOKS],
    ),
    (
        "eval-loss-number",
        (EST, TPU),
        lambda: dict(_eval(), loss=1.0),
        TypeError,
        ["loss must be Tensor"],
    ),
    (
        "eval-loss-missing",
        (EST, TPU),
        lambda: dict(_eval(), loss=None),
        ValueError,
        ["Missing loss"],
    ),
    (
        "eval-loss-not-scalar",
        (EST, TPU),
        lambda: dict(_eval(), loss=tf.constant([1.0, 2.0])),
        ValueError,
        ["Loss must be scalar"],
    ),
    (
        "eval-loss-sparse",
        (EST, TPU),
        lambda: dict(_eval(), loss=_sparse()),
        TypeError,
        ["loss must be Tensor"],
    ),
    (
        "eval-loss-other-graph",
        (EST, TPU),
        lambda: dict(_eval(), loss=_in_other_graph(lambda: tf.constant(1.0))),
        ValueError,
        [_DIFFERENT_GRAPH],
    ),
    (
        "eval-predictions-number",
        (EST, TPU),
        lambda: dict(_eval(), predictions={"number": 1.0}),
        TypeError,
        [r"predictions\[number\] must be Tensor"],
    ),
    (
        "eval-predictions-sparse",
        (EST, TPU),
        lambda: dict(_eval(), predictions={"sparse": _sparse()}),
        TypeError,
        [r"predictions\[sparse\] must be Tensor"],
    ),
    (
        "eval-predictions-other-graph",
        (EST, TPU),
        lambda: dict(_eval(), predictions=_in_other_graph(lambda: {"loss": tf.constant(1.0)})),
        ValueError,
        [_DIFFERENT_GRAPH],
    ),
    (
        "eval-metric-ops-not-dict",
        (EST,),
        lambda: _eval(eval_metric_ops=tf.constant(1.0)),
        TypeError,
        ["eval_metric_ops must be a dict"],
    ),
    (
        "eval-metric-ops-not-tuple",
        (EST,),
        lambda: _eval(eval_metric_ops={"loss": tf.constant(1.0)}),
        TypeError,
        [r"Values of eval_metric_ops must be \(metric_value, update_op\) tuples"],
    ),
    (
        "eval-metric-tuple-other-graph",
        (EST,),
        lambda: _eval(
            eval_metric_ops=_in_other_graph(lambda: {"loss": (tf.no_op(), tf.constant(1.0))})
        ),
        ValueError,
        [_DIFFERENT_GRAPH],
    ),
    (
        "eval-metric-object-other-graph",
        (EST,),
        lambda: _eval(eval_metric_ops={"metric": _in_other_graph(_updated_mean)}),
        ValueError,
        [_DIFFERENT_GRAPH],
    ),
    (
        "eval-metric-object-without-updates",
        (EST,),
        lambda: _eval(eval_metric_ops={"mean": _in_other_graph(_keras_metrics().Mean)}),
        ValueError,
        [r'Please call update_state\(\.\.\.\) on the "mean" metric'],
    ),
    (
        "predict-hook",
        (EST, TPU),
        lambda: dict(mode=PREDICT, predictions=tf.ones([2]), prediction_hooks=[_NotAHook()]),
        TypeError,
        [_HOOKS],
    ),
    (
        "predict-predictions-missing",
        (EST, TPU),
        lambda: dict(mode=PREDICT),
        ValueError,
        ["Missing predictions"],
    ),
    (
        "predict-predictions-number",
        (EST, TPU),
        lambda: dict(mode=PREDICT, predictions={"number": 1.0}),
        TypeError,
        [r"predictions\[number\] must be Tensor"],
    ),
    (
        "predict-predictions-sparse",
        (EST, TPU),
        lambda: dict(mode=PREDICT, predictions={"sparse": _sparse()}),
        TypeError,
        [r"predictions\[sparse\] must be Tensor"],
    ),
    (
        "predict-export-outputs-not-dict",
        (EST, TPU),
        lambda: dict(
            mode=PREDICT,
            predictions={"loss": tf.constant(1.0)},
            export_outputs=ClassificationOutput(classes=tf.constant("hello")),
        ),
        TypeError,
        # TF 2.15/2.21's export_utils text, then TF 1.x's (upstream's test still expects it).
        [r"`export_outputs` must be dict, received: ", r"export_outputs must be dict"],
    ),
    (
        "predict-export-outputs-value-not-export-output",
        (EST, TPU),
        lambda: dict(
            mode=PREDICT,
            predictions={"loss": tf.constant(1.0, name="Const")},
            export_outputs={"head_name": {"loss": tf.constant(1.0, name="Const")}},
        ),
        TypeError,
        [
            r"Values in `export_outputs` must be ExportOutput objects, received: ",
            r"Values in export_outputs must be ExportOutput objects. "
            r"Given: {'head_name': {'loss': <tf.Tensor 'Const(_\d+)?:0' shape=\(\) "
            r"dtype=float32>}}",
        ],
    ),
    (
        "predict-export-outputs-multihead-missing-default",
        (EST, TPU),
        lambda: dict(
            mode=PREDICT, predictions={"y": tf.ones([2])}, export_outputs=_three_heads(False)
        ),
        ValueError,
        [
            r"Multiple `export_outputs` were provided, but none of them are specified as the "
            r"default. Use`tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY` to specify a default.",
            r"Multiple export_outputs were provided, but none of them is specified as the "
            r"default.  Do this by naming one of them with "
            r"signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY.",
        ],
    ),
    (
        "tpu-eval-metrics-not-sequence",
        (TPU,),
        lambda: dict(_eval(), eval_metrics=_metric_fn),
        ValueError,
        ["eval_metrics should be tuple or list"],
    ),
    (
        "tpu-eval-metrics-three-elements",
        (TPU,),
        lambda: dict(_eval(), eval_metrics=(_metric_fn, [_batch(), _batch()], None)),
        ValueError,
        [r"eval_metrics should have two elements\."],
    ),
    (
        "tpu-host-call-fn-not-callable",
        (TPU,),
        lambda: dict(_train(), host_call=("fn", [_batch()])),
        TypeError,
        [r"host_call\[0\] should be callable\."],
    ),
    (
        "tpu-host-call-tensors-not-sequence",
        (TPU,),
        lambda: dict(_train(), host_call=(_host_fn, _batch())),
        ValueError,
        [r"host_call\[1\] should be tuple or list, or dict\."],
    ),
    (
        "tpu-eval-metrics-arity",
        (TPU,),
        lambda: dict(_eval(), eval_metrics=(_metric_fn, [_batch()])),
        RuntimeError,  # upstream's type; this package raises InvalidSpecError (Type/ValueError)
        [
            r"In TPUEstimatorSpec\.eval_metrics, length of tensors 1 does not match method args "
            r"of the function, which takes 2\."
        ],
    ),
]


def _params(cases, width):
    return [
        pytest.param(name, case[0], *case[2 : 2 + width], id=f"{name}-{case[0]}")
        for case in cases
        for name in case[1]
    ]


def _build(cls, kwargs, strictness):
    if strictness == "lenient":
        with lenient_validation():
            return cls(**kwargs)
    return cls(**kwargs)


@pytest.mark.parametrize("strictness", STRICTNESS)
@pytest.mark.parametrize("cls_name, case_id, make_kwargs", _params(ACCEPTED, 1))
def test_upstream_accepts_and_so_do_we(cls_name, case_id, make_kwargs, strictness):
    with tf.Graph().as_default():
        spec = _build(_ours(cls_name), make_kwargs(), strictness)
    assert isinstance(spec, _ours(cls_name))


@pytest.mark.estimator_world
@pytest.mark.parametrize("cls_name, case_id, make_kwargs", _params(ACCEPTED, 1))
def test_upstream_accepts_the_accepted_cases(cls_name, case_id, make_kwargs):
    with tf.Graph().as_default():
        _upstream(cls_name)(**make_kwargs())


def _message_matches(message, patterns):
    missing = [p for p in patterns if not re.search(p, message)]
    assert not missing, f"{missing} not found in:\n{message}"


@pytest.mark.parametrize("strictness", STRICTNESS)
@pytest.mark.parametrize(
    "cls_name, case_id, make_kwargs, error_type, patterns", _params(REJECTED, 3)
)
def test_upstream_rejects_and_so_do_we_in_its_words(
    cls_name, case_id, make_kwargs, error_type, patterns, strictness
):
    with tf.Graph().as_default():
        with pytest.raises(InvalidSpecError) as info:
            _build(_ours(cls_name), make_kwargs(), strictness)
    if error_type is not RuntimeError:  # nothing here raises RuntimeError for bad input
        assert isinstance(info.value, error_type)
    _message_matches(str(info.value), patterns)
    assert not any(p.strict for p in info.value.problems if re.search(patterns[0], str(p)))


@pytest.mark.estimator_world
@pytest.mark.parametrize(
    "cls_name, case_id, make_kwargs, error_type, patterns", _params(REJECTED, 3)
)
def test_upstream_rejects_the_rejected_cases(cls_name, case_id, make_kwargs, error_type, patterns):
    with tf.Graph().as_default():
        with pytest.raises(error_type) as info:
            _upstream(cls_name)(**make_kwargs())
    _message_matches(
        str(info.value), patterns[:1]
    )  # TF 2.15's text; TF 1.x's is not upstream's now


# --- outcomes beyond accept/reject, each as upstream's test checks it --------------------------


@pytest.mark.parametrize("strictness", STRICTNESS)
def test_default_scaffold_is_created(strictness):
    with tf.Graph().as_default():
        spec = _build(EstimatorSpec, _train(), strictness)
    assert isinstance(spec.scaffold, tf.compat.v1.train.Scaffold)


@pytest.mark.parametrize("strictness", STRICTNESS)
def test_replace_validates_replaces_and_keeps_the_mode(strictness):
    with tf.Graph().as_default():
        spec = _build(EstimatorSpec, _eval(), strictness)
        with pytest.raises(ValueError, match="Loss must be scalar"):
            spec._replace(loss=tf.constant([1.0, 2.0]))
        assert list(spec._replace(predictions={"m": spec.loss}).predictions) == ["m"]
        spec._replace(mode=EVAL)
        with pytest.raises(ValueError, match="mode of EstimatorSpec cannot be changed"):
            spec._replace(mode=TRAIN)


@pytest.mark.parametrize("strictness", STRICTNESS)
def test_metric_variables_are_added_to_local_and_metric_collections(strictness):
    def in_collection(key, variables):
        return set(tf.compat.v1.get_collection(key)).issuperset(variables)

    with tf.Graph().as_default():
        metric = _updated_mean()
        local, metric_key = (
            tf.compat.v1.GraphKeys.LOCAL_VARIABLES,
            tf.compat.v1.GraphKeys.METRIC_VARIABLES,
        )
        assert not in_collection(local, metric.variables)
        _build(
            EstimatorSpec,
            dict(
                mode=EVAL,
                predictions=tf.constant(1.0),
                loss=tf.constant(1.0),
                eval_metric_ops={"m": metric},
            ),
            strictness,
        )
        assert in_collection(local, metric.variables) and in_collection(
            metric_key, metric.variables
        )


@pytest.mark.parametrize("cls_name", [EST, TPU])
@pytest.mark.parametrize("strictness", STRICTNESS)
def test_single_head_gets_the_default_signature(cls_name, strictness):
    with tf.Graph().as_default():
        head = RegressionOutput(value=tf.constant([1.0]))
        spec = _build(
            _ours(cls_name),
            dict(
                mode=PREDICT,
                predictions={"y": tf.ones([2])},  # batch-major for TPUEstimatorSpec
                export_outputs={"head-1": head},
            ),
            strictness,
        )
    assert spec.export_outputs == {DEFAULT_KEY: head, "head-1": head}


@pytest.mark.parametrize("strictness", STRICTNESS)
def test_multi_head_with_default_is_kept(strictness):
    with tf.Graph().as_default():
        heads = _three_heads(True)
        spec = _build(
            EstimatorSpec,
            dict(mode=PREDICT, predictions={"y": tf.ones([2])}, export_outputs=heads),
            strictness,
        )
    assert spec.export_outputs == heads


@pytest.mark.parametrize("predictions", ["tensor", "dict"])
@pytest.mark.parametrize("strictness", STRICTNESS)
def test_default_export_output_is_a_predict_output_of_the_predictions(predictions, strictness):
    with tf.Graph().as_default():
        values = (
            tf.constant(1.0)
            if predictions == "tensor"
            else {"loss": tf.constant(1.0), "score": tf.constant(10.0)}
        )
        spec = _build(EstimatorSpec, dict(mode=PREDICT, predictions=values), strictness)
        expected = PredictOutput(values).outputs
    assert spec.export_outputs[DEFAULT_KEY].outputs == expected


def test_strict_only_problems_are_marked_as_such():
    with tf.Graph().as_default():
        with pytest.raises(InvalidSpecError) as info:
            EstimatorSpec(mode="bogus", loss=tf.constant(1, tf.int32))
    assert [p.strict for p in info.value.problems] == [True, True]
    assert str(info.value).count("Strict rule: upstream accepted this") == 2


_NO_DEPRECATION_SCRIPT = """
import logging
import warnings

import tensorflow as tf
from estimator_spec_compat import EstimatorSpec, ModeKeys, TPUEstimatorSpec

logged = []
handler = logging.Handler()
handler.emit = lambda record: logged.append(record.getMessage())
logging.getLogger("tensorflow").addHandler(handler)
with warnings.catch_warnings():
    warnings.simplefilter("error")  # any Python warning fails the call
    with tf.Graph().as_default():
        EstimatorSpec(ModeKeys.PREDICT, predictions={"y": tf.ones([2])})
        TPUEstimatorSpec(ModeKeys.PREDICT, predictions={"y": tf.ones([2])})
    EstimatorSpec(ModeKeys.PREDICT, predictions={"y": tf.ones([2])})
print("DEPRECATED" if any("deprecated" in m for m in logged) else "CLEAN")
"""


def test_building_specs_logs_no_deprecation_warning(python_subprocess):
    # In the estimator world, importing tensorflow-estimator marks TF's PredictOutput
    # deprecated, and the default `serving_default` output is one (logged once per
    # process, hence a fresh one).
    out = python_subprocess(_NO_DEPRECATION_SCRIPT)
    assert out.strip().splitlines()[-1] == "CLEAN"


def test_tpu_spec_mode_change_by_replace_is_a_strict_rule():
    # Upstream's TPUEstimatorSpec kept the namedtuple's `_replace`, which allows a new mode.
    with tf.Graph().as_default():
        kwargs = dict(mode=EVAL, loss=tf.constant(1.0), train_op=tf.no_op())
        if _compat.HAS_ESTIMATOR:
            assert _upstream(TPU)(**kwargs)._replace(mode=TRAIN).mode == TRAIN
        spec = TPUEstimatorSpec(**kwargs)
        with pytest.raises(InvalidSpecError, match="Strict rule") as info:
            spec._replace(mode=TRAIN)
        assert [p.strict for p in info.value.problems] == [True]
        with lenient_validation():
            assert spec._replace(mode=TRAIN).mode == TRAIN


def test_tpu_spec_scaffold_fn_is_checked_strictly_only():
    # Upstream's TPUEstimatorSpec takes any scaffold_fn; `as_estimator_spec` skips a falsy one.
    with tf.Graph().as_default():
        kwargs = dict(mode=EVAL, loss=tf.constant(1.0), scaffold_fn=[])
        if _compat.HAS_ESTIMATOR:
            assert _upstream(TPU)(**kwargs).as_estimator_spec().scaffold is not None
        with pytest.raises(InvalidSpecError, match=r"`scaffold_fn`.*Strict rule"):
            TPUEstimatorSpec(**kwargs)
        with lenient_validation():
            spec = TPUEstimatorSpec(**kwargs)
            assert isinstance(spec.as_estimator_spec().scaffold, tf.compat.v1.train.Scaffold)
