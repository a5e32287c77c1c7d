"""Writing serving SavedModels: atomically, with Estimator's method names and directory names.

:func:`save_serving_model` writes :class:`ServingSignatures` with
``tf.saved_model.save`` into a temporary directory, sets the classify/regress
method names that TF2 saving cannot express (:func:`fix_method_names`), and
only then renames the directory into place. :func:`timestamped_export_dir`
names export directories as Estimator does; :func:`export_serving_model` is
``Estimator.export_saved_model`` in one call.
"""

import os
import time
import uuid

from google.protobuf import text_format

from estimator_spec_compat._compat import SavedModelProto, tf
from estimator_spec_compat._errors import short_repr
from estimator_spec_compat.convert._signature_functions import (
    ServingSignatures,
    build_signatures,
)

_SERVE_TAG = tf.saved_model.SERVING
_PREDICT = tf.saved_model.PREDICT_METHOD_NAME


def fix_method_names(export_dir, method_names):
    """Sets the SignatureDef method names (classify/regress) in a SavedModel.

    ``tf.saved_model.save`` writes every signature as a predict signature;
    TF Serving's Classify and Regress APIs need the method names Estimator
    wrote. Uses ``tf.compat.v1.saved_model.signature_def_utils.MethodNameUpdater``.
    :func:`save_serving_model` calls it; call it yourself only after your own
    ``tf.saved_model.save``.

    Example:
        >>> tf.saved_model.save(module, path, signatures=dict(sigs.functions))
        >>> fix_method_names(path, sigs.method_names)

    Args:
      export_dir: a SavedModel directory written with tag ``serve``.
      method_names: signature key -> method name (``ServingSignatures.method_names``).
    """
    changes = {k: m for k, m in method_names.items() if m != _PREDICT}
    if not changes:
        return
    updater = tf.compat.v1.saved_model.signature_def_utils.MethodNameUpdater(export_dir)
    for key, method_name in changes.items():
        updater.replace_method_name(key, method_name, tags=_SERVE_TAG)
    updater.save()


def save_serving_model(
    export_dir,
    signatures,
    *,
    root=None,
    options=None,
    assets_extra=None,
    as_text=False,
    _next_free=None,
):
    """Writes a serving SavedModel atomically, with Estimator's method names.

    The model is written to a temporary directory next to ``export_dir``
    (named ``temp-<name>-<random>``, which TF Serving ignores) and renamed
    into place only when complete; on any failure the temporary directory is
    removed and ``export_dir`` does not exist.

    Example:
        >>> sigs = build_signatures(model_call, receiver_fn)
        >>> path = save_serving_model(os.path.join(base, "1700000000"), sigs)
        >>> tf.saved_model.load(path).signatures["serving_default"](x=batch)

    Args:
      export_dir: the final directory; it must not exist yet.
      signatures: a :class:`ServingSignatures` from :func:`build_signatures`.
      root: the trackable object to save (e.g. the runner's ``tf.Module``); it
        must track every variable in ``signatures.variables``. None: a new
        ``tf.Module`` tracking exactly those variables.
      options: an optional ``tf.saved_model.SaveOptions``.
      assets_extra: ``{destination relative to assets.extra/: source file}``, copied
        into the export's ``assets.extra`` directory (Estimator's ``assets_extra``).
      as_text: write ``saved_model.pbtxt`` instead of ``saved_model.pb``.

    Returns:
      ``export_dir`` as a string.

    Raises:
      TypeError: if ``signatures`` is not a ServingSignatures.
      ValueError: if ``export_dir`` already exists (also if it appears while the
        model is written: nothing is overwritten), or ``root`` does not track a
        variable or other resource the signatures capture.
    """
    if not isinstance(signatures, ServingSignatures):
        raise TypeError(
            f"`signatures` ({short_repr(signatures)}) must be the ServingSignatures that "
            "build_signatures returns."
        )
    export_dir = os.fspath(export_dir)
    if isinstance(export_dir, bytes):
        export_dir = export_dir.decode()
    if tf.io.gfile.exists(export_dir):
        raise ValueError(
            f"`export_dir` ({export_dir!r}) already exists; an export never overwrites one. "
            "Pass a new directory (e.g. a new timestamp)."
        )
    if root is None:
        root = tf.Module()
        root.exported_variables = list(signatures.variables)
    if signatures.resources:  # lookup tables made while tracing: only the export has them
        root.serving_resources = list(signatures.resources)
    parent, name = os.path.split(export_dir.rstrip("/"))
    temp_dir = os.path.join(parent, f"temp-{name}-{uuid.uuid4().hex[:8]}")
    tf.io.gfile.makedirs(parent or ".")
    try:
        try:
            tf.saved_model.save(
                root, temp_dir, signatures=dict(signatures.functions), options=options
            )
        except AssertionError as error:  # TF's way of saying a capture is untracked
            if "untracked" not in str(error):
                raise
            raise ValueError(
                f"`root` ({short_repr(root)}) does not track a resource the signatures capture "
                "(a variable or a lookup table). Assign it to an attribute of `root` (e.g. "
                "`root.model_variables = list(signatures.variables)`), or pass `root=None` if "
                "the model has variables only.\n" + str(error)
            ) from None
        fix_method_names(temp_dir, signatures.method_names)
        _copy_assets_extra(temp_dir, assets_extra)
        if as_text:
            _to_text(temp_dir)
        export_dir = _move_into_place(temp_dir, export_dir, _next_free)
    finally:
        if tf.io.gfile.exists(temp_dir):
            tf.io.gfile.rmtree(temp_dir)
    return export_dir


def _move_into_place(temp_dir, export_dir, next_free, attempts=10):
    """Renames ``temp_dir`` to ``export_dir``, never over an existing directory.

    If ``export_dir`` was taken meanwhile (another exporter in the same second),
    ``next_free()`` names the next one to try (`export_serving_model`'s next free
    version); without it that is an error.
    """
    for _ in range(attempts):
        try:
            tf.io.gfile.rename(temp_dir, export_dir, overwrite=False)
            return export_dir
        except tf.errors.AlreadyExistsError:
            if next_free is None:
                raise ValueError(
                    f"`export_dir` ({export_dir!r}) was created by someone else while this "
                    "export was written; an export never overwrites one. Pass a new directory."
                ) from None
            export_dir = next_free()
    raise ValueError(
        f"Found no free export directory next to {export_dir!r} in {attempts} attempts: "
        "other exporters keep taking them. Export into another `export_dir_base`."
    )


def _copy_assets_extra(export_dir, assets_extra):
    for destination, source in (assets_extra or {}).items():
        path = os.path.join(export_dir, "assets.extra", os.fsdecode(destination))
        tf.io.gfile.makedirs(os.path.dirname(path))
        tf.io.gfile.copy(os.fsdecode(source), path)


def _to_text(export_dir):
    binary = os.path.join(export_dir, "saved_model.pb")
    proto = SavedModelProto()
    with tf.io.gfile.GFile(binary, "rb") as f:
        proto.ParseFromString(f.read())
    with tf.io.gfile.GFile(os.path.join(export_dir, "saved_model.pbtxt"), "w") as f:
        f.write(text_format.MessageToString(proto))
    tf.io.gfile.remove(binary)


def timestamped_export_dir(export_dir_base):
    """A new ``export_dir_base/<seconds since epoch>`` path, as Estimator names exports.

    Unlike upstream it never sleeps: if the current second is taken, the next
    free number above every existing numeric version is used, so versions
    still increase (TF Serving serves the largest).

    Example:
        >>> path = save_serving_model(timestamped_export_dir("/models/m"), sigs)

    Args:
      export_dir_base: the directory that holds one subdirectory per export.

    Returns:
      The path (a str); the directory is not created.
    """
    export_dir_base = os.fspath(export_dir_base)
    if isinstance(export_dir_base, bytes):
        export_dir_base = export_dir_base.decode()
    taken = []
    if tf.io.gfile.isdir(export_dir_base):
        taken = [
            int(n.strip("/"))
            for n in tf.io.gfile.listdir(export_dir_base)
            if n.strip("/").isdigit()
        ]
    version = max([int(time.time())] + [n + 1 for n in taken])
    return os.path.join(export_dir_base, str(version))


def export_serving_model(
    export_dir_base,
    model_call,
    serving_input_receiver_fn,
    *,
    root=None,
    options=None,
    assets_extra=None,
    as_text=False,
):
    """``Estimator.export_saved_model`` in one call: build, then save atomically.

    Example:
        >>> path = export_serving_model("/models/m", model_call, receiver_fn, root=module)

    Args:
      export_dir_base: where the timestamped export directory is made.
      model_call: as for :func:`build_signatures`.
      serving_input_receiver_fn: as for :func:`build_signatures`.
      root: as for :func:`save_serving_model`.
      options: an optional ``tf.saved_model.SaveOptions``.
      assets_extra, as_text: as for :func:`save_serving_model`.

    Returns:
      The path of the new export (a str): the next free version if another exporter
      took the chosen one while this one was written (the export is moved, not
      written again).
    """
    signatures = build_signatures(model_call, serving_input_receiver_fn)
    export_dir = timestamped_export_dir(export_dir_base)
    return save_serving_model(
        export_dir,
        signatures,
        root=root,
        options=options,
        assets_extra=assets_extra,
        as_text=as_text,
        _next_free=lambda: timestamped_export_dir(export_dir_base),
    )
