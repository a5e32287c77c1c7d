"""Partitioned variables in the runner, both worlds: checkpoints as TF1's Saver wrote them.

Expected values come from hand computation (the parts each partitioner makes of a
[10, 3] embedding), TF's own checkpoint reader (``tf.train.load_variable``) and a
TF1 ``Saver`` in a ``tf.compat.v1.Session``; under two replicas, from the same
runner on one device. Parity with the real Estimator: test_partitioned_parity.py.
"""

import importlib.util
import pathlib

import numpy as np
import pytest

from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import Runner, RunnerConfig

HERE = pathlib.Path(__file__).parent
v1 = tf.compat.v1


def _load(name):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pm, bundle = _load("_partitioned_models"), _load("_bundle_index")


def _runner(model_dir, params):
    config = RunnerConfig(tf_random_seed=3, steps_per_loop=2)
    return Runner(model_fn=pm.model_fn, model_dir=str(model_dir), params=params, config=config)


def _checkpoint_values(prefix):
    return {
        name: tf.train.load_variable(prefix, name) for name, _ in tf.train.list_variables(prefix)
    }


# Rows of the [10, 3] embedding in each part (start, length), by hand: fixed_size_partitioner(3)
# and 3 min_max parts split 10 rows 4, 3, 3; 40-byte parts hold 3 rows of 12 bytes: 4 parts,
# 10 rows split 3, 3, 2, 2.
ROWS = {
    "fixed": [(0, 4), (4, 3), (7, 3)],
    "min_max": [(0, 4), (4, 3), (7, 3)],
    "axis_size": [(0, 3), (3, 3), (6, 2), (8, 2)],
}


@pytest.mark.parametrize("partitioner", sorted(ROWS))
def test_checkpoint_has_full_names_with_one_slice_per_part(tmp_path, partitioner):
    params = dict(partitioner=partitioner, body="lookup", optimizer="adam")
    runner = _runner(tmp_path, params)
    runner.train(pm.input_fn(repeat=True), steps=2)
    prefix = runner.latest_checkpoint()
    entries = {key.decode("latin-1"): value for key, value in bundle.entries(prefix).items()}
    slices = [((start, rows), (0, 3)) for start, rows in ROWS[partitioner]]
    for name in ("model/embedding", "model/embedding/Adam", "model/embedding/Adam_1"):
        assert entries[name] == (tf.float32.as_datatype_enum, [10, 3], slices), name
    assert entries["beta1_power"][2] == []  # not partitioned: whole
    assert not any("part_" in key for key in entries)
    values = _checkpoint_values(prefix)
    assert runner.get_variable_names() == sorted(values)
    for name, value in values.items():  # whole tensors, as TF's reader assembles them
        np.testing.assert_array_equal(runner.get_variable_value(name), value, err_msg=name)
    with pytest.raises(ValueError, match=r"'model/embedding/part_0'.*get_variable_names"):
        runner.get_variable_value("model/embedding/part_0")


def _tf1_session_checkpoint(params, model_dir, restore_from=None):
    """The model_fn's TRAIN graph in a TF1 Session: initialized (or restored by a Saver
    from ``restore_from``) and saved by a Saver into ``model_dir``."""
    with tf.Graph().as_default():
        features, labels = pm.data()
        features = {k: tf.constant(v[:8]) for k, v in features.items()}
        pm.model_fn(features, tf.constant(labels[:8]), "train", params)
        saver = v1.train.Saver()
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            if restore_from:
                saver.restore(session, restore_from)
            step = session.run(v1.train.get_global_step())
            return saver.save(session, str(model_dir / "model.ckpt"), global_step=step)


@pytest.mark.parametrize("body", ["input_layer", "lookup_sparse"])
def test_tf1_saver_checkpoint_resumes_in_the_runner_and_back(tmp_path, body):
    params = dict(partitioner="fixed", body=body, optimizer="momentum")
    saved = _tf1_session_checkpoint(params, tmp_path / "tf1")
    runner = _runner(tmp_path / "tf1", params)
    runner.evaluate(pm.input_fn())
    for name, value in _checkpoint_values(saved).items():
        np.testing.assert_array_equal(runner.get_variable_value(name), value, err_msg=name)
    runner.train(pm.input_fn(repeat=True), steps=2)
    written = runner.latest_checkpoint()
    resaved = _tf1_session_checkpoint(params, tmp_path / "back", restore_from=written)
    assert bundle.entries(resaved) == bundle.entries(written)
    restored, expected = _checkpoint_values(resaved), _checkpoint_values(written)
    assert restored["global_step"] == 2
    for name, value in expected.items():
        np.testing.assert_array_equal(restored[name], value, err_msg=name)


def test_resumes_from_a_checkpoint_partitioned_otherwise(tmp_path):
    """TF1's restore reads any slice of a saved tensor: 3 parts resume as 4, and as 1."""
    params = dict(partitioner="fixed", body="input_layer", optimizer="adam")
    _runner(tmp_path, params).train(pm.input_fn(repeat=True), steps=2)
    expected = _checkpoint_values(v1.train.latest_checkpoint(str(tmp_path)))
    for partitioner in ("axis_size", "one_part"):
        runner = _runner(tmp_path, dict(params, partitioner=partitioner))
        runner.evaluate(pm.input_fn())
        for name, value in expected.items():
            np.testing.assert_array_equal(runner.get_variable_value(name), value, err_msg=name)


MIRRORED = """
import shutil, tempfile
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import importlib.util
def load(name):
    spec = importlib.util.spec_from_file_location(name, {here!r} + "/" + name + ".py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
pm, bundle = load("_partitioned_models"), load("_bundle_index")
from estimator_spec_compat.runner import Runner, RunnerConfig

def runner(strategy, model_dir, params):
    return Runner(
        model_fn=pm.model_fn, model_dir=model_dir, params=params, strategy=strategy,
        config=RunnerConfig(steps_per_loop=2, tf_random_seed=3),
        train_batch_size=8, eval_batch_size=8, predict_batch_size=8,
    )

mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
one = tf.distribute.OneDeviceStrategy("/cpu:0")
train = pm.input_fn(repeat=True)

def same(a, b):
    assert a.get_variable_names() == b.get_variable_names()
    for name in a.get_variable_names():
        np.testing.assert_allclose(b.get_variable_value(name), a.get_variable_value(name),
                                   rtol=1e-4, atol=1e-6, err_msg=name)

for body, partitioner, optimizer in [("lookup", "fixed", "adam"), ("shared", "axis_size", "momentum")]:
    params = dict(partitioner=partitioner, body=body, optimizer=optimizer)
    one_dir, two_dir, back_dir = (tempfile.mkdtemp() for _ in range(3))
    r1 = runner(one, one_dir, params)
    r1.train(train, steps=4)
    shutil.copytree(one_dir, two_dir, dirs_exist_ok=True)
    r2 = runner(mirrored, two_dir, params)  # sliced checkpoint -> whole variables
    for r in (r1, r2):
        r.train(train, steps=3)
    same(r1, r2)
    m1, m2 = r1.evaluate(pm.input_fn()), r2.evaluate(pm.input_fn())
    for key in m1:
        np.testing.assert_allclose(m2[key], m1[key], rtol=1e-4, err_msg=key)
    p1, p2 = list(r1.predict(pm.input_fn())), list(r2.predict(pm.input_fn()))
    assert len(p1) == len(p2) == 48
    for a, b in zip(p1, p2):
        np.testing.assert_allclose(b["probabilities"], a["probabilities"], rtol=1e-4, atol=1e-6)
    # As under Estimator's train_distribute: whole tensors under the same full names.
    entries = bundle.entries(r2.latest_checkpoint())
    assert not any(slices for _, _, slices in entries.values())
    assert tf.train.list_variables(r2.latest_checkpoint()) == tf.train.list_variables(
        r1.latest_checkpoint())
    shutil.copytree(two_dir, back_dir, dirs_exist_ok=True)
    r3 = runner(one, back_dir, params)  # whole checkpoint -> parts on one device
    for r in (r1, r3):
        r.train(train, steps=2)
    same(r1, r3)
    print(body, "ok", r2.num_replicas, sorted(m1))
"""


def test_two_replicas_unpartitioned_as_estimator_equal_one_device_both_ways(python_subprocess):
    """Two replicas drop partitioners (as Estimator's ``train_distribute`` scope did), read
    and write the same full names, and train as one device."""
    out = python_subprocess(MIRRORED.format(here=str(HERE)))
    assert "lookup ok 2" in out and "shared ok 2" in out


def test_exported_model_serves_the_partitioned_weights(tmp_path):
    """The serving SavedModel restores the parts from the sliced checkpoint: it predicts
    what the runner predicts."""
    from estimator_spec_compat.convert.serving import ServingInputReceiver

    params = dict(partitioner="axis_size", body="input_layer", optimizer="adam")
    runner = _runner(tmp_path / "model", params)
    runner.train(pm.input_fn(repeat=True), steps=2)
    features, _ = pm.data()

    def receiver_fn():
        placeholders = {
            k: v1.placeholder(tf.as_dtype(v.dtype), [None, *v.shape[1:]], name=k)
            for k, v in features.items()
        }
        return ServingInputReceiver(placeholders, placeholders)

    path = runner.export_saved_model(str(tmp_path / "export"), receiver_fn)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    served = serve(**{k: tf.constant(v) for k, v in features.items()})["probabilities"]
    expected = np.stack([row["probabilities"] for row in runner.predict(pm.input_fn())])
    np.testing.assert_allclose(served.numpy(), expected, rtol=1e-5, atol=1e-7)
