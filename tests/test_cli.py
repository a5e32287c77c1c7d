"""Tests for the `estimator-spec-compat` command (estimator_spec_compat.cli), run in-process."""

import itertools
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from estimator_spec_compat import _compat, cli

_MODELS = """
import collections

import tensorflow as tf

from estimator_spec_compat import EstimatorSpec, TPUEstimatorSpec


def input_fn(params):
    x = tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    y = tf.constant([[1.0], [0.0], [1.0], [0.0]])
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(params.get("batch_size", 2))


def repeating_input_fn(params):
    return input_fn(params).repeat()


def linear_model_fn(features, labels, mode, params):
    # Zero-initialised, so a test can replay the training by hand.
    w = tf.compat.v1.get_variable("w", [2, 1], initializer=tf.compat.v1.zeros_initializer())
    logits = tf.matmul(features, w)
    if mode == "infer":
        return EstimatorSpec(mode, predictions={"y": logits})
    loss = tf.compat.v1.losses.mean_squared_error(labels, logits)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(params["lr"]).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step())
    metrics = {"mse": tf.compat.v1.metrics.mean_squared_error(labels, logits)}
    return EstimatorSpec(mode, loss=loss, train_op=train_op, eval_metric_ops=metrics)


def features_only_input_fn():
    return tf.data.Dataset.from_tensor_slices(tf.ones([4, 2])).batch(2)


def raising_input_fn():
    raise OSError("no such table")


def _net(features):
    w = tf.compat.v1.get_variable("w", [2, 1])
    return tf.matmul(features, w)


def model_fn(features, labels, mode, params):
    logits = _net(features)
    predictions = {"y": logits}
    if mode == "infer":
        return EstimatorSpec(mode, predictions=predictions)
    loss = tf.compat.v1.losses.mean_squared_error(labels, logits)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(params["lr"]).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step())
    metrics = {"mse": tf.compat.v1.metrics.mean_squared_error(labels, logits)}
    return EstimatorSpec(mode, loss=loss, train_op=train_op, eval_metric_ops=metrics,
                         predictions=predictions)


def bad_model_fn(features, labels, mode):
    logits = _net(features)
    return EstimatorSpec(mode, predictions={"y": logits}, loss=tf.constant(3),
                         eval_metric_ops={"acc": [logits, logits]})


def predict_only_model_fn(features, mode):
    return EstimatorSpec("infer", predictions={"y": _net(features)})


def wrong_mode_model_fn(features, labels, mode):
    return EstimatorSpec("infer", predictions={"y": _net(features)})


_Spec = collections.namedtuple("Spec", [
    "mode", "predictions", "loss", "train_op", "eval_metric_ops", "export_outputs",
    "training_chief_hooks", "training_hooks", "scaffold", "evaluation_hooks", "prediction_hooks"])


def duck_model_fn(features, labels, mode):
    # Any object with the fields is checked; this one forgets the loss.
    return _Spec(mode, {"y": _net(features)}, None, None, None, None, (), (), None, (), ())


def dict_model_fn(features, labels, mode):
    return {"loss": tf.reduce_sum(_net(features))}


def raising_model_fn(features, labels, mode):
    return 1 / 0


def _metric_fn(labels, logits):
    return {"mse": tf.compat.v1.metrics.mean_squared_error(labels, logits)}


def _broken_metric_fn(labels, logits):
    raise KeyError("no metric here")


def _tpu_model_fn(features, labels, mode, metric_fn):
    logits = _net(features)
    if mode == "infer":
        return TPUEstimatorSpec(mode, predictions={"y": logits})
    loss = tf.compat.v1.losses.mean_squared_error(labels, logits)
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step())
    return TPUEstimatorSpec(mode, loss=loss, train_op=train_op,
                            eval_metrics=(metric_fn, [labels, logits]))


def tpu_model_fn(features, labels, mode):
    return _tpu_model_fn(features, labels, mode, _metric_fn)


def tpu_broken_metric_model_fn(features, labels, mode):
    return _tpu_model_fn(features, labels, mode, _broken_metric_fn)


def tpu_arity_model_fn(features, labels, mode):
    return _tpu_model_fn(features, labels, mode, lambda labels: {})


NOT_A_FUNCTION = 3
"""

_ESTIMATOR_MODELS = """
import tensorflow as tf


def upstream_int_loss_model_fn(features, labels, mode):
    # Upstream accepts an int32 loss; the strict check does not.
    loss = tf.constant(3)
    return tf.estimator.EstimatorSpec(
        mode, loss=loss, train_op=tf.compat.v1.assign_add(
            tf.compat.v1.train.get_global_step(), 1), predictions={"y": features})


def upstream_tpu_model_fn(features, labels, mode):
    w = tf.compat.v1.get_variable("w", [2, 1])
    logits = tf.matmul(features, w)
    loss = tf.compat.v1.losses.mean_squared_error(labels, logits)
    metric_fn = lambda labels, logits: {"mse": tf.compat.v1.metrics.mean_squared_error(labels, logits)}
    return tf.compat.v1.estimator.tpu.TPUEstimatorSpec(
        mode, loss=loss, eval_metrics=(metric_fn, [labels, logits]))


def upstream_missing_train_op_model_fn(features, labels, mode):
    return tf.estimator.EstimatorSpec(mode, loss=tf.constant(1.0), predictions={"y": features})
"""

_COUNTER = itertools.count()


@pytest.fixture
def models(tmp_path, monkeypatch):
    """Writes the model module (unique name) in tmp_path, the current directory; returns its name."""
    name = f"cli_test_models_{next(_COUNTER)}"
    (tmp_path / f"{name}.py").write_text(_MODELS)
    if _compat.HAS_ESTIMATOR:
        (tmp_path / f"{name}_upstream.py").write_text(_ESTIMATOR_MODELS)
    monkeypatch.chdir(tmp_path)
    yield name
    for module in (name, f"{name}_upstream"):
        sys.modules.pop(module, None)


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- check: OK ------------------------------------------------------------------------------


@pytest.mark.parametrize("as_path", [False, True], ids=["dotted-module", "py-file-path"])
def test_check_good_model_fn(capsys, models, as_path):
    module = f"./{models}.py" if as_path else models
    code, out, err = run_cli(capsys, "check", f"{module}:model_fn", "--params", '{"lr": 0.1}')
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "train: OK (EstimatorSpec)",
        "eval: OK (EstimatorSpec)",
        "infer: OK (EstimatorSpec)",
        "All 3 modes OK.",
    ]


def test_check_tpu_spec_with_features_only_input_and_chosen_modes(capsys, models):
    code, out, _ = run_cli(
        capsys,
        "check",
        f"{models}:predict_only_model_fn",
        "--input-fn",
        f"{models}:features_only_input_fn",
        "--modes",
        "infer",
    )
    assert (code, out.splitlines()) == (0, ["infer: OK (EstimatorSpec)", "All 1 modes OK."])
    code, out, _ = run_cli(capsys, "check", f"{models}:tpu_model_fn", "--modes", "train,eval")
    assert code == 0
    assert out.splitlines()[:2] == ["train: OK (TPUEstimatorSpec)", "eval: OK (TPUEstimatorSpec)"]


# --- check: problems ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "modes", "expected"),
    [
        pytest.param(
            "bad_model_fn",
            "train",
            [r"^train: 3 problems$", r"`train_op` \(None\).*required", r"`loss` .*int32",
             r"`eval_metric_ops\['acc'\]` .*tuple"],
            id="strict-problems-all-listed",
        ),
        pytest.param(
            "wrong_mode_model_fn",
            "train,infer",
            [r"^train: 1 problem$", r"`mode` \('infer'\): the model_fn was called in mode 'train'",
             r"^infer: OK"],
            id="spec-for-another-mode",
        ),
        pytest.param("duck_model_fn", "eval", [r"^eval: 1 problem$", r"`loss` \(None\)"],
                     id="duck-typed-spec-rebuilt-and-checked"),
        pytest.param("dict_model_fn", "train", [r"model_fn returned dict, not a spec"],
                     id="not-a-spec"),
        pytest.param("raising_model_fn", "train",
                     [r"model_fn raised ZeroDivisionError: division by zero \(at .*\.py:\d+\)"],
                     id="model-fn-raises"),
        pytest.param("tpu_broken_metric_model_fn", "eval",
                     [r"as_estimator_spec\(\) raised KeyError: 'no metric here'"],
                     id="tpu-metric-fn-raises-on-cpu"),
        pytest.param("tpu_arity_model_fn", "eval", [r"^eval: \d+ problems?$", r"`eval_metrics"],
                     id="tpu-metric-fn-arity"),
    ],
)  # fmt: skip
def test_check_reports_problems(capsys, models, fn, modes, expected):
    code, out, _ = run_cli(capsys, "check", f"{models}:{fn}", "--modes", modes)
    assert code == 1, out
    for pattern in expected:
        assert re.search(pattern, out, re.MULTILINE), (pattern, out)
    assert re.search(r"^Problems in 1 of \d modes\.$", out, re.MULTILINE)


def test_check_input_fn_problems(capsys, models):
    code, out, _ = run_cli(
        capsys, "check", f"{models}:model_fn", "--input-fn", f"{models}:raising_input_fn",
        "--modes", "eval",
    )  # fmt: skip
    assert code == 1
    assert re.search(r"^  1\. input_fn raised OSError: no such table", out, re.MULTILINE)
    code, out, _ = run_cli(capsys, "check", f"{models}:predict_only_model_fn", "--modes", "train")
    assert code == 1
    assert re.search(
        r"^  1\. model_fn does not take `labels`, but input_fn returns labels\. Fix: ", out, re.M
    )


@pytest.mark.estimator_world
@pytest.mark.parametrize(
    ("fn", "pattern"),
    [
        pytest.param("upstream_int_loss_model_fn", r"`loss` .*int32", id="strict-beyond-upstream"),
        pytest.param("upstream_missing_train_op_model_fn", r"model_fn raised ValueError: Missing "
                     r"train_op", id="upstream-own-check"),
    ],
)  # fmt: skip
def test_check_upstream_specs_with_problems(capsys, models, fn, pattern):
    code, out, _ = run_cli(
        capsys, "check", f"{models}_upstream:{fn}", "--input-fn", f"{models}:input_fn",
        "--modes", "train",
    )  # fmt: skip
    assert code == 1
    assert re.search(pattern, out), out


@pytest.mark.estimator_world
def test_check_upstream_tpu_spec(capsys, models):
    code, out, _ = run_cli(
        capsys, "check", f"{models}_upstream:upstream_tpu_model_fn", "--input-fn",
        f"{models}:input_fn", "--modes", "eval",
    )  # fmt: skip
    assert (code, out.splitlines()) == (0, ["eval: OK (TPUEstimatorSpec)", "All 1 modes OK."])


# --- check: usage errors (exit 2) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        pytest.param(["{m}"], r"MODEL_FN \('cli_test_models_\d+'\) must be MODULE:NAME, e\.g\.",
                     id="no-colon"),
        pytest.param(["{m}:"], r"must be MODULE:NAME", id="no-name"),
        pytest.param(["no_such_module_xyz:model_fn"],
                     r"cannot import module 'no_such_module_xyz'.*path to its \.py file",
                     id="missing-module"),
        pytest.param(["missing/model.py:model_fn"], r"there is no file 'missing/model\.py'",
                     id="missing-file"),
        pytest.param(["{m}:modle_fn"],
                     r"has no attribute 'modle_fn'\. Name one of its functions: .*\bmodel_fn\b",
                     id="misspelt-function"),
        pytest.param(["{m}:NOT_A_FUNCTION"], r"names a int, not a function", id="not-callable"),
        pytest.param(["{m}:model_fn", "--params", "lr=1"], r"--params .* is not valid JSON",
                     id="params-not-json"),
        pytest.param(["{m}:model_fn", "--params", "[1]"], r"--params \('\[1\]'\) must be a JSON "
                     r"object", id="params-not-object"),
        pytest.param(["{m}:model_fn", "--modes", "train,fit"],
                     r"'fit' is not a mode\. Use .*train, eval, infer", id="bad-mode"),
        pytest.param(["{m}:model_fn", "--input-fn", "{m}:nope"], r"--input-fn .*no attribute 'nope'",
                     id="bad-input-fn"),
    ],
)  # fmt: skip
def test_check_usage_errors(capsys, models, argv, pattern):
    code, out, err = run_cli(capsys, "check", *(arg.format(m=models) for arg in argv))
    assert (code, out) == (2, "")
    assert re.search(r"^estimator-spec-compat check: error: .*" + pattern, err), err


def test_check_without_input_fn_anywhere(capsys, tmp_path, monkeypatch):
    (tmp_path / "lonely_model.py").write_text("def model_fn(features, labels, mode):\n    pass\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "check", "lonely_model.py:model_fn")
    assert code == 2
    assert re.search(r"--input-fn is missing and 'lonely_model\.py' has no `input_fn`", err)


def test_import_error_in_user_module_is_exit_1(capsys, tmp_path, monkeypatch):
    (tmp_path / "broken_model.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "check", "broken_model:model_fn")
    assert code == 1
    assert re.search(r"importing 'broken_model' raised ModuleNotFoundError: .*no_such_dep", err)
    sys.modules.pop("broken_model", None)


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        pytest.param([], 2, id="no-command"),
        pytest.param(["fit"], 2, id="unknown-command"),
        pytest.param(["run", "m:f"], 2, id="run-missing-required"),
        pytest.param(["run", "m:f", "--input-fn", "m:i", "--model-dir", "d", "--steps", "0"], 2,
                     id="run-steps-zero"),
        pytest.param(["--help"], 0, id="help"),
    ],
)  # fmt: skip
def test_argparse_exit_codes(capsys, argv, code):
    assert cli.main(argv) == code
    capsys.readouterr()


def test_python_dash_m(tmp_path):
    # One fresh interpreter (TF start-up is slow): the wiring and the exit status.
    (tmp_path / "m.py").write_text(_MODELS)
    env = {
        "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(cli.__file__))),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PATH": os.environ.get("PATH", ""),
    }
    argv = ["check", "m:wrong_mode_model_fn", "--modes", "train"]
    proc = subprocess.run(
        [sys.executable, "-m", "estimator_spec_compat", *argv],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines()[0] == "train: 1 problem"
    assert proc.stdout.splitlines()[-1] == "Problems in 1 of 1 modes."


# --- run -------------------------------------------------------------------------------------


def _replayed_eval_mse(lr, steps):
    """The linear model trained by hand (batches of 2, in order), then its MSE on all 4 examples."""
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    y = np.array([1.0, 0.0, 1.0, 0.0])
    w = np.zeros(2)
    for step in range(steps):
        xb, yb = x[2 * (step % 2) : 2 * (step % 2) + 2], y[2 * (step % 2) : 2 * (step % 2) + 2]
        w = w - lr * 2.0 * xb.T @ (xb @ w - yb) / len(yb)
    return float(np.mean((x @ w - y) ** 2))


def test_run_trains_then_evaluates(capsys, models, tmp_path):
    model_dir = tmp_path / "model"
    code, out, err = run_cli(
        capsys, "run", f"{models}:linear_model_fn", "--input-fn", f"{models}:repeating_input_fn",
        "--eval-input-fn", f"{models}:input_fn", "--model-dir", str(model_dir), "--steps", "4",
        "--steps-per-loop", "2", "--strategy", "cpu", "--params", '{"lr": 0.01}',
        "--train-batch-size", "2", "--eval-batch-size", "2",
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[0].startswith("strategy: _DefaultDistributionStrategy (the caller ")
    metrics = dict(re.findall(r"^  (\w+): (\S+)$", out, re.MULTILINE))
    assert sorted(metrics) == ["global_step", "loss", "mse"]
    assert int(metrics["global_step"]) == 4
    expected = _replayed_eval_mse(0.01, 4)
    assert float(metrics["mse"]) == pytest.approx(expected, rel=1e-4)
    assert float(metrics["loss"]) == pytest.approx(expected, rel=1e-4)
    assert any(name.startswith("ckpt") or name == "checkpoint" for name in os.listdir(model_dir))


def test_run_without_eval_input_fn_and_usage_errors(capsys, models, tmp_path):
    argv = ["run", f"{models}:linear_model_fn", "--input-fn", f"{models}:repeating_input_fn",
            "--model-dir", str(tmp_path / "m"), "--steps", "1", "--params", '{"lr": 0.01}']  # fmt: skip
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0
    assert out.splitlines()[-1] == "evaluation skipped: no --eval-input-fn."
    code, out, err = run_cli(capsys, *argv[:2], "--input-fn", f"{models}:nope", *argv[4:])
    assert (code, out) == (2, "")
    assert re.search(r"^estimator-spec-compat run: error: --input-fn .*no attribute 'nope'", err)
