"""The model_fn's own ``tf.compat.v1.summary`` ops, computed only on the steps that write them.

Estimator's SummarySaverHook fetched ``merge_all()`` every ``save_summary_steps``
steps of one graph. Here the train step is one function run every step; a
second function fetching the summaries would hold its own kernels of seeded
random ops (dropout), so their sequences would differ from Estimator's. So the
step itself computes them, but under a ``tf.cond`` on a flag the loop sets for
the steps whose summaries are written: the summary ops (a histogram costs a
small MLP's step ~45% on CPU) are rebuilt inside the branch from the tensors
they summarize, which the step computes anyway.
"""

from estimator_spec_compat._compat import tf


def on_demand(flag):
    """The current graph's merged SUMMARIES, computed only where ``flag`` is True, or None.

    Args:
      flag: a boolean ``tf.Variable`` read when the step runs.

    Returns:
      A string tensor (a serialized ``Summary``, ``b""`` where ``flag`` is False),
      or None if the graph has no summaries.
    """
    summaries = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.SUMMARIES)
    if not summaries:
        return None
    if not all(_rebuildable(t) for t in summaries):  # an unknown op: computed every step
        return tf.compat.v1.summary.merge(summaries)
    return tf.cond(
        flag.read_value(),
        lambda: tf.raw_ops.MergeSummary(inputs=[_REBUILD[t.op.type](t.op) for t in summaries]),
        lambda: tf.constant(b""),
    )


def _rebuildable(tensor):
    if tensor.op.type == "MergeSummary":
        return all(_rebuildable(t) for t in tensor.op.inputs)
    return tensor.op.type in _REBUILD


def _attrs(*names):
    return lambda op: {name: op.get_attr(name) for name in names}


def _op(make, input_names, attrs=lambda op: {}):
    def rebuild(op):
        return make(**dict(zip(input_names, op.inputs)), **attrs(op))

    return rebuild


#: Op type -> how to make it again from the original op (TF1's summary ops).
_REBUILD = {
    "ScalarSummary": _op(tf.raw_ops.ScalarSummary, ["tags", "values"]),
    "HistogramSummary": _op(tf.raw_ops.HistogramSummary, ["tag", "values"]),
    "ImageSummary": _op(
        tf.raw_ops.ImageSummary, ["tag", "tensor"], _attrs("max_images", "bad_color")
    ),
    "AudioSummaryV2": _op(
        tf.raw_ops.AudioSummaryV2, ["tag", "tensor", "sample_rate"], _attrs("max_outputs")
    ),
    "TensorSummaryV2": _op(
        tf.raw_ops.TensorSummaryV2, ["tag", "tensor", "serialized_summary_metadata"]
    ),
}
_REBUILD["MergeSummary"] = lambda op: tf.raw_ops.MergeSummary(
    inputs=[_REBUILD[t.op.type](t.op) for t in op.inputs]
)
