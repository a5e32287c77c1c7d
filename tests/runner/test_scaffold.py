"""A model_fn's Scaffold under the runner: init_fn warm starts, saver, ignored fields.

Expected values: the source checkpoint's tensors (read with ``tf.train.load_checkpoint``),
a runner without the Scaffold (for what the warm start leaves alone), and in the
estimator world ``tf.estimator.Estimator`` on the same model_fn, data and seed.
"""

import importlib.util
import logging
import os
import pathlib

import numpy as np
import pytest

from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import Runner, RunnerConfig

_spec = importlib.util.spec_from_file_location(
    "runner_test__extra_models", pathlib.Path(__file__).with_name("_extra_models.py")
)
extra = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(extra)
models = extra.load("_models")

KINDS = [pytest.param("saver", id="saver-restore"), pytest.param("assign", id="assign-ops")]
SEED = 7


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The prefix of the checkpoint the init_fn warm-starts from."""
    return extra.write_source_checkpoint(tmp_path_factory.mktemp("source"))


def _runner(model_dir, params, **config):
    config = RunnerConfig(tf_random_seed=SEED, steps_per_loop=1, **config)
    return Runner(
        model_fn=extra.scaffold_model_fn, model_dir=str(model_dir), params=params, config=config
    )


def _params(kind, source, **more):
    return {"kind": kind, "source": source, "calls": extra.Calls(), **more}


def _train_fn():
    return models.input_fn(repeat=True)


@pytest.mark.parametrize(
    "optimizer", [pytest.param("model_fn", id="v1-optimizer"), pytest.param("keras", id="keras")]
)
@pytest.mark.parametrize("kind", KINDS)
def test_init_fn_warm_starts_the_variables_it_restores(tmp_path, source, kind, optimizer):
    params = _params(kind, source, lr=0.0)  # training leaves the weights as initialized
    runner = _runner(tmp_path / "warm", params, optimizer=optimizer)
    runner.train(_train_fn(), steps=1)
    assert len(params["calls"]) == 1
    reader = tf.train.load_checkpoint(source)
    for name, tensor in [("mlp/w0", "pretrained/w0"), ("mlp/b0", "pretrained/b0")]:
        np.testing.assert_array_equal(runner.get_variable_value(name), reader.get_tensor(tensor))
    cold = _runner(tmp_path / "cold", _params(kind, source, lr=0.0, scaffold_modes=()))
    cold.train(_train_fn(), steps=1)
    np.testing.assert_array_equal(
        runner.get_variable_value("mlp/w1"), cold.get_variable_value("mlp/w1")
    )
    assert not np.allclose(cold.get_variable_value("mlp/w0"), reader.get_tensor("pretrained/w0"))


@pytest.mark.parametrize("kind", KINDS)
def test_init_fn_is_not_called_when_model_dir_has_a_checkpoint(tmp_path, source, kind):
    params = _params(kind, source)
    runner = _runner(tmp_path, params)
    runner.train(_train_fn(), steps=2)
    trained = runner.get_variable_value("mlp/w0")
    runner.train(_train_fn(), steps=1)  # resumes
    again = _runner(tmp_path, params)  # a new runner on the same model_dir
    list(again.predict(models.input_fn(labels=False)))
    again.evaluate(models.input_fn())
    assert len(params["calls"]) == 1
    reader = tf.train.load_checkpoint(runner.latest_checkpoint())
    assert not np.allclose(reader.get_tensor("mlp/w0"), trained)  # trained on, not reset
    np.testing.assert_array_equal(again.get_variable_value("mlp/w0"), reader.get_tensor("mlp/w0"))


def test_predict_on_a_fresh_model_dir_calls_init_fn(tmp_path, source):
    params = _params("saver", source)
    runner = _runner(tmp_path, params)
    probs = [row["probs"] for row in runner.predict(models.input_fn(labels=False))]
    assert len(params["calls"]) == 1 and not runner.latest_checkpoint()
    reader = tf.train.load_checkpoint(source)
    x, _ = models.data()
    hidden = np.maximum(
        x @ reader.get_tensor("pretrained/w0") + reader.get_tensor("pretrained/b0"), 0
    )
    logits = hidden @ runner.get_variable_value("mlp/w1")
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(np.stack(probs), expected, rtol=1e-5, atol=1e-6)


def test_tpu_scaffold_fn_result_is_honoured(tmp_path, source):
    params = _params("saver", source, lr=0.0, tpu=True)
    runner = Runner(
        model_fn=extra.scaffold_model_fn,
        model_dir=str(tmp_path),
        params=params,
        train_batch_size=16,
    )
    runner.train(models.input_fn(repeat=True, drop_remainder=True), steps=1)
    assert len(params["calls"]) == 1
    expected = tf.train.load_checkpoint(source).get_tensor("pretrained/w0")
    np.testing.assert_array_equal(runner.get_variable_value("mlp/w0"), expected)


def test_saver_max_to_keep_is_keep_checkpoint_max(tmp_path, source):
    params = _params("saver", source, max_to_keep=2)
    runner = _runner(tmp_path, params, save_checkpoints_steps=1, keep_checkpoint_max=5)
    runner.train(_train_fn(), steps=4)
    state = tf.train.get_checkpoint_state(str(tmp_path))
    kept = [os.path.basename(p) for p in state.all_model_checkpoint_paths]
    assert kept == ["model.ckpt-3", "model.ckpt-4"]


def _probe_runner(tmp_path, probe):
    return Runner(
        model_fn=extra.session_probe_model_fn, model_dir=str(tmp_path), params={"probe": probe}
    )


def test_session_stand_in_runs_fetches_by_name_with_feeds_by_name(tmp_path):
    seen = {}

    def probe(scaffold, session):
        graph = tf.compat.v1.get_default_graph()
        assert session.graph is graph
        w0 = [v for v in graph.get_collection("variables") if v.name.startswith("mlp/w0")][0]
        seen["w0"] = session.run("w0_value:0")
        seen["both"] = session.run({"feed": "b0_feed:0", "w0": w0}, {"b0_feed:0": np.ones([8])})
        seen["op"] = session.run(graph.get_operation_by_name("w0_value"))

    runner = _probe_runner(tmp_path, probe)
    runner.train(_train_fn(), steps=1)
    np.testing.assert_array_equal(seen["w0"], runner.get_variable_value("mlp/w0"))
    np.testing.assert_array_equal(seen["both"]["feed"], np.ones([8], "float32"))
    np.testing.assert_array_equal(seen["both"]["w0"], seen["w0"])
    assert seen["op"] is None


def test_session_stand_in_names_what_it_cannot_do(tmp_path):
    def probe(scaffold, session):
        session.partial_run_setup([])

    runner = _probe_runner(tmp_path, probe)
    with pytest.raises(
        AttributeError, match=r"Scaffold.init_fn.*partial_run_setup.*init_from_checkpoint"
    ):
        runner.train(_train_fn(), steps=1)


@pytest.mark.parametrize(
    "fields, named",
    [
        pytest.param(("init_op", "local_init_op"), ["init_op", "local_init_op"], id="ops"),
        pytest.param(("keep_hours",), ["keep_checkpoint_every_n_hours=1.0"], id="saver-hours"),
    ],
)
def test_ignored_scaffold_fields_are_named_in_one_warning(tmp_path, caplog, fields, named):
    runner = Runner(
        model_fn=extra.ignored_fields_model_fn, model_dir=str(tmp_path), params={"fields": fields}
    )
    with caplog.at_level(logging.WARNING, logger="estimator_spec_compat"):
        runner.train(_train_fn(), steps=1)
        runner.train(_train_fn(), steps=1)
    warnings = [r.getMessage() for r in caplog.records if "Scaffold" in r.getMessage()]
    assert len(warnings) == 1, warnings
    for name in named:
        assert name in warnings[0]


@pytest.mark.parametrize(
    "fields", [pytest.param((), id="default-scaffold"), pytest.param(("max_to_keep",), id="saver")]
)
def test_honoured_scaffold_fields_give_no_warning(tmp_path, caplog, fields):
    runner = Runner(
        model_fn=extra.ignored_fields_model_fn, model_dir=str(tmp_path), params={"fields": fields}
    )
    with caplog.at_level(logging.WARNING, logger="estimator_spec_compat"):
        runner.train(_train_fn(), steps=1)
    assert not [r for r in caplog.records if "Scaffold" in r.getMessage()]


def _estimator_run(model_fn, model_dir, params, steps):
    config = tf.estimator.RunConfig(tf_random_seed=SEED, save_checkpoints_steps=1)
    est = tf.estimator.Estimator(model_fn, model_dir=str(model_dir), params=params, config=config)
    for n in steps:
        est.train(_train_fn(), steps=n)
    return est


@pytest.mark.estimator_world
@pytest.mark.parametrize("kind", KINDS)
def test_scaffold_init_fn_and_saver_match_estimator(tmp_path, source, kind):
    est_params = _params(kind, source, max_to_keep=2)
    est = _estimator_run(extra.scaffold_model_fn, tmp_path / "est", est_params, [2, 2])
    params = _params(kind, source, max_to_keep=2)
    runner = _runner(tmp_path / "runner", params, save_checkpoints_steps=1)
    runner.train(_train_fn(), steps=2)
    runner.train(_train_fn(), steps=2)
    assert len(params["calls"]) == len(est_params["calls"]) == 1
    assert runner.get_variable_names() == est.get_variable_names()
    for name in est.get_variable_names():
        np.testing.assert_allclose(
            runner.get_variable_value(name), est.get_variable_value(name), rtol=1e-5, atol=1e-6
        )
    kept = [
        [
            os.path.basename(p)
            for p in tf.train.get_checkpoint_state(str(d)).all_model_checkpoint_paths
        ]
        for d in (tmp_path / "est", tmp_path / "runner")
    ]
    assert kept[0] == kept[1] == ["model.ckpt-3", "model.ckpt-4"]
    predicted = {
        n: np.stack([r["probs"] for r in m.predict(models.input_fn(labels=False))])
        for n, m in (("est", est), ("runner", runner))
    }
    np.testing.assert_allclose(predicted["runner"], predicted["est"], rtol=1e-5, atol=1e-6)


MIRRORED = """
import tempfile
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
{load}
from estimator_spec_compat import ModeKeys
from estimator_spec_compat.runner import Runner, RunnerConfig
source = extra.write_source_checkpoint(tempfile.mkdtemp())
one = tf.distribute.OneDeviceStrategy("/cpu:0")
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

def runner(strategy, params):
    return Runner(model_fn=extra.scaffold_model_fn, model_dir=tempfile.mkdtemp(), params=params,
                  strategy=strategy, config=RunnerConfig(tf_random_seed=3),
                  train_batch_size=16, predict_batch_size=16)

def trained(strategy):  # a TRAIN init_fn (Saver.restore) and a Scaffold saver, then 3 steps
    params = {{"kind": "saver", "source": source, "calls": extra.Calls(), "max_to_keep": 2}}
    r = runner(strategy, params)
    r.train(models.input_fn(repeat=True, drop_remainder=True), steps=3)
    assert len(params["calls"]) == 1, params["calls"]  # once, on the fresh model_dir
    return r

t1, t2 = trained(one), trained(mirrored)
for name in t1.get_variable_names():
    np.testing.assert_allclose(t2.get_variable_value(name), t1.get_variable_value(name),
                               rtol=1e-5, atol=1e-6, err_msg=name)
print("mirrored train init_fn ok", t2.num_replicas)

def predicted(strategy):
    params = {{"kind": "assign", "source": source, "calls": extra.Calls(),
               "scaffold_modes": (ModeKeys.PREDICT,)}}
    r = runner(strategy, params)
    try:  # the runner's first build: plain copies are made in the trace that makes variables
        r.evaluate(models.input_fn(drop_remainder=True))
    except ValueError as error:
        print("evaluate first:", error)
    rows = np.stack([row["probs"] for row in r.predict(models.input_fn(labels=False))])
    assert len(params["calls"]) == 1, params["calls"]  # a fresh model_dir: init_fn ran
    w1 = r.get_variable_value("mlp/w1")
    r.train(models.input_fn(repeat=True, drop_remainder=True), steps=2)  # from the warm start
    return r, rows, w1

r1, p1, w1 = predicted(one)
r2, p2, _ = predicted(mirrored)
reader = tf.train.load_checkpoint(source)
x, _ = models.data()
hidden = np.maximum(x @ reader.get_tensor("pretrained/w0") + reader.get_tensor("pretrained/b0"), 0)
logits = hidden @ w1
expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
np.testing.assert_allclose(p1, expected, rtol=1e-5, atol=1e-6)
np.testing.assert_allclose(p2, expected, rtol=1e-5, atol=1e-6)
for name in r1.get_variable_names():
    np.testing.assert_allclose(r2.get_variable_value(name), r1.get_variable_value(name),
                               rtol=1e-5, atol=1e-6, err_msg=name)
print("mirrored predict init_fn ok", r2.num_replicas)
"""


def test_mirrored_init_fn_in_train_and_predict_equals_one_device(python_subprocess):
    out = python_subprocess(MIRRORED.format(load=extra.LOAD_CODE))
    assert "mirrored train init_fn ok 2" in out
    assert "mirrored predict init_fn ok 2" in out
    assert out.count("evaluate first: Could not find trained model") == 2


def test_scaffold_of_wrong_type_is_a_type_error(tmp_path):
    def model_fn(features, labels, mode):
        spec = extra.ignored_fields_model_fn(features, labels, mode, {"fields": ()})
        return extra.TPUEstimatorSpec(
            mode, loss=spec.loss, train_op=spec.train_op, scaffold_fn=lambda: "not a scaffold"
        )

    runner = Runner(model_fn=model_fn, model_dir=str(tmp_path))
    with pytest.raises(TypeError, match=r"`scaffold`.*'not a scaffold'.*Scaffold or None"):
        runner.train(_train_fn(), steps=1)


@pytest.mark.estimator_world
def test_tpu_scaffold_fn_matches_tpu_estimator(tmp_path, source):
    sizes = dict(train_batch_size=16, predict_batch_size=16)
    est_params = _params("saver", source, tpu=True)
    config = tf.compat.v1.estimator.tpu.RunConfig(
        tf_random_seed=SEED, model_dir=str(tmp_path / "est")
    )
    est = tf.compat.v1.estimator.tpu.TPUEstimator(
        model_fn=extra.scaffold_model_fn, config=config, params=est_params, use_tpu=False, **sizes
    )
    params = _params("saver", source, tpu=True)
    runner = Runner(
        model_fn=extra.scaffold_model_fn,
        model_dir=str(tmp_path / "runner"),
        params=params,
        config=RunnerConfig(tf_random_seed=SEED),
        **sizes,
    )
    for model in (est, runner):
        model.train(models.input_fn(repeat=True, drop_remainder=True), steps=3)
    assert len(params["calls"]) == len(est_params["calls"]) == 1
    assert runner.get_variable_names() == est.get_variable_names()
    for name in est.get_variable_names():
        np.testing.assert_allclose(
            runner.get_variable_value(name), est.get_variable_value(name), rtol=1e-5, atol=1e-6
        )
