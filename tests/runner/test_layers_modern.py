"""tf.compat.v1.layers and feature columns under the runner, in a fresh process.

In the modern world (Keras 3) ``tf.compat.v1.layers`` needs tf-keras with
``TF_USE_LEGACY_KERAS=1`` set before TF is imported; without it the runner says
exactly that. In the estimator world the same code runs with Keras 2 as is.
"""

import pytest

from estimator_spec_compat import _compat

TRAIN_LAYERS = """
import tempfile
{load_models}
from estimator_spec_compat.runner import Runner, RunnerConfig

for name, model_fn, input_fn, params in [
    ("layers", models.layers_model_fn, models.input_fn, {{"optimizer": "momentum"}}),
    ("columns", models.feature_column_model_fn, None, {{"optimizer": "adagrad"}}),
]:
    runner = Runner(model_fn=model_fn, model_dir=tempfile.mkdtemp(), params=params,
                    config=RunnerConfig(steps_per_loop=10, tf_random_seed=1))
    train_fn = (lambda params: models.feature_column_input_fn(params).repeat()) if input_fn is None else input_fn(repeat=True)
    eval_fn = models.feature_column_input_fn if input_fn is None else input_fn()
    runner.train(train_fn, steps=2)
    before = runner.evaluate(eval_fn)
    runner.train(train_fn, steps=60)
    after = runner.evaluate(eval_fn)
    moving = 1.0
    if name == "layers":
        moving = float(abs(runner.get_variable_value("batch_normalization/moving_mean")).sum())
    print(name, before["loss"], after["loss"], after["accuracy"], moving)
"""


def _parse(out):
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in ("layers", "columns"):
            rows[parts[0]] = [float(p) for p in parts[1:]]
    return rows


@pytest.mark.parametrize(
    "env",
    [
        pytest.param(
            {"TF_USE_LEGACY_KERAS": "1"}, id="legacy-keras", marks=pytest.mark.modern_world
        ),
        pytest.param({}, id="as-is", marks=pytest.mark.estimator_world),
    ],
)
def test_layers_and_feature_columns_train(python_subprocess, load_models_code, env):
    rows = _parse(python_subprocess(TRAIN_LAYERS.format(load_models=load_models_code), env=env))
    for name in ("layers", "columns"):
        before, after, accuracy, moving = rows[name]
        assert after < 0.8 * before, name
        assert accuracy > 0.6, name
        assert moving > 0.0, name  # batch norm's UPDATE_OPS ran


@pytest.mark.modern_world
def test_without_legacy_keras_the_error_says_what_to_do(python_subprocess, load_models_code):
    code = f"""
{load_models_code}
from estimator_spec_compat.runner import Runner
try:
    Runner(model_fn=models.layers_model_fn).train(models.input_fn(repeat=True), steps=1)
except ImportError as error:
    print("ERROR:", error)
"""
    out = python_subprocess(code, env={"TF_USE_LEGACY_KERAS": "0"})
    assert "ERROR:" in out and "tf-keras" in out and "TF_USE_LEGACY_KERAS=1" in out
    assert not _compat.HAS_ESTIMATOR
