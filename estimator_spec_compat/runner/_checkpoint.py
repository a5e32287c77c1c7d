"""Name-based checkpoints, readable and writable by Estimator, written atomically.

The runner writes the same format as Estimator's ``tf.compat.v1.train.Saver``
(a V2 bundle keyed by TF1 variable names: ``dense/kernel``, ``global_step``; the
parts of a partitioned variable as slices of its full name, `_partitions`), so
an Estimator checkpoint restores into the runner and back.

Atomicity: the bundle is written into a fresh temporary folder inside
``model_dir``; its data file, then its ``.index`` file (which is what makes a
prefix loadable) are moved into place with ``os.replace``, and only then is the
``checkpoint`` state file rewritten (TF writes it atomically, too). A crash at any
point leaves the previous checkpoint as the latest one; at worst an orphaned
temporary folder is left behind, which the next ``train`` removes
(`remove_stale_temp_dirs`, called under the model_dir lock, `_lock`).
"""

import logging
import os
import shutil
import tempfile
import uuid

from google.protobuf import text_format

from estimator_spec_compat._compat import tf
from estimator_spec_compat.runner import _partitions

_PREFIX = "model.ckpt"
_TEMP_DIR_PREFIX = ".tmp-ckpt-"  # as `save` names its temporary folders
_STATE_FILE = "checkpoint"
_LOG = logging.getLogger(__name__)


def latest(model_dir):
    """The newest complete checkpoint prefix in ``model_dir``, or None."""
    return tf.train.latest_checkpoint(model_dir)


def save(model_dir, step, variables, *, keep_max):
    """Writes ``variables`` (name -> variable) as ``model_dir/model.ckpt-<step>``.

    The newest ``keep_max`` checkpoints are kept (None or 0: all of them).

    Returns:
      The checkpoint prefix written.
    """
    tf.io.gfile.makedirs(model_dir)
    prefix = os.path.join(model_dir, f"{_PREFIX}-{step}")
    rows = _partitions.layout(variables)
    tensors = [tf.convert_to_tensor(variables[name]) for _, _, name in rows]
    tmp_dir = tempfile.mkdtemp(prefix=".tmp-ckpt-", dir=model_dir)
    try:
        tmp_prefix = os.path.join(tmp_dir, _PREFIX)
        tf.raw_ops.SaveV2(
            prefix=tmp_prefix,
            tensor_names=[key for key, _, _ in rows],
            shape_and_slices=[spec for _, spec, _ in rows],
            tensors=tensors,
        )
        produced = sorted(os.listdir(tmp_dir), key=lambda f: f.endswith(".index"))
        for filename in produced:  # data first, the .index last
            os.replace(os.path.join(tmp_dir, filename), prefix + filename[len(_PREFIX) :])
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    _update_state(model_dir, prefix, keep_max)
    return prefix


def _update_state(model_dir, prefix, keep_max):
    state = tf.train.get_checkpoint_state(model_dir)
    kept = [p for p in (state.all_model_checkpoint_paths if state else []) if p != prefix]
    kept.append(prefix)
    dropped = []
    if keep_max:  # None or 0: keep every checkpoint (as Saver's max_to_keep)
        dropped, kept = kept[:-keep_max], kept[-keep_max:]
    _write_state(model_dir, kept)
    for old in dropped:
        for path in tf.io.gfile.glob(old + ".*"):
            try:
                tf.io.gfile.remove(path)
            except tf.errors.NotFoundError:  # already gone (removed by hand, or by another writer)
                pass


def _write_state(model_dir, prefixes):
    """Writes the ``checkpoint`` state file atomically: ``prefixes`` kept, the last the latest.

    Paths inside ``model_dir`` are written relative to it, as Estimator's Saver wrote
    them (``save_relative_paths=True``), so a moved ``model_dir`` still restores. The
    proto comes from ``generate_checkpoint_state_proto`` (the writer TF offered,
    ``update_checkpoint_state``, is deprecated).
    """
    directory = os.path.abspath(model_dir)

    def relative(path):
        inside = os.path.dirname(os.path.abspath(path)) == directory
        return os.path.basename(path) if inside else path

    names = [relative(p) for p in prefixes]
    state = tf.compat.v1.train.generate_checkpoint_state_proto(
        model_dir, names[-1], all_model_checkpoint_paths=names
    )
    path = os.path.join(model_dir, _STATE_FILE)
    temp = f"{path}.tmp{uuid.uuid4().hex}"
    with tf.io.gfile.GFile(temp, "w") as f:
        f.write(text_format.MessageToString(state))
    tf.io.gfile.rename(temp, path, overwrite=True)


def remove_stale_temp_files(model_dir):
    """Removes what interrupted saves left in ``model_dir``: ``.tmp-ckpt-*`` folders
    (`save`'s) and ``checkpoint.tmp*`` files (`_write_state`'s).

    Call it only while holding the model_dir lock (`_lock.exclusive_writer`): a live
    writer's temporary files are not stale.

    Returns:
      The names removed.
    """
    removed = []
    for name in sorted(os.listdir(model_dir)) if os.path.isdir(model_dir) else ():
        path = os.path.join(model_dir, name)
        if name.startswith(_TEMP_DIR_PREFIX) and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif name.startswith(_STATE_FILE + ".tmp") and os.path.isfile(path):
            os.remove(path)
        else:
            continue
        removed.append(name)
    if removed:
        _LOG.info("Removed what an interrupted checkpoint save left in %s: %s", model_dir, removed)
    return removed


def restore(prefix, variables):
    """Assigns each variable (name -> variable) its value from checkpoint ``prefix``.

    Raises:
      ValueError: if the checkpoint lacks some names or has other shapes, listing all.
    """
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    rows = _partitions.layout(variables)
    missing = sorted({key for key, _, _ in rows if key not in shapes})
    wrong = sorted(
        {
            f"{key}: checkpoint {shapes[key]} vs variable {_partitions.full_shape(variables[name])}"
            for key, _, name in rows
            if key in shapes and list(shapes[key]) != _partitions.full_shape(variables[name])
        }
    )
    if missing or wrong:
        raise ValueError(
            f"Checkpoint `{prefix}` does not fit the model_fn's variables: missing "
            f"{missing}; shape mismatches {wrong}. Point `model_dir` at a checkpoint "
            "of this model, or at an empty folder to start afresh."
        )
    values = _partitions.read(
        prefix, [(key, spec, variables[name].dtype) for key, spec, name in rows]
    )
    for (_, _, name), value in zip(rows, values):
        variables[name].assign(value)


def resolve(model_dir, checkpoint_path):
    """The checkpoint prefix a ``checkpoint_path`` argument names (Estimator's rules).

    Args:
      model_dir: where checkpoints go.
      checkpoint_path: None (the latest in ``model_dir``, or None if there is none),
        a checkpoint prefix, or a directory (its latest checkpoint).

    Raises:
      ValueError: for a ``checkpoint_path`` that holds no checkpoint.
    """
    if checkpoint_path is None:
        return latest(model_dir)
    path = str(checkpoint_path)
    prefix = latest(path) if tf.io.gfile.isdir(path) else path
    if prefix is None or not tf.io.gfile.exists(prefix + ".index"):
        raise ValueError(
            f"`checkpoint_path` ({path!r}) is neither a checkpoint prefix (no {path}.index) "
            "nor a directory holding checkpoints. Pass e.g. runner.latest_checkpoint()."
        )
    return prefix
