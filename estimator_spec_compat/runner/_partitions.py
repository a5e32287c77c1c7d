"""Partitioned variables, named, saved and restored as TF1's Saver did.

A model_fn that asks for a partitioned variable (``get_variable(partitioner=...)``,
a ``variable_scope`` partitioner: ``fixed_size_partitioner``,
``min_max_variable_partitioner``, ``variable_axis_size_partitioner``; feature
columns and canned estimators use them) gets one variable per part,
``name/part_0``, ``name/part_1`` ..., each knowing where it lies in the whole
(its ``tf.Variable.SaveSliceInfo``: full name, full shape, offset, shape). The
store keeps the parts by those names. TF1's Saver never wrote a ``part_N`` key:
each part is one slice of the full name (``SaveV2``'s ``shape_and_slices``, e.g.
``"10 3 0,4:0,3"``), and a restore reads each part's slice of the full tensor
(``RestoreV2`` with the same spec, whatever slices the checkpoint holds). v1
optimizer slots of a part are parts themselves (``name/part_0/Adam`` is a slice
of ``name/Adam``). `Estimator.get_variable_names` listed checkpoint keys, so full
names; its ``get_variable_value`` returned the whole tensor.
"""

import contextlib
import logging

import numpy as np

from estimator_spec_compat._compat import (
    CHECKPOINT_UTILS,
    SLOT_CREATOR,
    save_slice_info,
    set_save_slice_info,
    tf,
)

_LOG = logging.getLogger("estimator_spec_compat.runner")
v1 = tf.compat.v1
_WARNED = []


def checkpoint_key(name, variable):
    """``(key, slice spec)`` under which TF1's Saver wrote ``variable`` (stored as ``name``).

    A part gives its full name and its slice spec; any other variable its own
    name and ``""`` (the whole tensor).
    """
    info = save_slice_info(variable)
    if info is None:
        return name, ""
    return info.full_name, info.spec


def layout(variables):
    """``[(key, spec, name)]`` for ``variables`` (name -> variable), in the Saver's order
    (by key; the slices of one key by offset)."""
    rows = []
    for name, variable in variables.items():
        key, spec = checkpoint_key(name, variable)
        info = save_slice_info(variable)
        rows.append((key, tuple(info.var_offset) if info else (), spec, name))
    return [(key, spec, name) for key, _, spec, name in sorted(rows)]


def is_part(variable):
    """Whether ``variable`` is one part of a partitioned variable."""
    return save_slice_info(variable) is not None


def full_shape(variable):
    """The shape of the whole tensor ``variable`` is a part of (its own shape if none)."""
    info = save_slice_info(variable)
    return list(info.full_shape) if info else variable.shape.as_list()


def grouped(variables):
    """Checkpoint key -> the names in ``variables`` (name -> variable) saved under it."""
    groups = {}
    for key, _, name in layout(variables):
        groups.setdefault(key, []).append(name)
    return groups


def full_value(variables, names):
    """The whole tensor that the parts ``names`` of ``variables`` make up, as numpy."""
    first = variables[names[0]]
    if save_slice_info(first) is None:
        return first.numpy()
    whole = np.zeros(full_shape(first), first.dtype.as_numpy_dtype)
    for name in names:
        info = save_slice_info(variables[name])
        where = tuple(slice(o, o + n) for o, n in zip(info.var_offset, info.var_shape))
        whole[where] = variables[name].numpy()
    return whole


def read(prefix, requests):
    """Reads ``[(key, spec, dtype)]`` from checkpoint ``prefix`` in one ``RestoreV2``,
    as TF1's Saver (a slice spec reads that slice of the saved tensor, however the
    checkpoint stored it)."""
    if not requests:
        return []
    keys, specs, dtypes = zip(*requests)
    return tf.raw_ops.RestoreV2(
        prefix=prefix,
        tensor_names=list(keys),
        shape_and_slices=list(specs),
        dtypes=[tf.as_dtype(d).base_dtype for d in dtypes],
    )


def spec_shape(spec):
    """The full shape a slice spec (``"10 3 0,4:0,3"``) names."""
    return [int(d) for d in spec.split(" ")[:-1]]


@contextlib.contextmanager
def tf1_partitions():
    """While active (the store's traces), v1 code handles the store's parts as in TF1:
    `partitioned_slots` and `sliced_checkpoint_initializers`."""
    with partitioned_slots(), sliced_checkpoint_initializers():
        yield


@contextlib.contextmanager
def sliced_checkpoint_initializers():
    """``init_from_checkpoint`` onto a part: its restore op reads the part's slice.

    TF's ``_set_checkpoint_initializer`` builds that ``RestoreV2`` op, then an assign
    through ``primary.op`` (missing on the store's variables). The store only reads
    the restore op back (`VariableStore.collect_warm_starts`), so for a slice only
    the op is made; whole tensors are left to TF's code.
    """
    original = CHECKPOINT_UTILS._set_checkpoint_initializer

    def set_checkpoint_initializer(
        variable, ckpt_file, tensor_name, slice_spec, name="checkpoint_initializer"
    ):
        if not slice_spec:
            return original(variable, ckpt_file, tensor_name, slice_spec, name)
        with tf.device("/cpu:0"):
            (restore,) = tf.raw_ops.RestoreV2(
                prefix=ckpt_file,
                tensor_names=[tensor_name],
                shape_and_slices=[slice_spec],
                dtypes=[variable.dtype.base_dtype],
                name=name,
            )
        variable._initial_value = restore
        return None

    CHECKPOINT_UTILS._set_checkpoint_initializer = set_checkpoint_initializer
    try:
        yield
    finally:
        CHECKPOINT_UTILS._set_checkpoint_initializer = original


@contextlib.contextmanager
def partitioned_slots():
    """v1 slots of a part become parts of the full name's slot, as in TF1.

    TF's ``slot_creator`` gives a partitioned primary's slot its slice through
    ``primary.op.name``, which the store's variables (made eagerly) lack; this
    computes the same slice (``full_name/<slot>``, the primary's partitioning cut
    to the slot's rank) from the variable's name instead. Other primaries are
    left to TF's code as they are.
    """
    create = SLOT_CREATOR._create_slot_var

    def create_slot_var(primary, val, scope, *args, **kwargs):
        info = save_slice_info(primary) if isinstance(primary, tf.Variable) else None
        if info is None:
            return create(primary, val, scope, *args, **kwargs)
        components = _components(primary)
        for component in components:
            set_save_slice_info(component, None)
        try:
            slot = create(primary, val, scope, *args, **kwargs)
        finally:
            for component in components:
                set_save_slice_info(component, info)
        rank = slot.shape.ndims
        if rank is None or rank > 0:
            slot_name = slot.name[len(primary.name[: -len(":0")] + "/") : -len(":0")]
            set_save_slice_info(
                slot,
                tf.Variable.SaveSliceInfo(
                    f"{info.full_name}/{slot_name}",
                    info.full_shape[:rank],
                    info.var_offset[:rank],
                    info.var_shape[:rank],
                ),
            )
        return slot

    SLOT_CREATOR._create_slot_var = create_slot_var
    try:
        yield
    finally:
        SLOT_CREATOR._create_slot_var = create


@contextlib.contextmanager
def without_partitioners():
    """``get_variable`` ignores ``partitioner=`` (and a variable_scope's), with TF's own
    warning, as in Estimator's ``train_distribute`` scope (MirroredStrategy and
    OneDeviceStrategy did not partition). The checkpoint keeps the full names, so
    it stays interchangeable with partitioned runs (a restore reads any slice)."""

    def drop_partitioner(getter, *args, **kwargs):
        if kwargs.pop("partitioner", None) is not None and not _WARNED:
            _WARNED.append(True)  # once, as TF's log_first_n
            _LOG.warning(
                "Partitioned variables are disabled when using current tf.distribute.Strategy."
            )
        return getter(*args, **kwargs)

    with v1.variable_scope(v1.get_variable_scope(), custom_getter=drop_partitioner):
        yield


def _components(variable):
    values = getattr(variable, "values", None)  # a distributed variable's own
    return list(values) if isinstance(values, (list, tuple)) else [variable]
