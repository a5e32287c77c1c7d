"""run_host_call against the real TPUEstimator(use_tpu=False) (estimator world).

One legacy host_call body (it opens its own writer, writes v2 summaries with
the step it is given, returns ``all_v2_summary_ops()``) runs once inside the
real TPUEstimator for three training steps, and once through
``run_host_call`` on the same tensors. The event files, read back with TF's
event reader, must hold the same tags, steps and values; the expected values
are also computed by hand.
"""

import collections
import glob
import os

import numpy as np
import pytest

from estimator_spec_compat._compat import tf
from estimator_spec_compat.convert.summaries import run_host_call

pytestmark = pytest.mark.estimator_world

ROWS = np.arange(12, dtype=np.float32).reshape(12, 1)
BATCH = 4


def _host_fn_writing_to(logdir):
    def host_fn(gs, x):
        with tf.compat.v2.summary.create_file_writer(logdir).as_default():
            tf.compat.v2.summary.scalar("x_mean", tf.reduce_mean(x), step=gs[0])
            tf.compat.v2.summary.write("x_rows", x, step=gs[0])
        return tf.compat.v1.summary.all_v2_summary_ops()

    return host_fn


def _events(logdir):
    result = collections.defaultdict(list)
    for path in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                result[value.tag].append((event.step, tf.make_ndarray(value.tensor).tolist()))
    return {tag: sorted(items) for tag, items in result.items()}


def _tpu_estimator_events(model_dir):
    logdir = os.path.join(model_dir, "host_call")

    def model_fn(features, labels, mode, params):
        del labels, params
        w = tf.compat.v1.get_variable("w", [1, 1])
        loss = tf.reduce_mean(tf.square(tf.matmul(features, w)))
        global_step = tf.compat.v1.train.get_global_step()
        gs = tf.reshape(tf.identity(global_step), [1])
        with tf.control_dependencies([gs]):  # read the step before it is incremented
            train_op = tf.compat.v1.train.GradientDescentOptimizer(0.0).minimize(
                loss, global_step=global_step
            )
        return tf.compat.v1.estimator.tpu.TPUEstimatorSpec(
            mode,
            loss=loss,
            train_op=train_op,
            host_call=(_host_fn_writing_to(logdir), [gs, features]),
        )

    def input_fn(params):
        return tf.data.Dataset.from_tensor_slices(ROWS).batch(params["batch_size"])

    estimator = tf.compat.v1.estimator.tpu.TPUEstimator(
        model_fn=model_fn,
        use_tpu=False,
        train_batch_size=BATCH,
        config=tf.compat.v1.estimator.tpu.RunConfig(model_dir=model_dir),
    )
    estimator.train(input_fn, steps=len(ROWS) // BATCH)
    return _events(logdir)


def _host_fn_using_default_writer(gs, x):
    """The same body without its own writer: the form to use inside a tf.function.

    TF2 destroys a writer created inside a tf.function when the trace ends, so a
    body that opens its own writer works eagerly only.
    """
    tf.compat.v2.summary.scalar("x_mean", tf.reduce_mean(x), step=gs[0])
    tf.compat.v2.summary.write("x_rows", x, step=gs[0])
    return tf.compat.v1.summary.all_v2_summary_ops()


@pytest.mark.parametrize(
    "in_function",
    [pytest.param(False, id="eager_own_writer"), pytest.param(True, id="tf_function_writer_arg")],
)
def test_same_events_as_tpu_estimator(tmp_path, in_function):
    theirs = _tpu_estimator_events(os.fspath(tmp_path / "estimator"))
    logdir = os.fspath(tmp_path / "ours")
    if in_function:
        host_fn, writer = _host_fn_using_default_writer, tf.summary.create_file_writer(logdir)
    else:
        host_fn, writer = _host_fn_writing_to(logdir), None

    def one_step(step, rows):
        gs = tf.reshape(tf.cast(step, tf.int64), [1])
        run_host_call((host_fn, [gs, rows]), step=step, writer=writer)

    one_step = tf.function(one_step) if in_function else one_step
    for step in range(len(ROWS) // BATCH):
        one_step(tf.constant(step, tf.int64), tf.constant(ROWS[step * BATCH : (step + 1) * BATCH]))
    if writer is not None:
        writer.flush()
    ours = _events(logdir)

    by_hand = [(s, float(ROWS[s * BATCH : (s + 1) * BATCH].mean())) for s in range(3)]
    assert ours["x_mean"] == by_hand
    assert ours == theirs
