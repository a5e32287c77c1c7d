"""Datasets from a legacy input_fn: (features, labels) or features, static shapes for replicas."""

import concurrent.futures
import logging

from estimator_spec_compat._compat import tf
from estimator_spec_compat._errors import short_repr
from estimator_spec_compat.runner import _tensor_input
from estimator_spec_compat.runner._calls import call_input_fn

_LOG = logging.getLogger(__name__)


def make_dataset(input_fn, *, mode, params, config, num_replicas):
    """Calls ``input_fn``; returns ``(dataset, has_labels)``.

    Elements are ``(features, labels)`` when ``has_labels``, else features alone
    (split them with `split_element`). ``input_fn`` is called eagerly; where it
    returns no dataset (TF1 tensors: ``get_next()`` of an iterator, constants) or
    raises a RuntimeError (graph-only APIs such as ``make_initializable_iterator``),
    it is called once more in a v1 graph, as Estimator called it, and its tensors
    become a dataset with Estimator's per-step semantics (`_tensor_input`).

    Raises:
      TypeError: if ``input_fn`` returns neither a dataset nor tensors.
      ValueError: if an element is a tuple/list of a length other than 2, for
        queue-based input, or if several replicas need static batch shapes the
        dataset cannot provide.
    """
    context = tf.distribute.InputContext(
        num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=num_replicas
    )

    def call():
        return call_input_fn(
            input_fn, mode=mode, params=params, config=config, input_context=context
        )

    dataset = _dataset_of(call)
    spec = dataset.element_spec
    if isinstance(spec, (tuple, list)):
        if len(spec) != 2:
            raise ValueError(
                f"`input_fn`'s dataset yields a {len(spec)}-tuple; it must yield "
                "(features, labels) or features alone, as Estimator required."
            )
        return dataset, True
    return dataset, False


def _dataset_of(call):
    """The input_fn's dataset: as returned eagerly, else from its TF1 graph."""
    try:
        result = call()
    except (RuntimeError, ValueError) as error:
        if "Queues" in str(error):  # TF's refusal of queue-based input when eager
            raise ValueError(_tensor_input.QUEUE_MESSAGE) from error
        if not isinstance(error, RuntimeError):
            raise
        # Graph-only TF1 APIs (make_initializable_iterator, placeholders) raise RuntimeError.
        _LOG.info("`input_fn` failed eagerly (%s); calling it in a TF1 graph.", error)
        result = None
    if isinstance(result, tf.data.Dataset):
        return result
    if result is not None and not _is_tensors(result):
        raise TypeError(
            f"`input_fn` must return a tf.data.Dataset, or tensors `(features, labels)` / "
            f"features as Estimator accepted; it returned {short_repr(result)}. Wrap values "
            "with `tf.data.Dataset.from_tensor_slices(...).batch(...)`."
        )
    dataset, traced = _tensor_input.dataset_from_graph(call)
    if isinstance(traced, (tuple, list)) and len(traced) != 2:
        raise ValueError(
            f"`input_fn` returned a {len(traced)}-tuple; it must return (features, labels) "
            "or features alone, as Estimator required."
        )
    return dataset


def _is_tensors(result):
    leaves = tf.nest.flatten(result, expand_composites=True)
    return bool(leaves) and all(isinstance(t, tf.Tensor) for t in leaves)


def split_element(element, has_labels):
    """``(features, labels)`` from one dataset element (labels None without them)."""
    if has_labels:
        return element[0], element[1]
    return element, None


def check_static_batch(dataset, num_replicas, mode):
    """Checks every component has a static batch dimension divisible by ``num_replicas``.

    Raises:
      ValueError: naming the components whose batch dimension does not fit.
    """
    bad = []
    for path, spec in _flat_specs(dataset.element_spec):
        dim = spec.shape[0] if spec.shape.rank else None
        if dim is None or dim % num_replicas:
            bad.append(f"{path}: shape {spec.shape}")
    if bad:
        raise ValueError(
            f"With {num_replicas} replicas, {mode} needs batches of a static size divisible "
            f"by {num_replicas}, but the dataset gives {'; '.join(bad)}. Batch with "
            "`dataset.batch(params['batch_size'], drop_remainder=True)` and a batch size "
            "that divides evenly."
        )


def per_replica_spec(element_spec, num_replicas):
    """``element_spec`` with the batch dimension divided among ``num_replicas``."""

    def split(spec):
        if spec is None or num_replicas == 1 or not spec.shape.rank:
            return spec
        dims = spec.shape.as_list()
        dims[0] = None if dims[0] is None else dims[0] // num_replicas
        return tf.TensorSpec(dims, spec.dtype, spec.name)

    return tf.nest.map_structure(split, element_spec)


def with_private_threads(dataset):
    """``dataset`` with a tf.data thread pool of its own, unless its options already set one.

    The training loop reads with ``IteratorGetNextSync`` (see `_loops`), which may
    block the runtime thread that runs it; TF allows that only where the input
    pipeline never needs that thread pool. A private pool (size 0: one thread per
    core, as TF sizes the shared pool) keeps all of tf.data's work off it. Nothing
    else changes: the same elements, in the same order.
    """
    if dataset.options().threading.private_threadpool_size is not None:
        return dataset
    options = tf.data.Options()
    options.threading.private_threadpool_size = 0
    return dataset.with_options(options)


def _flat_specs(element_spec):
    flat = tf.nest.flatten(element_spec)
    return [
        (f"component {i} ({spec.name or spec.dtype.name})", spec) for i, spec in enumerate(flat)
    ]


def pad_batch(batch, size):
    """Pads every tensor of ``batch`` to ``size`` rows by repeating its last row.

    Returns:
      ``(padded_batch, real_rows)``.
    """
    rows = int(tf.nest.flatten(batch)[0].shape[0])

    def pad(t):
        if rows == size:
            return t
        extra = tf.repeat(t[-1:], size - rows, axis=0)
        return tf.concat([t, extra], axis=0)

    return tf.nest.map_structure(pad, batch), rows


# One thread that drops iterators (see release_in_background).
_RELEASER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="runner")


def release_in_background(box):
    """Empties ``box`` (a list holding the only reference to an iterator) on a helper thread.

    Destroying a tf.data iterator can block for hundreds of milliseconds (measured
    on TF 2.15: up to ~0.5 s after a second of training, ~0 with tf.data autotuning
    off, so it waits on the autotuning thread); a ``train`` call need not wait for
    that. The iterator is gone soon after, as at the end of ``train`` (or of an
    Estimator's Session).

    Returns:
      The ``concurrent.futures.Future`` of the release (None if it happened here).
    """
    try:
        return _RELEASER.submit(box.clear)
    except RuntimeError:  # the interpreter is shutting down: no new threads
        box.clear()
        return None
