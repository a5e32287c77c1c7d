"""Specs of the wrong mode, inputs without labels, named strategies, exports in one second,
and no deprecation warnings from the library in a default run."""

import os

import pytest

from estimator_spec_compat import ModeKeys, lenient_validation
from estimator_spec_compat._compat import tf
from estimator_spec_compat.convert.serving import build_raw_serving_input_receiver_fn
from estimator_spec_compat.runner import Runner, RunnerConfig
from estimator_spec_compat.spec import EstimatorSpec


def _runner(models, tmp_path, model_fn=None, **kwargs):
    kwargs.setdefault("config", RunnerConfig(steps_per_loop=2, tf_random_seed=3))
    return Runner(model_fn=model_fn or models.mlp_model_fn, model_dir=str(tmp_path), **kwargs)


def _receiver(models):
    return build_raw_serving_input_receiver_fn({"x": tf.zeros([1, models.N_FEATURES])})


def _returning_mode(models, wrong_in, returned):
    """mlp_model_fn whose spec, in mode ``wrong_in``, claims mode ``returned`` (all fields kept)."""

    def model_fn(features, labels, mode, params):
        spec = models.mlp_model_fn(features, labels, mode, params)
        if mode != wrong_in:
            return spec
        return EstimatorSpec(  # PREDICT's spec has no loss nor train_op: stand-ins
            returned,
            loss=tf.constant(0.0) if spec.loss is None else spec.loss,
            train_op=tf.no_op() if spec.train_op is None else spec.train_op,
            predictions=spec.predictions,
            eval_metric_ops=spec.eval_metric_ops,
        )

    return model_fn


def _call(models, runner, mode):
    if mode == ModeKeys.TRAIN:
        return runner.train(models.input_fn(repeat=True), steps=2)
    if mode == ModeKeys.EVAL:
        return runner.evaluate(models.input_fn())
    return list(runner.predict(models.input_fn(labels=False)))


@pytest.mark.parametrize(
    "called, returned",
    [
        pytest.param(ModeKeys.TRAIN, ModeKeys.PREDICT, id="predict-spec-in-train"),
        pytest.param(ModeKeys.EVAL, ModeKeys.TRAIN, id="train-spec-in-eval"),
        pytest.param(ModeKeys.PREDICT, ModeKeys.EVAL, id="eval-spec-in-predict"),
    ],
)
def test_a_spec_of_another_mode_is_refused_naming_both(models, tmp_path, called, returned):
    _runner(models, tmp_path).train(models.input_fn(repeat=True), steps=2)  # a checkpoint
    runner = _runner(models, tmp_path, _returning_mode(models, called, returned))
    with pytest.raises(ValueError, match=rf"called in mode '{called}'.*spec of mode '{returned}'"):
        _call(models, runner, called)
    assert runner.latest_checkpoint().endswith("model.ckpt-2")  # nothing trained or saved


def test_export_refuses_a_spec_of_another_mode(models, tmp_path):
    runner = _runner(models, tmp_path, _returning_mode(models, ModeKeys.PREDICT, ModeKeys.TRAIN))
    runner.train(models.input_fn(repeat=True), steps=2)
    with pytest.raises(ValueError, match="called in mode 'infer'.*spec of mode 'train'"):
        runner.export_saved_model(str(tmp_path / "export"), _receiver(models))
    assert not os.path.exists(tmp_path / "export") or not os.listdir(tmp_path / "export")


def test_lenient_validation_lets_another_mode_pass_as_estimator_did(models, tmp_path):
    runner = _runner(models, tmp_path, _returning_mode(models, ModeKeys.TRAIN, ModeKeys.PREDICT))
    with lenient_validation():
        runner.train(models.input_fn(repeat=True), steps=2)
    assert runner.get_variable_value("global_step") == 2


@pytest.mark.parametrize("mode", [ModeKeys.TRAIN, ModeKeys.EVAL])
def test_features_only_input_for_a_model_that_needs_labels(models, tmp_path, mode):
    _runner(models, tmp_path).train(models.input_fn(repeat=True), steps=2)
    runner = _runner(models, tmp_path)
    call = {
        ModeKeys.TRAIN: lambda: runner.train(models.input_fn(repeat=True, labels=False), steps=2),
        ModeKeys.EVAL: lambda: runner.evaluate(models.input_fn(labels=False)),
    }[mode]
    with pytest.raises(ValueError, match=f"failed in '{mode}' mode.*returned no labels") as raised:
        call()
    assert raised.value.__cause__ is not None  # the model_fn's own error, chained


def test_a_model_that_needs_no_labels_trains_on_features_only(tmp_path):
    def model_fn(features, labels, mode):  # an autoencoder-like loss: no labels needed
        assert labels is None
        w = tf.compat.v1.get_variable("w", [2, 2], initializer=tf.compat.v1.zeros_initializer())
        loss = tf.reduce_mean((tf.matmul(features, w) - features) ** 2)
        step = tf.compat.v1.train.get_global_step()
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss, step)
        return EstimatorSpec(mode, loss=loss, train_op=train_op)

    def input_fn():
        return tf.data.Dataset.from_tensors(tf.ones([4, 2])).repeat()

    runner = Runner(model_fn=model_fn, model_dir=str(tmp_path))
    runner.train(input_fn, steps=3)
    assert runner.get_variable_value("global_step") == 3


@pytest.fixture
def cpu_only(monkeypatch):
    for name in ("TPU_NAME", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS", "TPU_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    from estimator_spec_compat.runner import strategy as strategy_lib

    if tf.config.list_physical_devices("GPU") or strategy_lib._find_tpu(None) is not None:
        pytest.skip("checks the CPU-only machine; this one has a GPU or a TPU")


@pytest.mark.parametrize(
    "name, match",
    [
        pytest.param("tpu", r"^No TPU was found: .*Fix: ", id="tpu"),
        pytest.param("gpu", r"No GPU is visible to TensorFlow\..*Fix: check the CUDA", id="gpu"),
    ],
)
def test_an_explicit_strategy_this_machine_lacks_is_refused(models, cpu_only, name, match):
    with pytest.raises(ValueError, match=match):
        Runner(model_fn=models.mlp_model_fn, strategy=name)


def test_auto_still_falls_back_to_the_cpu(models, cpu_only):
    runner = Runner(model_fn=models.mlp_model_fn, strategy="auto")
    assert runner.num_replicas == 1


def test_two_exports_in_the_same_second_get_the_next_free_versions(models, tmp_path, monkeypatch):
    from estimator_spec_compat.convert import _export_writer

    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True), steps=2)
    monkeypatch.setattr(_export_writer.time, "time", lambda: 1_700_000_000.5)
    base = tmp_path / "export"
    paths = [runner.export_saved_model(str(base), _receiver(models)) for _ in range(3)]
    assert [os.path.basename(p.decode()) for p in paths] == [
        "1700000000",
        "1700000001",
        "1700000002",
    ]
    assert sorted(os.listdir(base)) == ["1700000000", "1700000001", "1700000002"]


def test_a_version_taken_during_the_export_moves_it_to_the_next_free_one(
    models, tmp_path, monkeypatch
):
    """Another exporter (a second process) takes the chosen version while this one writes."""
    from estimator_spec_compat.convert import _export_writer

    runner = _runner(models, tmp_path)
    runner.train(models.input_fn(repeat=True), steps=2)
    monkeypatch.setattr(_export_writer.time, "time", lambda: 1_700_000_000.5)
    base = tmp_path / "export"
    real_save = tf.saved_model.save

    def save_while_another_exports(*args, **kwargs):
        real_save(*args, **kwargs)
        (base / "1700000000").mkdir(exist_ok=True)
        (base / "1700000000" / "saved_model.pb").write_bytes(b"the other export")

    monkeypatch.setattr(tf.saved_model, "save", save_while_another_exports)
    path = runner.export_saved_model(str(base), _receiver(models)).decode()
    assert os.path.basename(path) == "1700000001"
    assert sorted(os.listdir(base)) == ["1700000000", "1700000001"]  # no temp folder left
    assert (base / "1700000000" / "saved_model.pb").read_bytes() == b"the other export"
    assert tf.saved_model.load(path).signatures["serving_default"] is not None


_NO_DEPRECATIONS = """
import io, logging, tempfile, warnings
{load_models}
import tensorflow as tf
from estimator_spec_compat.convert.serving import build_raw_serving_input_receiver_fn
from estimator_spec_compat.runner import Runner, RunnerConfig

log = io.StringIO()
tf.get_logger().addHandler(logging.StreamHandler(log))
model_dir = tempfile.mkdtemp()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    runner = Runner(model_fn=models.mlp_model_fn, model_dir=model_dir,
                    config=RunnerConfig(steps_per_loop=2, save_checkpoints_steps=2))
    runner.train(models.input_fn(repeat=True), steps=6)
    runner.train(models.input_fn(repeat=True), steps=2)
    receiver = build_raw_serving_input_receiver_fn({{"x": tf.zeros([1, models.N_FEATURES])}})
    runner.export_saved_model(model_dir + "/export", receiver)
for w in caught:
    # Python 3.13 deprecates arbitrary keyword arguments to AST nodes, which gast (TF's
    # AutoGraph, run by TF's own tracing) passes: TF's stack, not this library's calls.
    if "/gast/" in w.filename and "arbitrary keyword arguments" in str(w.message):
        continue
    if issubclass(w.category, DeprecationWarning):
        print("WARNING", w.category.__name__, w.filename, w.message)
for line in log.getvalue().splitlines():
    if "deprecated" in line:
        print("LOG", line)
"""


def test_train_and_export_log_no_deprecation(python_subprocess, load_models_code):
    """A fresh process: TF logs each deprecated call once per process."""
    out = python_subprocess(_NO_DEPRECATIONS.format(load_models=load_models_code))
    found = [line for line in out.splitlines() if line.startswith(("WARNING", "LOG"))]
    assert found == []
