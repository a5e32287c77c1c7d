"""A tf.data.Dataset from a TF1 input_fn that returns tensors, with Estimator's per-step semantics.

Estimator called ``input_fn`` in its graph and ran the returned tensors once per
``Session.run``, i.e. once per step:

* ``make_one_shot_iterator(ds).get_next()`` / ``make_initializable_iterator``'s:
  the next element of ``ds`` each step, the input ending when ``ds`` ends.
* tensors of no iterator (constants, random ops): the same computation each
  step, for ever (a constant batch is the same batch every step).

Here ``input_fn`` is traced once in a v1 graph (``tf.compat.v1.wrap_function``).
The dataset behind each iterator is recovered from that graph (the variant
``MakeIterator`` consumed, or a call of the one-shot iterator's dataset factory)
and read eagerly with ``tf.data.experimental.from_variant``; whatever
``input_fn`` computed from ``get_next()``'s tensors becomes a ``map`` of the
pruned graph. The input is thus a plain dataset, as fast as one the input_fn
would have returned. Estimator did not run a ``make_initializable_iterator``'s
initializer unless the input_fn put it in ``TABLE_INITIALIZERS`` (else
``FailedPreconditionError``); here the dataset is read from its start either way.

Queue-based input (QueueRunners) is refused with the tf.data replacement.
"""

import logging

from estimator_spec_compat._compat import tf

_LOG = logging.getLogger(__name__)

_GET_NEXT = frozenset({"IteratorGetNext", "IteratorGetNextSync"})
_QUEUE_OPS = frozenset(
    {
        "FIFOQueueV2",
        "PaddingFIFOQueueV2",
        "RandomShuffleQueueV2",
        "PriorityQueueV2",
        "QueueDequeueV2",
        "QueueDequeueManyV2",
        "QueueDequeueUpToV2",
        "ReaderReadV2",
        "ReaderReadUpToV2",
    }
)
QUEUE_MESSAGE = (
    "`input_fn` reads its input through queues (QueueRunners: "
    "`tf.compat.v1.train.string_input_producer`, `shuffle_batch`, `batch`, "
    "`TFRecordReader`...), which need a Session's queue-runner threads; TF2 has "
    "none. Build the same input with tf.data and return the dataset: "
    "`string_input_producer(files)` -> `tf.data.Dataset.from_tensor_slices(files)`; "
    "a reader -> `.interleave(tf.data.TFRecordDataset)` (or `TextLineDataset`); "
    "parsing -> `.map(parse_fn)`; `shuffle_batch(..., batch_size, min_after_dequeue)` -> "
    "`.shuffle(min_after_dequeue).batch(batch_size)`; `batch(..., batch_size)` -> "
    "`.batch(batch_size)`; `num_epochs` -> `.repeat(num_epochs)`."
)


def dataset_from_graph(call):
    """Traces ``call()`` (the input_fn) in a v1 graph; returns ``(dataset, result)``.

    Args:
      call: a callable of no arguments returning what the input_fn returns.

    Returns:
      ``(dataset, result)``: a dataset whose elements are ``result``'s structure
      (features, or ``(features, labels)`` where ``result`` is a pair), and the
      traced result itself (its tensors live in the v1 graph).

    Raises:
      ValueError: for queue-based input, feeds (placeholders), an iterator whose
        dataset cannot be recovered, or one iterator read twice per step.
    """
    holder = {}

    def graph_fn():
        holder["result"] = call()

    try:
        wrapped = tf.compat.v1.wrap_function(graph_fn, [])
    except RuntimeError as error:  # TF refuses queues in function graphs too
        if "Queues" in str(error):
            raise ValueError(QUEUE_MESSAGE) from error
        raise
    result = holder["result"]
    graph = wrapped.graph
    _check_no_queues(graph)
    if isinstance(result, tf.data.Dataset):  # graph-only code that built a dataset
        variant = wrapped.prune([], tf.data.experimental.to_variant(result))()
        dataset = tf.data.experimental.from_variant(variant, result.element_spec)
        return dataset, result
    result = tuple(result) if isinstance(result, list) else result
    flat = tf.nest.flatten(result, expand_composites=True)
    ops = _ancestors(flat)
    _check_no_feeds(ops)
    get_nexts = sorted((op for op in ops if op.type in _GET_NEXT), key=lambda op: op.name)
    if not get_nexts:
        return _repeated(wrapped, result, ops), result
    return _from_iterators(wrapped, result, get_nexts), result


def _ancestors(tensors):
    """Every op the tensors depend on, stopping at ``get_next`` ops (kept)."""
    seen, stack = {}, [t.op for t in tensors]
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen[op.name] = op
        if op.type in _GET_NEXT:
            continue
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return list(seen.values())


def _check_no_queues(graph):
    queue_runners = graph.get_collection(tf.compat.v1.GraphKeys.QUEUE_RUNNERS)
    if queue_runners or any(op.type in _QUEUE_OPS for op in graph.get_operations()):
        raise ValueError(QUEUE_MESSAGE)


def _check_no_feeds(ops):
    feeds = sorted(op.name for op in ops if op.type == "Placeholder")
    if feeds:
        raise ValueError(
            f"`input_fn` returns tensors that need fed placeholders ({feeds}); nothing "
            "feeds them without a Session. Return a tf.data.Dataset of the values instead "
            "(e.g. `tf.data.Dataset.from_tensor_slices((features, labels)).batch(n)`)."
        )


def _repeated(wrapped, result, ops):
    """No iterator: the same computation every step, for ever (as Session.run each step)."""
    compute = wrapped.prune([], result)
    if not any(op.op_def.is_stateful for op in ops):  # a constant batch: compute it once
        _LOG.info(
            "`input_fn` returns constant tensors: the same batch every step, as under Estimator."
        )
        return tf.data.Dataset.from_tensors(compute()).repeat()
    _LOG.info(
        "`input_fn` returns tensors of stateful ops: computed anew every step, as under Estimator."
    )
    return tf.data.Dataset.from_tensors(0).repeat().map(lambda _: compute())


def _from_iterators(wrapped, result, get_nexts):
    """The datasets behind the iterators, zipped, mapped through what input_fn computed."""
    iterators = [op.inputs[0].op for op in get_nexts]
    names = [op.name for op in iterators]
    if len(set(names)) < len(names):
        raise ValueError(
            "`input_fn` calls `get_next()` more than once on one iterator; Estimator read "
            "an element for each call every step, in no fixed order. Call `get_next()` "
            "once and use its result everywhere."
        )
    parts = [
        _recovered(wrapped, get_next, iterator) for get_next, iterator in zip(get_nexts, iterators)
    ]
    _LOG.info(
        "`input_fn` returns `get_next()` of %s; the runner reads the dataset behind it "
        "(the input ends when it ends, as under Estimator).",
        ", ".join(f"{op.type} {op.name!r}" for op in iterators),
    )
    outputs = [t for op in get_nexts for t in op.outputs]
    flat = tf.nest.flatten(result, expand_composites=True)
    if (
        len(parts) == 1
        and _same_tensors(flat, outputs)
        and len(flat) == len(tf.nest.flatten(result))
    ):
        variant, specs = parts[0]  # input_fn returned get_next() itself: no map needed
        return tf.data.experimental.from_variant(variant, tf.nest.pack_sequence_as(result, specs))
    datasets = tuple(tf.data.experimental.from_variant(*part) for part in parts)
    post = wrapped.prune(outputs, result)
    if len(datasets) == 1:
        return datasets[0].map(lambda *flat_element: post(*flat_element))
    zipped = tf.data.Dataset.zip(datasets)
    return zipped.map(lambda *elements: post(*(t for element in elements for t in element)))


def _recovered(wrapped, get_next, iterator):
    """``(eager dataset variant, flat element specs)`` of ``iterator``'s dataset."""
    variant = wrapped.prune([], _dataset_variant(wrapped.graph, iterator))()
    shapes, dtypes = get_next.get_attr("output_shapes"), get_next.get_attr("output_types")
    return variant, tuple(tf.TensorSpec(shape, dtype) for shape, dtype in zip(shapes, dtypes))


def _same_tensors(a, b):
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _dataset_variant(graph, iterator):
    """The dataset variant tensor behind ``iterator`` (an op of ``graph``)."""
    if iterator.type == "OneShotIterator":
        factory = iterator.get_attr("dataset_factory").name
        with graph.as_default():
            return tf.raw_ops.StatefulPartitionedCall(
                args=[], Tout=[tf.variant], f=factory, name="recovered_dataset"
            )[0]
    for op in graph.get_operations():
        if op.type == "MakeIterator" and op.inputs[1].op is iterator:
            return op.inputs[0]
    raise ValueError(
        f"`input_fn` returns `get_next()` of a {iterator.type} iterator ({iterator.name!r}) "
        "whose dataset cannot be recovered (a feedable or string-handle iterator?). Return "
        "the tf.data.Dataset itself, or `make_one_shot_iterator(dataset).get_next()`."
    )
