"""The training loop's cost-saving paths keep their promises (no timings here).

Expected values are computed by hand from the data (which batches, in which
order), never taken from the runner.
"""

import gc
import weakref

import numpy as np
import pytest

from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import Runner, RunnerConfig, _data, _loops
from estimator_spec_compat.spec import EstimatorSpec

BATCH, ROWS = 4, 24  # 6 batches per pass over the data


def _values():
    return np.arange(ROWS, dtype=np.float64) + 1.0


def _batch_sums(count):
    """The sums of the first ``count`` batches of `_values`, repeated forever."""
    repeated = np.tile(_values(), count * BATCH // ROWS + 1)
    return [repeated[i * BATCH : (i + 1) * BATCH].sum() for i in range(count)]


def _horner(sums, start=0.0):
    """``h = 3 h + sum`` over the batches: equal only for the same batches in the same order."""
    h = start
    for s in sums:
        h = 3.0 * h + s
    return h


def _dataset(repeat=True, sparse=False):
    ds = tf.data.Dataset.from_tensor_slices({"x": _values()})
    ds = ds.repeat() if repeat else ds
    ds = ds.batch(BATCH)
    if sparse:
        ds = ds.map(lambda e: {"x": e["x"], "s": tf.sparse.from_dense(e["x"])})
    return ds


def _order_model_fn(features, mode):
    """A TF1 model_fn whose only state is a hash of the batches it trained on, in order."""
    v1 = tf.compat.v1
    h = v1.get_variable("h", [], tf.float64, initializer=v1.zeros_initializer())
    total = tf.reduce_sum(features["x"])
    step = v1.train.get_global_step()
    train_op = tf.group(h.assign(3.0 * h + total), v1.assign_add(step, 1))
    return EstimatorSpec(mode, loss=tf.cast(total, tf.float32), train_op=train_op)


def _loop_ops(concrete):
    """Op types of a concrete function's graph and of every function it calls."""
    graph_def = concrete.graph.as_graph_def()
    ops = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        ops.update(node.op for node in function.node_def)
    return ops


@pytest.mark.parametrize(
    "steps_per_loop, steps",
    [
        pytest.param(3, 10, id="loops-3-3-3-1"),
        pytest.param(4, 8, id="loops-4-4"),
        pytest.param(10, 7, id="one-short-loop"),
    ],
)
def test_infinite_input_trains_on_exactly_the_next_batches(tmp_path, steps_per_loop, steps):
    config = RunnerConfig(steps_per_loop=steps_per_loop, save_summary_steps=None)
    runner = Runner(model_fn=_order_model_fn, model_dir=str(tmp_path), config=config)
    runner.train(lambda params: _dataset(), steps=steps)
    assert runner.get_variable_value("global_step") == steps
    assert runner.get_variable_value("h") == _horner(_batch_sums(steps))
    # A new train call reads its input_fn from the start again, as Estimator did.
    runner.train(lambda params: _dataset(), steps=5)
    assert runner.get_variable_value("global_step") == steps + 5
    expected = _horner(_batch_sums(5), start=_horner(_batch_sums(steps)))
    assert runner.get_variable_value("h") == expected
    assert runner._programs.train_tracing_count == 1


def test_finite_input_trains_on_every_batch_then_stops(tmp_path):
    config = RunnerConfig(steps_per_loop=4, save_summary_steps=None)
    runner = Runner(model_fn=_order_model_fn, model_dir=str(tmp_path), config=config)
    runner.train(lambda params: _dataset(repeat=False), steps=100)  # 6 batches: loops of 4, 2
    assert runner.get_variable_value("global_step") == ROWS // BATCH
    assert runner.get_variable_value("h") == _horner(_batch_sums(ROWS // BATCH))


def _sum_loop(infinite):
    @tf.function(autograph=False)
    def run(iterator, n):
        def body(element, total):
            return total + tf.reduce_sum(element["x"])

        return _loops._loop(iterator, n, body, tf.constant(0.0, tf.float64), infinite)

    return run


@pytest.mark.parametrize(
    "repeat, sparse, synchronous",
    [
        pytest.param(True, False, True, id="infinite-dense-synchronous"),
        pytest.param(True, True, False, id="infinite-sparse-get_next"),
        pytest.param(False, False, False, id="finite-get_next_as_optional"),
    ],
)
def test_loop_reads_synchronously_only_infinite_plain_tensors(repeat, sparse, synchronous):
    iterator = iter(_data.with_private_threads(_dataset(repeat=repeat, sparse=sparse)))
    loop = _sum_loop(infinite=repeat)
    count = tf.TensorSpec([], tf.int64)
    ops = _loop_ops(loop.get_concrete_function(iterator, count))
    assert ("IteratorGetNextSync" in ops) == synchronous
    assert ("IteratorGetNext" in ops) == (repeat and not synchronous)
    for n, start in ((2, 0), (3, 2)):  # two calls on one iterator: it goes on where it was
        steps, total = loop(iterator, tf.constant(n, tf.int64))
        assert int(steps) == n
        assert float(total) == sum(_batch_sums(start + n)[start:])
    assert loop.experimental_get_tracing_count() == 1


def test_with_private_threads_keeps_a_users_pool_and_the_elements():
    plain = _dataset(repeat=False)
    ours = _data.with_private_threads(plain)
    assert plain.options().threading.private_threadpool_size is None
    assert ours.options().threading.private_threadpool_size == 0  # 0: one thread per core
    options = tf.data.Options()
    options.threading.private_threadpool_size = 3
    users = plain.with_options(options)
    assert _data.with_private_threads(users).options().threading.private_threadpool_size == 3
    got = [e["x"].numpy() for e in ours]
    np.testing.assert_array_equal(np.concatenate(got), _values())


def test_synchronous_reads_finish_with_one_runtime_thread(python_subprocess):
    # IteratorGetNextSync blocks the runtime thread running it while tf.data works; with
    # one inter-op thread, a parallel map calling Python must still make progress.
    out = python_subprocess(
        """
        import numpy as np
        import tensorflow as tf
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(1)
        from estimator_spec_compat.runner import _data, _loops

        def double(x):
            return tf.py_function(lambda v: v * 2, [x], tf.int64)

        ds = tf.data.Dataset.range(10**6).map(double, num_parallel_calls=4).batch(4)
        iterator = iter(_data.with_private_threads(ds))

        @tf.function(autograph=False)
        def run(iterator, n):
            body = lambda element, total: total + tf.reduce_sum(element)
            return _loops._loop(iterator, n, body, tf.constant(0, tf.int64), True)

        steps, total = run(iterator, tf.constant(50, tf.int64))
        print(int(steps), int(total))
        del iterator  # ends the pipeline's Python calls before the interpreter exits
        """,
        timeout=120,
    )
    assert out.split() == ["50", str(2 * sum(range(200)))]


def test_release_in_background_drops_the_only_reference():
    iterator = iter(tf.data.Dataset.range(10).repeat())
    next(iterator)
    alive = weakref.ref(iterator)
    box = [iterator]
    del iterator
    _data.release_in_background(box).result(timeout=60)
    gc.collect()
    assert box == []
    assert alive() is None
