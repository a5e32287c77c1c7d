"""The runner's compiled programs: many steps per call in a TF while loop.

Each program is one ``tf.function`` (``autograph=False``: the model_fn runs as
written, as under Estimator, not converted by AutoGraph) whose step count is a
tensor argument, so a shorter last loop does not retrace. Inputs come from an
iterator passed in; a finite input ends the loop early (``get_next_as_optional``)
and the program reports how many steps it ran.

An infinite input of plain tensors is read with ``IteratorGetNextSync``, the
same iterator call made on the loop's own thread: ``get_next`` hands each read
to tf.data's reader thread and back (measured on CPU, TF 2.15 and 2.21: about a
fifth of a small MLP's step with its input prefetched, 3-10% of the benchmark's
whole training call). TF allows the synchronous read where the pipeline never
needs the thread it blocks; `_data.with_private_threads` gives every one-replica
dataset its own tf.data thread pool, which guarantees that.
"""

from estimator_spec_compat._compat import tf


def _loop(iterator, n, body_fn, initial, infinite, stop=None):
    """Runs ``body_fn(element, carried) -> carried`` up to ``n`` times.

    ``stop(carried) -> bool tensor``, if given, ends the loop early after the step
    that makes it true (one scalar op per step, in the loop's condition).

    Returns:
      ``(steps_run, carried)``.
    """

    def more(i, carried):
        return i < n if stop is None else tf.logical_and(i < n, tf.logical_not(stop(carried)))

    if infinite:  # no end-of-input check: the plain, fastest path
        read = _sync_reader(iterator) or iterator.get_next
        return tf.while_loop(
            more,
            lambda i, carried: (i + 1, body_fn(read(), carried)),
            (tf.constant(0, tf.int64), initial),
        )

    def cond(i, done, carried):
        return tf.logical_and(more(i, carried), tf.logical_not(done))

    def body(i, done, carried):
        optional = iterator.get_next_as_optional()
        has_value = optional.has_value()
        carried = tf.cond(
            has_value, lambda: body_fn(optional.get_value(), carried), lambda: carried
        )
        return i + tf.cast(has_value, tf.int64), tf.logical_not(has_value), carried

    steps, _, carried = tf.while_loop(
        cond, body, (tf.constant(0, tf.int64), tf.constant(False), initial)
    )
    return steps, carried


def _sync_reader(iterator):
    """``iterator.get_next`` as one ``IteratorGetNextSync`` op, or None where it does not apply.

    It applies to a tf.data iterator (one resource) of plain tensors, not to a
    distributed iterator or to sparse or ragged components.
    """
    if not isinstance(iterator, tf.data.Iterator):
        return None
    specs = tf.nest.flatten(iterator.element_spec)
    if not all(type(spec) is tf.TensorSpec for spec in specs):
        return None
    resources = tf.nest.flatten(iterator, expand_composites=True)
    if len(resources) != 1 or resources[0].dtype != tf.resource:
        return None

    def read():
        flat = tf.raw_ops.IteratorGetNextSync(
            iterator=resources[0],
            output_types=[spec.dtype for spec in specs],
            output_shapes=[spec.shape for spec in specs],
        )
        return tf.nest.pack_sequence_as(iterator.element_spec, flat)

    return read


def make_train_loop(make_step, host_call, summarize_flag=None, stop_on_nan_loss=True):
    """A ``tf.function(iterator, n, infinite, summarize)`` running ``n`` train steps.

    Args:
      make_step: called once per trace at the function's top level; returns
        ``step(element) -> fetches`` (``loss``: the replicas' mean, ``host``: TPU
        host_call tensors or absent, ``summary``: the model_fn's summaries, where
        ``summarize_flag`` is set), called in cross-replica context.
      host_call: ``host_call_tensors -> None``, run after each step.
      summarize_flag: the boolean variable the step's ``summary`` depends on
        (`_summaries.on_demand`), or None if the model_fn makes no summaries. It is
        set for the loop's last step when the ``summarize`` argument is True.
      stop_on_nan_loss: end the loop after the first step whose loss is NaN (the
        caller raises: `_checks.LoopChecks`), as Estimator's NanTensorHook stopped
        at that step.

    Returns:
      The tf.function; it returns ``(steps_run, last_mean_loss, last_summary)`` (the
      loss means nothing when no step ran).
    """

    @tf.function(autograph=False)
    def train_loop(iterator, n, infinite, summarize):
        step = make_step()

        def body(element, carried):
            k = carried[2]
            wanted = []
            if summarize_flag is not None:
                wanted = [summarize_flag.assign(tf.logical_and(summarize, k + 1 == n))]
            with tf.control_dependencies(wanted):
                fetches = step(element)
            if fetches.get("host") is not None:
                host_call(fetches["host"])
            loss = tf.cast(fetches["loss"], tf.float32)
            return loss, fetches.get("summary", carried[1]), k + 1

        # The first loss carried is 0 (no step has run, so it is never read), not NaN.
        initial = (tf.constant(0.0), tf.constant(b""), tf.constant(0, tf.int64))
        stop = (lambda carried: tf.math.is_nan(carried[0])) if stop_on_nan_loss else None
        steps, (loss, summary, _) = _loop(iterator, n, body, initial, infinite, stop)
        return steps, loss, summary

    return train_loop


def make_eval_loop(body_fn):
    """A ``tf.function(iterator, n) -> steps_run`` running ``body_fn(element)`` ``n`` times."""

    def body(element, count):
        body_fn(element)
        return count

    @tf.function(autograph=False)
    def eval_loop(iterator, n):
        return _loop(iterator, n, body, tf.constant(0), infinite=False)[0]

    return eval_loop


def make_predict_step(strategy, predict_fn):
    """A ``tf.function(batch) -> (predictions, hooks' tensors or None)``.

    The batch is split among the replicas and their predictions gathered back;
    the hooks' tensors (``predict_fn``'s ``hooks`` fetch, if any) are the first
    replica's.
    """
    replicas = strategy.num_replicas_in_sync

    def split(element, ctx):
        i = ctx.replica_id_in_sync_group

        def part(t):
            size = tf.shape(t)[0] // replicas
            return t[i * size : (i + 1) * size]

        return tf.nest.map_structure(part, element)

    @tf.function(autograph=False)
    def predict_step(element):
        if replicas == 1:
            out = predict_fn(*tf.nest.flatten(element))
            return out["predictions"], out.get("hooks")
        per_replica = strategy.experimental_distribute_values_from_function(
            lambda ctx: split(element, ctx)
        )
        out = strategy.run(lambda e: predict_fn(*tf.nest.flatten(e)), (per_replica,))
        predictions = tf.nest.map_structure(
            lambda t: strategy.gather(t, axis=0), out["predictions"]
        )
        hooks = out.get("hooks")
        if hooks is not None:
            hooks = tf.nest.map_structure(
                lambda v: strategy.experimental_local_results(v)[0], hooks
            )
        return predictions, hooks

    return predict_step
