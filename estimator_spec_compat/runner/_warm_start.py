"""``warm_start_from``: Estimator's warm start, applied when ``model_dir`` has no checkpoint.

Estimator's rules (``tf.compat.v1.train.warm_start``): ``vars_to_warm_start`` a
regex matched (``re.match``) against TRAINABLE variable names (``'.*'`` by
default; None warm-starts none), a list of regexes matched against every
global variable, or a list of variables; ``var_name_to_prev_var_name`` renames
(an unused entry is an error); a path is ``WarmStartSettings(path)``; a
SavedModel directory warm-starts from its ``variables/variables``; in TF2
(object-based) checkpoints variables are found by their full names. Only
training warm-starts, and only from a fresh ``model_dir``. Vocabulary
remapping (``var_name_to_vocab_info``) is not supported: a clear error.
"""

import collections
import logging
import os
import re

from estimator_spec_compat._compat import UPSTREAM_WARM_START_SETTINGS, object_checkpoint_keys, tf
from estimator_spec_compat._errors import short_repr
from estimator_spec_compat.runner import _partitions

_LOG = logging.getLogger("estimator_spec_compat.runner")

_FIELDS = (
    "ckpt_to_initialize_from",
    "vars_to_warm_start",
    "var_name_to_vocab_info",
    "var_name_to_prev_var_name",
)


class _WarmStartSettings(collections.namedtuple("WarmStartSettings", _FIELDS)):
    """``tf.estimator.WarmStartSettings`` where tensorflow-estimator is not installed."""

    __slots__ = ()

    def __new__(
        cls,
        ckpt_to_initialize_from,
        vars_to_warm_start=".*",
        var_name_to_vocab_info=None,
        var_name_to_prev_var_name=None,
    ):
        return super().__new__(
            cls,
            ckpt_to_initialize_from,
            vars_to_warm_start,
            var_name_to_vocab_info,
            var_name_to_prev_var_name,
        )


#: Upstream's own class where tensorflow-estimator works; the same fields otherwise.
WarmStartSettings = UPSTREAM_WARM_START_SETTINGS or _WarmStartSettings


def settings_of(warm_start_from):
    """``warm_start_from`` (None, a path, or WarmStartSettings-like) as settings, or None.

    Raises:
      TypeError: for anything else.
      ValueError: for vocabulary remapping (not supported).
    """
    if warm_start_from is None:
        return None
    if isinstance(warm_start_from, (str, os.PathLike)):
        return WarmStartSettings(str(warm_start_from))
    if not all(hasattr(warm_start_from, f) for f in _FIELDS):
        raise TypeError(
            f"`warm_start_from` ({short_repr(warm_start_from)}) must be a checkpoint path, a "
            "SavedModel directory or a WarmStartSettings (as Estimator's)."
        )
    if warm_start_from.var_name_to_vocab_info:
        raise ValueError(
            "`warm_start_from.var_name_to_vocab_info` "
            f"({sorted(warm_start_from.var_name_to_vocab_info)}) remaps vocabularies, which the "
            "runner does not support. Warm-start those variables without it, or remap the "
            "checkpoint beforehand."
        )
    return warm_start_from


def _checkpoint_of(path):
    """The checkpoint prefix ``path`` names: a SavedModel's variables, a directory's latest
    checkpoint (as upstream's ``_get_checkpoint_filename``), or the prefix itself."""
    path = str(path)
    saved_model = os.path.join(path, "variables", "variables")
    if tf.io.gfile.exists(saved_model + ".index"):
        return saved_model
    if tf.io.gfile.isdir(path):
        return tf.train.latest_checkpoint(path) or path
    return path


def _chosen(vars_to_warm_start, variables):
    if vars_to_warm_start is None:
        return []
    if isinstance(vars_to_warm_start, str):
        regex = re.compile(vars_to_warm_start)
        return [n for n, v in variables.items() if v.trainable and regex.match(n + ":0")]
    if isinstance(vars_to_warm_start, list) and all(isinstance(v, str) for v in vars_to_warm_start):
        chosen = []
        for pattern in vars_to_warm_start:
            regex = re.compile(pattern)
            chosen += [n for n in variables if regex.match(n + ":0") and n not in chosen]
        return chosen
    if isinstance(vars_to_warm_start, list) and all(
        isinstance(v, tf.Variable) for v in vars_to_warm_start
    ):
        ids = {id(v) for v in vars_to_warm_start}
        return [n for n, v in variables.items() if id(v) in ids]
    raise ValueError(
        f"`vars_to_warm_start` ({short_repr(vars_to_warm_start)}) must be a regex string, a "
        "list of regex strings, a list of variables, or None (as in WarmStartSettings)."
    )


def warm_start(settings, variables):
    """Assigns the checkpoint's values to the chosen ``variables`` (name -> variable).

    As upstream, the chosen variables are grouped by checkpoint name (the parts of
    a partitioned variable under its full name, which renames and the source
    checkpoint use); each part reads its slice of the source tensor.

    Returns:
      The names warm-started.

    Raises:
      ValueError: for a rename that names no chosen variable, a name missing from
        the checkpoint, or a shape that differs.
    """
    path = _checkpoint_of(settings.ckpt_to_initialize_from)
    reader = tf.train.load_checkpoint(path)
    shapes = reader.get_variable_to_shape_map()
    chosen = _chosen(settings.vars_to_warm_start, variables)
    groups = _partitions.grouped({n: variables[n] for n in chosen})
    renames = dict(settings.var_name_to_prev_var_name or {})
    unused = sorted(set(renames) - set(groups))
    if unused:
        raise ValueError(
            f"`var_name_to_prev_var_name` names {unused}, which are not among the variables "
            f"to warm-start {sorted(groups)}. Perhaps you misspelled them?"
        )
    keys = object_checkpoint_keys(reader)  # a TF2 checkpoint or SavedModel: by full name
    requests, names = [], []
    for key, group in groups.items():
        source = renames.get(key, key)
        source = source if source in shapes else keys.get(source, source)
        shape = _partitions.full_shape(variables[group[0]])
        if source not in shapes:
            raise ValueError(
                f"Cannot warm-start `{key}`: {source!r} is not in the checkpoint {path!r}."
            )
        if list(shapes[source]) != shape:
            raise ValueError(
                f"Cannot warm-start `{key}` (shape {shape}) from {source!r} "
                f"(shape {list(shapes[source])}) in {path!r}."
            )
        for name in group:
            _, spec = _partitions.checkpoint_key(name, variables[name])
            requests.append((source, spec, variables[name].dtype))
            names.append(name)
    for name, value in zip(names, _partitions.read(path, requests)):
        variables[name].assign(value)
    _LOG.info("Warm-started %d variables from %s.", len(groups), path)
    return chosen
