"""Our spec classes inside the real tf.estimator machinery (estimator world only).

The end-to-end tests run the same model_fn twice, once returning upstream's spec class and
once ours, and compare what the real Estimator / TPUEstimator made of them:
the expectations come from upstream's run (and, for the trained weights, from a
NumPy re-computation of gradient descent), never from our own code.
"""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from estimator_spec_compat import EstimatorSpec as OurEstimatorSpec
from estimator_spec_compat import InvalidSpecError, ModeKeys, TPUEstimatorSpec

pytestmark = pytest.mark.estimator_world

_SEED = 42
_LR = 0.1
_BATCH = 8
_STEPS = 4
_X = np.arange(32 * 3, dtype=np.float32).reshape(32, 3) % 7 / 7.0
_Y = (_X @ np.array([[0.5], [-1.0], [2.0]], dtype=np.float32) + 0.25).astype(np.float32)
_W0 = np.array([[1.0], [2.0], [3.0]], dtype=np.float32)  # set by the TPU tests' scaffold_fn


def _upstream():
    """Upstream's classes; only touched inside tests (the module imports in both worlds)."""
    return tf.estimator.EstimatorSpec, tf.compat.v1.estimator.tpu.TPUEstimatorSpec


def _input_fn(params=None):
    batch = params["batch_size"] if params and "batch_size" in params else _BATCH
    return tf.data.Dataset.from_tensor_slices((_X, _Y)).batch(batch, drop_remainder=True)


def _predict_input_fn(params=None):
    batch = params["batch_size"] if params and "batch_size" in params else _BATCH
    return tf.data.Dataset.from_tensor_slices(_X).batch(batch)


def _linear(features):
    w = tf.compat.v1.get_variable(
        "w", [3, 1], initializer=tf.compat.v1.glorot_uniform_initializer()
    )
    b = tf.compat.v1.get_variable("b", [1], initializer=tf.compat.v1.zeros_initializer())
    return tf.matmul(features, w) + b


def _train_op(loss):
    step = tf.compat.v1.train.get_or_create_global_step()
    optimizer = tf.compat.v1.train.GradientDescentOptimizer(_LR)
    return optimizer.minimize(loss, global_step=step)


# --- tf.estimator.Estimator -------------------------------------------------------------


def _make_model_fn(spec_cls):
    def model_fn(features, labels, mode):
        preds = _linear(features)
        if mode == ModeKeys.PREDICT:
            return spec_cls(mode=mode, predictions={"y": preds, "twice": 2.0 * preds})
        loss = tf.compat.v1.losses.mean_squared_error(labels, preds)
        if mode == ModeKeys.TRAIN:
            return spec_cls(mode=mode, loss=loss, train_op=_train_op(loss))
        keras_mse = tf.keras.metrics.MeanSquaredError(name="keras_mse")
        keras_mse.update_state(labels, preds)
        metrics = {
            "mae": tf.compat.v1.metrics.mean_absolute_error(labels, preds),
            "rmse": tf.compat.v1.metrics.root_mean_squared_error(labels, preds),
            "keras_mse": keras_mse,
        }
        return spec_cls(mode=mode, loss=loss, eval_metric_ops=metrics)

    return model_fn


def _run_estimator(spec_cls, model_dir):
    config = tf.estimator.RunConfig(tf_random_seed=_SEED)
    est = tf.estimator.Estimator(_make_model_fn(spec_cls), model_dir=str(model_dir), config=config)
    est.train(_input_fn, steps=_STEPS)
    metrics = est.evaluate(_input_fn, steps=2)
    preds = list(est.predict(_predict_input_fn))
    weights = {name: est.get_variable_value(name) for name in ("w", "b")}
    return metrics, preds, weights


def test_our_specs_are_instances_of_upstream_classes():
    upstream_spec, upstream_tpu_spec = _upstream()
    with tf.Graph().as_default():
        loss = tf.constant(1.0)
        ours = OurEstimatorSpec(mode=ModeKeys.EVAL, loss=loss)
        ours_tpu = TPUEstimatorSpec(mode=ModeKeys.EVAL, loss=loss)
    assert isinstance(ours, upstream_spec)
    assert isinstance(ours_tpu, upstream_tpu_spec)
    assert ModeKeys is tf.estimator.ModeKeys


def test_estimator_runs_our_spec_like_upstream(tmp_path):
    upstream_spec, _ = _upstream()
    want_metrics, want_preds, want_weights = _run_estimator(upstream_spec, tmp_path / "upstream")
    got_metrics, got_preds, got_weights = _run_estimator(OurEstimatorSpec, tmp_path / "ours")

    assert set(want_metrics) == {"loss", "mae", "rmse", "keras_mse", "global_step"}
    assert got_metrics.keys() == want_metrics.keys()
    for key, want in want_metrics.items():
        np.testing.assert_allclose(got_metrics[key], want, rtol=0, atol=1e-6, err_msg=key)
    assert want_metrics["global_step"] == _STEPS
    assert len(got_preds) == len(want_preds) == len(_X)
    for got, want in zip(got_preds, want_preds):
        assert got.keys() == want.keys() == {"y", "twice"}
        for key in want:
            np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-6)
    for name, want in want_weights.items():
        np.testing.assert_allclose(got_weights[name], want, rtol=0, atol=1e-6, err_msg=name)

    # By hand: all three metrics are one mean squared error over equal batches, and the
    # predictions are the trained linear model's.
    np.testing.assert_allclose(got_metrics["keras_mse"], got_metrics["loss"], rtol=1e-5)
    np.testing.assert_allclose(got_metrics["rmse"] ** 2, got_metrics["loss"], rtol=1e-5)
    want_y = _X @ got_weights["w"] + got_weights["b"]
    np.testing.assert_allclose([p["y"] for p in got_preds], want_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([p["twice"] for p in got_preds], 2 * want_y, rtol=1e-5, atol=1e-6)


# --- tf.compat.v1.estimator.tpu.TPUEstimator(use_tpu=False) ----------------------------


def _metric_fn(labels, predictions):
    keras_mae = tf.keras.metrics.MeanAbsoluteError(name="keras_mae")
    keras_mae.update_state(labels, predictions)
    return {
        "mse": tf.compat.v1.metrics.mean_squared_error(labels, predictions),
        "keras_mae": keras_mae,
    }


def _make_host_call_fn(logdir):
    def host_call_fn(step, loss):
        writer = tf.compat.v2.summary.create_file_writer(logdir)
        with writer.as_default(), tf.compat.v2.summary.record_if(True):
            tf.compat.v2.summary.scalar("host_loss", loss[0], step=step[0])
            return tf.compat.v1.summary.all_v2_summary_ops()

    return host_call_fn


def _pair(fn, form, **tensors):
    """``(fn, tensors)`` as a list (positional, in fn's argument order) or a dict."""
    return (fn, list(tensors.values()) if form == "list" else tensors)


def _make_tpu_model_fn(spec_cls, form, model_dir):
    def scaffold_fn():
        with tf.compat.v1.variable_scope("", reuse=True):
            assign = tf.compat.v1.get_variable("w").assign(_W0)
        return tf.compat.v1.train.Scaffold(init_fn=lambda scaffold, session: session.run(assign))

    def model_fn(features, labels, mode, params):
        assert params["batch_size"] == _BATCH and params["use_tpu"] is False
        preds = _linear(features)
        loss = tf.compat.v1.losses.mean_squared_error(labels, preds)
        step = tf.compat.v1.train.get_or_create_global_step()
        step_before = tf.reshape(tf.identity(step), [1])
        host_call = _pair(
            _make_host_call_fn(os.path.join(model_dir, "host_" + mode)),
            form,
            step=step_before,
            loss=tf.reshape(loss, [1]),
        )
        if mode == ModeKeys.TRAIN:
            with tf.control_dependencies([step_before]):
                train_op = _train_op(loss)
            return spec_cls(
                mode=mode,
                loss=loss,
                train_op=train_op,
                host_call=host_call,
                scaffold_fn=scaffold_fn,
            )
        eval_metrics = _pair(_metric_fn, form, labels=labels, predictions=preds)
        return spec_cls(mode=mode, loss=loss, eval_metrics=eval_metrics, host_call=host_call)

    return model_fn


def _host_events(logdir):
    """``[(tag, step, value)]`` of every scalar summary written under ``logdir``."""
    events = []
    for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                events.append((value.tag, event.step, float(tf.make_ndarray(value.tensor))))
    return events


def _run_tpu_estimator(spec_cls, form, model_dir):
    model_dir = str(model_dir)
    config = tf.compat.v1.estimator.tpu.RunConfig(tf_random_seed=_SEED, model_dir=model_dir)
    est = tf.compat.v1.estimator.tpu.TPUEstimator(
        model_fn=_make_tpu_model_fn(spec_cls, form, model_dir),
        config=config,
        use_tpu=False,
        train_batch_size=_BATCH,
        eval_batch_size=_BATCH,
    )
    est.train(_input_fn, steps=_STEPS)
    metrics = est.evaluate(_input_fn, steps=2)
    weights = {name: est.get_variable_value(name) for name in ("w", "b")}
    events = {
        mode: _host_events(os.path.join(model_dir, "host_" + mode)) for mode in ("train", "eval")
    }
    return metrics, weights, events


def _numpy_gradient_descent():
    """The weights after _STEPS of plain GD from the scaffold's w=_W0, b=0, in float64."""
    w, b = _W0.astype(np.float64), np.zeros(1)
    for i in range(_STEPS):
        x, y = _X[i * _BATCH : (i + 1) * _BATCH], _Y[i * _BATCH : (i + 1) * _BATCH]
        err = x @ w + b - y
        w, b = w - _LR * 2 * x.T @ err / len(x), b - _LR * 2 * err.mean(0)
    return w, b


@pytest.mark.parametrize("form", [pytest.param("list", id="list"), pytest.param("dict", id="dict")])
def test_tpu_estimator_runs_our_spec_like_upstream(tmp_path, form):
    _, upstream_tpu_spec = _upstream()
    want_metrics, want_weights, want_events = _run_tpu_estimator(
        upstream_tpu_spec, form, tmp_path / "upstream"
    )
    got_metrics, got_weights, got_events = _run_tpu_estimator(
        TPUEstimatorSpec, form, tmp_path / "ours"
    )

    assert set(want_metrics) == {"loss", "mse", "keras_mae", "global_step"}
    assert got_metrics.keys() == want_metrics.keys()
    for key, want in want_metrics.items():
        np.testing.assert_allclose(got_metrics[key], want, rtol=0, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(got_metrics["mse"], got_metrics["loss"], rtol=1e-6)

    # scaffold_fn's init_fn set w=_W0: both runs trained from there, as GD by hand says.
    want_w, want_b = _numpy_gradient_descent()
    np.testing.assert_allclose(want_weights["w"], want_w, rtol=1e-5, atol=1e-6)
    for name, want in want_weights.items():
        np.testing.assert_allclose(got_weights[name], want, rtol=0, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(got_weights["b"], want_b, rtol=1e-5, atol=1e-6)

    # host_call wrote one scalar per step: train at steps 0.._STEPS-1, eval at the final step.
    train_events, eval_events = got_events["train"], got_events["eval"]
    assert [(tag, step) for tag, step, _ in train_events] == [
        ("host_loss", step) for step in range(_STEPS)
    ]
    assert [(tag, step) for tag, step, _ in eval_events] == [("host_loss", _STEPS)] * 2
    for mode in ("train", "eval"):
        np.testing.assert_allclose(
            [value for *_, value in got_events[mode]],
            [value for *_, value in want_events[mode]],
            rtol=0,
            atol=1e-6,
        )


# --- upstream's class-state bug, _replace, ModeKeys -------------------------------------


def _two_specs(spec_cls):
    """Two EVAL specs built one after the other, each with its own metric_fn."""
    labels = tf.constant([[1.0], [2.0]])
    preds = tf.constant([[1.5], [2.0]])
    loss = tf.constant(0.125)

    def metric_fn_a(labels, predictions):
        return {"a_mae": tf.compat.v1.metrics.mean_absolute_error(labels, predictions)}

    def metric_fn_b(labels, predictions):
        return {"b_mse": tf.compat.v1.metrics.mean_squared_error(labels, predictions)}

    spec_a = spec_cls(mode=ModeKeys.EVAL, loss=loss, eval_metrics=(metric_fn_a, [labels, preds]))
    spec_b = spec_cls(mode=ModeKeys.EVAL, loss=loss, eval_metrics=(metric_fn_b, [labels, preds]))
    return spec_a, spec_b


def test_each_tpu_spec_converts_with_its_own_metric_fn():
    with tf.Graph().as_default():
        spec_a, spec_b = _two_specs(TPUEstimatorSpec)
        ops_a = spec_a.as_estimator_spec().eval_metric_ops
        ops_b = spec_b.as_estimator_spec().eval_metric_ops
        third = TPUEstimatorSpec(mode=ModeKeys.EVAL, loss=tf.constant(0.0))
        ops_a_again = spec_a.as_estimator_spec().eval_metric_ops
        assert third.as_estimator_spec().eval_metric_ops == {}
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.local_variables_initializer())
            session.run([ops_a["a_mae"][1], ops_b["b_mse"][1]])
            a_mae, b_mse = session.run([ops_a["a_mae"][0], ops_b["b_mse"][0]])
    assert set(ops_a) == set(ops_a_again) == {"a_mae"}
    assert set(ops_b) == {"b_mse"}
    assert a_mae == pytest.approx(0.25) and b_mse == pytest.approx(0.125)


def test_upstream_tpu_spec_shares_host_calls_across_instances():
    """Why we keep no class state: upstream's first spec converts with the second's metric_fn."""
    _, upstream_tpu_spec = _upstream()
    with tf.Graph().as_default():
        spec_a, _ = _two_specs(upstream_tpu_spec)
        assert set(spec_a.as_estimator_spec().eval_metric_ops) == {"b_mse"}
        upstream_tpu_spec(mode=ModeKeys.EVAL, loss=tf.constant(0.0))
        with pytest.raises(KeyError, match="eval_metrics"):
            spec_a.as_estimator_spec()


def _spec_cases():
    return [
        pytest.param(OurEstimatorSpec, id="EstimatorSpec"),
        pytest.param(TPUEstimatorSpec, id="TPUEstimatorSpec"),
    ]


@pytest.mark.parametrize("spec_cls", _spec_cases())
def test_replace_keeps_our_subclass_and_validates_again(spec_cls):
    upstream_spec, upstream_tpu_spec = _upstream()
    upstream_cls = upstream_spec if spec_cls is OurEstimatorSpec else upstream_tpu_spec
    with tf.Graph().as_default():
        spec = spec_cls(mode=ModeKeys.EVAL, loss=tf.constant(1.0))
        new_loss = tf.constant([2.0])
        replaced = spec._replace(loss=new_loss, predictions={"y": tf.constant([3.0])})
        assert type(replaced) is spec_cls and isinstance(replaced, upstream_cls)
        assert replaced.mode == ModeKeys.EVAL and set(replaced.predictions) == {"y"}
        assert replaced.loss.shape == ()  # shape [1] reshaped to a scalar, as upstream does
        with pytest.raises(InvalidSpecError, match="loss") as info:
            spec._replace(loss=tf.constant([1.0, 2.0]))
        assert [problem.field for problem in info.value.problems] == ["loss"]
        with pytest.raises(InvalidSpecError, match="mode"):
            spec._replace(mode=ModeKeys.TRAIN)


def test_mode_keys_is_upstreams_object():
    assert ModeKeys is tf.estimator.ModeKeys
    assert ModeKeys is tf.compat.v1.estimator.ModeKeys
