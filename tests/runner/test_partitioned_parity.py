"""Partitioned variables: the runner against the real Estimator (estimator world).

Expected values, checkpoint keys and slice specs come from ``tf.estimator.Estimator``
run in this process on the same model_fn (``_partitioned_models.py``), data and
seeds. Each case trains both from scratch, then each continues from the other's
checkpoint: Estimator checkpoint -> runner, runner checkpoint -> Estimator.
"""

import importlib.util
import pathlib
import shutil

import numpy as np
import pytest

from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import Runner, RunnerConfig, WarmStartSettings

pytestmark = pytest.mark.estimator_world

HERE = pathlib.Path(__file__).parent
SEED, FIRST, LAST, RTOL = 3, 3, 7, 1e-4


def _load(name):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pm, bundle = _load("_partitioned_models"), _load("_bundle_index")
LARGEST = {}  # the largest relative difference seen per case (printed with -s)


def _estimator(model_dir, params, **kwargs):
    config = tf.estimator.RunConfig(tf_random_seed=SEED)
    return tf.estimator.Estimator(
        pm.model_fn, model_dir=str(model_dir), params=params, config=config, **kwargs
    )


def _runner(model_dir, params, **kwargs):
    config = RunnerConfig(tf_random_seed=SEED, steps_per_loop=2)
    return Runner(
        model_fn=pm.model_fn, model_dir=str(model_dir), params=params, config=config, **kwargs
    )


def _variables(est):
    return {n: est.get_variable_value(n) for n in est.get_variable_names()}


def _results(est):
    return _variables(est), est.evaluate(pm.input_fn()), list(est.predict(pm.input_fn()))


def _assert_same(case, expected, got):
    worst = 0.0
    if isinstance(expected, dict):  # variables only
        expected, got = (expected, {}, []), (got, {}, [])
    (exp_vars, exp_metrics, exp_preds), (got_vars, got_metrics, got_preds) = expected, got
    assert sorted(got_vars) == sorted(exp_vars)
    assert sorted(got_metrics) == sorted(exp_metrics)
    pairs = [(exp_vars[n], got_vars[n], n) for n in exp_vars]
    pairs += [(exp_metrics[n], got_metrics[n], n) for n in exp_metrics]
    pairs += [(e[k], g[k], k) for e, g in zip(exp_preds, got_preds) for k in e]
    assert len(got_preds) == len(exp_preds) == (48 if exp_preds else 0)
    for want, have, name in pairs:
        np.testing.assert_allclose(have, want, rtol=RTOL, atol=1e-6, err_msg=name)
        diff = np.abs(np.asarray(have, np.float64) - want) / np.maximum(np.abs(want), 1e-6)
        worst = max(worst, float(np.max(diff, initial=0.0)))
    LARGEST[case] = max(LARGEST.get(case, 0.0), worst)
    print(f"{case}: largest relative difference {LARGEST[case]:.3g}")


def _same_index(expected_prefix, got_prefix):
    """Keys (slices included), dtypes, shapes and slice extents equal, and no part_N key."""
    expected, got = bundle.entries(expected_prefix), bundle.entries(got_prefix)
    assert got == expected
    assert tf.train.list_variables(got_prefix) == tf.train.list_variables(expected_prefix)
    assert not any(b"part_" in key for key in got)
    return expected


CASES = [
    pytest.param("fixed", "lookup", "adam", False, id="fixed-embedding_lookup-adam"),
    pytest.param(
        "min_max", "lookup_sparse", "momentum", False, id="min_max-lookup_sparse-momentum"
    ),
    pytest.param("axis_size", "input_layer", "ftrl", False, id="axis_size-input_layer-ftrl"),
    pytest.param("fixed", "shared", "momentum", False, id="fixed-shared_embedding-momentum"),
    pytest.param("one_part", "lookup", "adagrad", True, id="one_part-linear_model-adagrad"),
]


@pytest.mark.parametrize("partitioner, body, optimizer, linear", CASES)
def test_partitioned_model_parity_and_checkpoints_both_ways(
    tmp_path, request, partitioner, body, optimizer, linear
):
    case = request.node.callspec.id
    params = dict(partitioner=partitioner, body=body, optimizer=optimizer, linear=linear)
    train = pm.input_fn(repeat=True)
    est, runner = _estimator(tmp_path / "est", params), _runner(tmp_path / "run", params)
    est.train(train, max_steps=FIRST)
    runner.train(train, max_steps=FIRST)
    entries = _same_index(est.latest_checkpoint(), runner.latest_checkpoint())
    # TF1's Saver writes a variable of one part whole; of several, as slices.
    assert any(slices for _, _, slices in entries.values()) == (partitioner != "one_part")
    shutil.copytree(tmp_path / "est", tmp_path / "run_from_est")
    shutil.copytree(tmp_path / "run", tmp_path / "est_from_run")

    est.train(train, max_steps=LAST)
    expected = _results(est)
    runner.train(train, max_steps=LAST)  # from its own checkpoint
    _assert_same(case, expected, _results(runner))
    _same_index(est.latest_checkpoint(), runner.latest_checkpoint())

    from_est = _runner(tmp_path / "run_from_est", params)  # Estimator checkpoint -> runner
    from_est.train(train, max_steps=LAST)
    _assert_same(case, expected[0], _variables(from_est))
    from_runner = _estimator(tmp_path / "est_from_run", params)  # runner checkpoint -> Estimator
    from_runner.train(train, max_steps=LAST)
    _assert_same(case, expected[0], _variables(from_runner))


def test_init_from_checkpoint_and_warm_start_onto_other_partitions(tmp_path):
    """A source saved in 3 parts initializes 4 parts (``variable_axis_size_partitioner``):
    through ``init_from_checkpoint`` in the model_fn (by scope, and one variable renamed)
    and through ``warm_start_from`` (with a rename)."""
    source_params = dict(partitioner="fixed", body="input_layer", optimizer="sgd")
    _runner(tmp_path / "source", source_params).train(pm.input_fn(repeat=True), steps=2)
    source = str(tmp_path / "source")
    params = dict(partitioner="axis_size", body="input_layer", optimizer="sgd", learning_rate=0.0)
    by_map = dict(
        params, init_from=source, assignment_map={"model/input_layer/": "model/input_layer/"}
    )
    a, b = (f"model/input_layer/{k}_embedding/embedding_weights" for k in "ab")
    renamed = dict(params, init_from=source, assignment_map={a: b})  # a's values into b
    warm = WarmStartSettings(
        source, vars_to_warm_start=".*embedding.*", var_name_to_prev_var_name={b: a}
    )
    for name, kwargs, model_params, target in [
        ("map", {}, by_map, a),
        ("rename", {}, renamed, b),
        ("warm", {"warm_start_from": warm}, params, b),
    ]:
        est = _estimator(tmp_path / f"est_{name}", model_params, **kwargs)
        est.train(pm.input_fn(repeat=True), steps=1)
        runner = _runner(tmp_path / f"run_{name}", model_params, **kwargs)
        runner.train(pm.input_fn(repeat=True), steps=1)
        expected = tf.train.load_variable(source, a)
        np.testing.assert_array_equal(est.get_variable_value(target), expected)
        _assert_same(f"warm start {name}", _results(est), _results(runner))
        _same_index(est.latest_checkpoint(), runner.latest_checkpoint())
