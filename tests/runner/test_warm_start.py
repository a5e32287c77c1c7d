"""``Runner(warm_start_from=...)``: Estimator's warm start rules.

Expected values are the source checkpoint's (read with ``tf.train.load_checkpoint``),
and in the estimator world what the real Estimator warm-starts with the same
settings.
"""

import os

import numpy as np
import pytest

from estimator_spec_compat._compat import HAS_ESTIMATOR, tf
from estimator_spec_compat.runner import Runner, RunnerConfig, WarmStartSettings

NO_LEARNING = {"learning_rate": 0.0}  # a train step that changes no weight (Adam with lr 0)


def _runner(models, model_dir, **kwargs):
    config = RunnerConfig(steps_per_loop=2, tf_random_seed=3)
    return Runner(model_fn=models.mlp_model_fn, model_dir=str(model_dir), config=config, **kwargs)


@pytest.fixture
def source(models, tmp_path):
    """A trained runner's checkpoint directory."""
    _runner(models, tmp_path / "source").train(models.input_fn(repeat=True), steps=8)
    return tmp_path / "source"


def _warm_started(models, tmp_path, warm_start_from, name="new"):
    runner = _runner(models, tmp_path / name, params=NO_LEARNING, warm_start_from=warm_start_from)
    runner.train(models.input_fn(repeat=True), steps=1)
    return runner


def _same_as_source(runner, source):
    reader = tf.train.load_checkpoint(str(source))
    return {
        name
        for name in runner.get_variable_names()
        if reader.has_tensor(name)
        and np.array_equal(runner.get_variable_value(name), reader.get_tensor(name))
    }


@pytest.mark.parametrize(
    "settings, expected",
    [
        pytest.param(None, {"mlp/w0", "mlp/b0", "mlp/w1"}, id="path-all-trainable"),
        pytest.param(".*", {"mlp/w0", "mlp/b0", "mlp/w1"}, id="default-regex"),
        pytest.param("mlp/w", {"mlp/w0", "mlp/w1"}, id="regex-prefix"),
        pytest.param(["mlp/b0", "global_step"], {"mlp/b0"}, id="list-of-globals"),
    ],
)
def test_warm_starts_the_chosen_variables(models, tmp_path, source, settings, expected):
    warm = str(source) if settings is None else WarmStartSettings(str(source), settings)
    runner = _warm_started(models, tmp_path, warm)
    assert _same_as_source(runner, source) == expected
    steps = 8 + 1 if isinstance(settings, list) else 1  # global_step warm-started: 8, then 9
    assert runner.get_variable_value("global_step") == steps


def test_renames_from_a_v1_saver_checkpoint(models, tmp_path):
    kernel = np.arange(6 * 16, dtype="float32").reshape(6, 16)
    with tf.Graph().as_default():
        old = tf.compat.v1.get_variable("old/kernel", initializer=kernel)
        saver = tf.compat.v1.train.Saver([old])
        with tf.compat.v1.Session() as session:
            session.run(old.initializer)
            prefix = saver.save(session, str(tmp_path / "v1" / "model.ckpt"))
    settings = WarmStartSettings(
        prefix, "mlp/w0", var_name_to_prev_var_name={"mlp/w0": "old/kernel"}
    )
    runner = _warm_started(models, tmp_path, settings)
    np.testing.assert_array_equal(runner.get_variable_value("mlp/w0"), kernel)


def test_a_saved_model_directory_warm_starts_from_its_variables(models, tmp_path, source):
    from estimator_spec_compat.convert.serving import build_raw_serving_input_receiver_fn

    trained = _runner(models, source)
    receiver_fn = build_raw_serving_input_receiver_fn({"x": tf.zeros([1, models.N_FEATURES])})
    export = os.fsdecode(trained.export_saved_model(str(tmp_path / "export"), receiver_fn))
    runner = _warm_started(models, tmp_path, export)
    assert _same_as_source(runner, source) == {"mlp/w0", "mlp/b0", "mlp/w1"}


def test_no_warm_start_when_model_dir_has_a_checkpoint(models, tmp_path, source):
    _runner(models, tmp_path / "new").train(models.input_fn(repeat=True), steps=2)
    own = tf.train.load_checkpoint(str(tmp_path / "new")).get_tensor("mlp/w0")
    runner = _warm_started(models, tmp_path, str(source))  # resumes its own checkpoint
    np.testing.assert_array_equal(runner.get_variable_value("mlp/w0"), own)
    assert runner.get_variable_value("global_step") == 3


@pytest.mark.parametrize(
    "settings, error, match",
    [
        pytest.param(
            lambda s: WarmStartSettings(s, var_name_to_vocab_info={"mlp/w0": object()}),
            ValueError,
            r"var_name_to_vocab_info` \(\['mlp/w0'\]\) remaps vocabularies",
            id="vocab",
        ),
        pytest.param(
            lambda s: WarmStartSettings(s, "mlp/w0", var_name_to_prev_var_name={"mlp/w9": "a"}),
            ValueError,
            r"names \['mlp/w9'\], which are not among the variables to warm-start",
            id="unused-rename",
        ),
        pytest.param(
            lambda s: WarmStartSettings(s, "mlp/w0", var_name_to_prev_var_name={"mlp/w0": "nope"}),
            ValueError,
            r"Cannot warm-start `mlp/w0`: 'nope' is not in the checkpoint",
            id="missing",
        ),
        pytest.param(
            lambda s: WarmStartSettings(
                s, "mlp/w0", var_name_to_prev_var_name={"mlp/w0": "mlp/w1"}
            ),
            ValueError,
            r"Cannot warm-start `mlp/w0` \(shape \[6, 16\]\) from 'mlp/w1' \(shape \[16, 3\]\)",
            id="shape",
        ),
        pytest.param(lambda s: 42, TypeError, r"`warm_start_from` \(42\) must be", id="type"),
    ],
)
def test_bad_settings_are_clear_errors(models, tmp_path, source, settings, error, match):
    with pytest.raises(error, match=match):
        _warm_started(models, tmp_path, settings(str(source)))


@pytest.mark.estimator_world
def test_settings_class_is_upstreams():
    assert WarmStartSettings is tf.estimator.WarmStartSettings


@pytest.mark.modern_world
def test_settings_class_has_upstreams_fields_and_defaults():
    settings = WarmStartSettings("/ckpt")
    assert settings == ("/ckpt", ".*", None, None) and not HAS_ESTIMATOR
    assert settings._fields == (
        "ckpt_to_initialize_from",
        "vars_to_warm_start",
        "var_name_to_vocab_info",
        "var_name_to_prev_var_name",
    )


@pytest.mark.estimator_world
@pytest.mark.parametrize(
    "vars_to_warm_start",
    [
        pytest.param(".*", id="default"),
        pytest.param("mlp/w", id="regex"),
        pytest.param(["mlp/b0", "global_step"], id="list"),
        pytest.param(None, id="none"),
    ],
)
def test_warm_starts_what_estimator_warm_starts(models, tmp_path, source, vars_to_warm_start):
    settings = WarmStartSettings(str(source), vars_to_warm_start)
    estimator = tf.estimator.Estimator(
        models.mlp_model_fn,
        model_dir=str(tmp_path / "estimator"),
        params=NO_LEARNING,
        warm_start_from=settings,
        config=tf.estimator.RunConfig(tf_random_seed=3),
    )
    estimator.train(models.input_fn(repeat=True), steps=1)
    runner = _warm_started(models, tmp_path, settings)
    reader = tf.train.load_checkpoint(str(source))
    for name in runner.get_variable_names():
        ours = np.array_equal(runner.get_variable_value(name), reader.get_tensor(name))
        theirs = np.array_equal(estimator.get_variable_value(name), reader.get_tensor(name))
        assert ours == theirs, name
    assert runner.get_variable_value("global_step") == estimator.get_variable_value("global_step")
