"""run_host_call: legacy host_call -> tf.summary events (both worlds).

Events are read back from disk with TF's event reader
(``tf.compat.v1.train.summary_iterator``) and, where TensorBoard is installed,
with TensorBoard's ``EventAccumulator``; expected values are computed by hand.
"""

import collections
import glob
import importlib.util
import os

import numpy as np
import pytest

from estimator_spec_compat._compat import tf
from estimator_spec_compat.convert.summaries import run_host_call

MODES = [pytest.param(False, id="eager"), pytest.param(True, id="tf_function")]
# TF >= 2.16 implements tf.summary.scalar/histogram/image/audio/text (and TF's own
# v1 -> v2 summary bridge) in the TensorBoard package, which it no longer installs;
# tf.summary.write and write_raw_pb are core ops. Tests of the former need it.
needs_tensorboard = pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is None,
    reason="TensorBoard is not installed in this world; tf.summary.scalar/histogram need it",
)


def _events(logdir):
    """{tag: [(step, value), ...]} from every event file under ``logdir``."""
    result = collections.defaultdict(list)
    for path in sorted(
        glob.glob(os.path.join(logdir, "**", "events.out.tfevents.*"), recursive=True)
    ):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                kind = value.WhichOneof("value")
                data = tf.make_ndarray(value.tensor) if kind == "tensor" else value.simple_value
                result[value.tag].append((event.step, data))
    return dict(result)


def _scalars(events, tag):
    return [(step, float(value)) for step, value in events[tag]]


def _run(fn, mode_is_function):
    return tf.function(fn)() if mode_is_function else fn()


@pytest.mark.parametrize("in_function", MODES)
def test_list_is_positional_and_step_is_given(tmp_path, in_function):
    writer = tf.summary.create_file_writer(os.fspath(tmp_path))
    seen = []

    def host_fn(gs, loss):
        seen.append((gs.shape.as_list(), loss.shape.as_list()))
        tf.summary.write("loss", tf.reduce_mean(loss))  # no step: run_host_call's

    for step, losses in [(1, [1.0, 2.0]), (2, [4.0, 8.0])]:
        host_call = (host_fn, [tf.constant([step]), tf.constant(losses)])
        _run(lambda c=host_call, s=step: run_host_call(c, step=s, writer=writer), in_function)
    writer.flush()
    assert seen[0] == ([1], [2])
    assert _scalars(_events(tmp_path), "loss") == [(1, 1.5), (2, 6.0)]


@pytest.mark.parametrize("in_function", MODES)
def test_dict_is_keyword_and_body_step_wins(tmp_path, in_function):
    writer = tf.summary.create_file_writer(os.fspath(tmp_path))

    def host_fn(loss, gs):
        tf.compat.v2.summary.write("loss", loss[0], step=gs[0])  # the legacy idiom

    step = tf.Variable(10, dtype=tf.int64)
    host_call = (host_fn, {"gs": tf.constant([3], tf.int64), "loss": tf.constant([0.25])})
    _run(lambda: run_host_call(host_call, step=step, writer=writer), in_function)
    writer.flush()
    assert _scalars(_events(tmp_path), "loss") == [(3, 0.25)]


@pytest.mark.parametrize("in_function", MODES)
def test_legacy_body_with_its_own_writer(tmp_path, in_function):
    logdir = os.fspath(tmp_path / "own")
    own_writer = tf.compat.v2.summary.create_file_writer(logdir)

    def host_fn(gs, loss):
        with own_writer.as_default():
            tf.compat.v2.summary.write("loss", tf.reduce_mean(loss), step=gs[0])
        return tf.compat.v1.summary.all_v2_summary_ops()

    for step in (1, 2):
        host_call = (host_fn, [tf.constant([step], tf.int64), tf.constant([float(step), 0.0])])
        _run(lambda c=host_call, s=step: run_host_call(c, step=s), in_function)
    own_writer.flush()
    assert _scalars(_events(logdir), "loss") == [(1, 0.5), (2, 1.0)]


@pytest.mark.parametrize("in_function", MODES)
def test_v1_tensor_summary_is_written_by_the_bridge(tmp_path, in_function):
    writer = tf.summary.create_file_writer(os.fspath(tmp_path))
    values = np.array([1.0, 2.0, 6.0], np.float32)
    collected_before = len(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.SUMMARIES))

    def host_fn(x):
        return tf.compat.v1.summary.tensor_summary("v1_tensor", x)  # a Summary proto

    for step in (1, 2):
        host_call = (host_fn, [tf.constant(values * step)])
        _run(lambda c=host_call, s=step: run_host_call(c, step=s, writer=writer), in_function)
    writer.flush()
    events = _events(tmp_path)
    assert [step for step, _ in events["v1_tensor"]] == [1, 2]
    np.testing.assert_array_equal(events["v1_tensor"][0][1], values)
    np.testing.assert_array_equal(events["v1_tensor"][1][1], values * 2)
    collected_after = len(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.SUMMARIES))
    assert collected_after == collected_before, "written v1 summaries must not pile up"


@needs_tensorboard
@pytest.mark.parametrize("in_function", MODES)
def test_v1_summary_ops_are_written(tmp_path, in_function):
    writer = tf.summary.create_file_writer(os.fspath(tmp_path))
    values = np.array([1.0, 2.0, 6.0], np.float32)
    collected_before = len(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.SUMMARIES))

    def host_fn(x):
        tf.compat.v1.summary.scalar("v1_scalar", tf.reduce_max(x))  # TF's own v1->v2 bridge
        tf.compat.v1.summary.histogram("v1_hist", x)
        tf.compat.v1.summary.tensor_summary("v1_tensor", x)  # written by run_host_call

    for step in (1, 2):
        host_call = (host_fn, [tf.constant(values * step)])
        _run(lambda c=host_call, s=step: run_host_call(c, step=s, writer=writer), in_function)
    writer.flush()
    events = _events(tmp_path)
    assert _scalars(events, "v1_scalar") == [(1, 6.0), (2, 12.0)]
    assert [step for step, _ in events["v1_tensor"]] == [1, 2]
    np.testing.assert_array_equal(events["v1_tensor"][1][1], values * 2)
    assert [step for step, _ in events["v1_hist"]] == [1, 2]
    assert events["v1_hist"][0][1][:, 2].sum() == len(values)  # bucket counts
    collected_after = len(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.SUMMARIES))
    assert collected_after == collected_before, "written v1 summaries must not pile up"


def test_default_writer_and_step_are_the_callers(tmp_path):
    writer = tf.summary.create_file_writer(os.fspath(tmp_path))
    host_call = (lambda x: tf.summary.write("x", x[0]), [tf.constant([2.0])])
    with writer.as_default():
        run_host_call(host_call, step=7)
        assert tf.summary.experimental.get_step() is None, "the step must be restored"
    writer.flush()
    assert _scalars(_events(tmp_path), "x") == [(7, 2.0)]


@needs_tensorboard
@pytest.mark.parametrize("in_function", MODES)
def test_tf_summary_scalar_in_the_body(tmp_path, in_function):
    writer = tf.summary.create_file_writer(os.fspath(tmp_path))

    def host_fn(gs, loss):
        tf.compat.v2.summary.scalar("loss", tf.reduce_mean(loss), step=gs[0])
        tf.summary.scalar("loss_at_given_step", tf.reduce_max(loss))

    host_call = (host_fn, [tf.constant([4], tf.int64), tf.constant([1.0, 3.0])])
    _run(lambda: run_host_call(host_call, step=9, writer=writer), in_function)
    writer.flush()
    events = _events(tmp_path)
    assert _scalars(events, "loss") == [(4, 2.0)]
    assert _scalars(events, "loss_at_given_step") == [(9, 3.0)]


def test_tensorboard_reads_the_events(tmp_path):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator",
        reason="TensorBoard is not installed in this world (TF 2.21 does not depend on it)",
    )
    writer = tf.summary.create_file_writer(os.fspath(tmp_path))
    host_fn = lambda loss: tf.summary.scalar("loss", tf.reduce_sum(loss))  # noqa: E731
    for step in (5, 6):
        run_host_call((host_fn, [tf.constant([1.0, float(step)])]), step=step, writer=writer)
    writer.flush()
    accumulator = event_accumulator.EventAccumulator(os.fspath(tmp_path), {"tensors": 0})
    accumulator.Reload()
    read = [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in accumulator.Tensors("loss")]
    assert read == [(5, 6.0), (6, 7.0)]


def _noop(*args):
    return None


@pytest.mark.parametrize(
    "host_call, kwargs, error, pattern",
    [
        pytest.param(
            (_noop,), {}, TypeError, r"`host_call` .* must be a \(fn, tensors\)", id="pair"
        ),
        pytest.param((1, []), {}, TypeError, r"`host_call\[0\]` \(1\) must be callable", id="fn"),
        pytest.param(
            (_noop, 3), {}, TypeError, r"`host_call\[1\]` \(3\) must be a list", id="tensors"
        ),
        pytest.param(
            (lambda a: a, [tf.constant([1]), tf.constant([2])]),
            {},
            TypeError,
            r"does not fit the arguments of `<lambda>\(a\)`",
            id="arity",
        ),
        pytest.param(
            (lambda a: a, {"b": tf.constant([1])}), {}, TypeError, r"does not fit", id="keyword"
        ),
        pytest.param(
            (_noop, [tf.constant(1.0), tf.constant([1.0]), tf.constant(2)]),
            {},
            ValueError,
            r"`host_call\[1\]\[0\]` has rank 0; `host_call\[1\]\[2\]` has rank 0\. .*tf.reshape",
            id="scalars",
        ),
        pytest.param(
            (_noop, []), {"step": None}, ValueError, r"`step` \(None\) must be", id="step"
        ),
        pytest.param((_noop, []), {"writer": "w"}, TypeError, r"`writer` \('w'\)", id="writer"),
        pytest.param((_noop, []), {"strategy": 1}, TypeError, r"`strategy` \(1\)", id="strategy"),
    ],
)
def test_bad_arguments(host_call, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        run_host_call(host_call, **{"step": 1, **kwargs})


def test_none_host_call_does_nothing():
    assert run_host_call(None, step=1) is None


_MIRRORED = """
import numpy as np
import tensorflow as tf
cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
from estimator_spec_compat.convert.summaries import run_host_call

logdir = {logdir!r}
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
data = np.arange(8, dtype=np.float32).reshape(8, 1)
dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices(data).batch(4))
writer = tf.summary.create_file_writer(logdir)

def host_fn(gs, rows):
    tf.summary.write("rows", rows, step=gs[0])
    tf.summary.write("count", tf.cast(tf.shape(rows)[0], tf.float32), step=gs[0])

def replica_step(batch, step):
    return tf.reshape(step, [1]), batch * 1.0

def train_step(batch, step):
    gs, rows = strategy.run(replica_step, (batch, step))
    run_host_call((host_fn, [gs, rows]), step=step, writer=writer, strategy=strategy)

iterator = iter(dataset)
train_step(next(iterator), tf.constant(1, tf.int64))                # eagerly
tf.function(train_step)(next(iterator), tf.constant(2, tf.int64))   # in a tf.function
scalar = strategy.run(lambda: tf.constant(1.0))
try:
    run_host_call((lambda s: s, [scalar]), step=3, writer=writer, strategy=strategy)
except ValueError as error:
    print("ERROR", error)
try:
    run_host_call((lambda s: s, [scalar]), step=3, writer=writer)
except ValueError as error:
    print("ERROR", error)
try:
    strategy.run(lambda x: run_host_call((lambda a: a, [x]), step=3), (tf.constant([1.0]),))
except ValueError as error:
    print("ERROR", error)
writer.flush()
print("REPLICAS", strategy.num_replicas_in_sync)
"""


def test_mirrored_strategy_concatenates_replicas(tmp_path, python_subprocess):
    out = python_subprocess(_MIRRORED.format(logdir=os.fspath(tmp_path)))
    assert "REPLICAS 2" in out
    errors = [line for line in out.splitlines() if line.startswith("ERROR")]
    assert "`host_call[1][0]` has rank 0" in errors[0]
    assert "no strategy is given" in errors[1]
    assert "inside `strategy.run` (replica context)" in errors[2]
    events = _events(tmp_path)
    assert _scalars(events, "count") == [(1, 4.0), (2, 4.0)]
    (step1, rows1), (step2, rows2) = events["rows"]
    assert (step1, step2) == (1, 2)
    # Replica 0 got the first half of each global batch of 4: concatenation keeps the order.
    np.testing.assert_array_equal(rows1, np.arange(0, 4, dtype=np.float32).reshape(4, 1))
    np.testing.assert_array_equal(rows2, np.arange(4, 8, dtype=np.float32).reshape(4, 1))
