"""Serving input receivers that work in TF2, shaped like Estimator's.

A *serving input receiver fn* is a function of no arguments that returns a
receiver: ``features`` (what the model is called with), ``receiver_tensors``
(the signature's inputs) and ``receiver_tensors_alternatives`` (extra named
input groups, each giving extra signatures).  This module provides the two
receiver types and the two builders that Estimator had
(``tf.estimator.export.*``), usable in both TF worlds.

In TF2 the receiver fn is traced inside a function graph by
:func:`estimator_spec_compat.convert.signatures.build_signatures`.  Its
receiver tensors are that graph's placeholders, which is what a
``tf.function`` input is; they become the inputs of the SavedModel
signatures.  Calling a receiver fn eagerly has no meaning (there is nothing to
feed) and fails.

Receivers made by upstream's ``tf.estimator.export.ServingInputReceiver`` and
``TensorServingInputReceiver`` are accepted everywhere a receiver is: see
:func:`check_receiver`.
"""

import collections

from estimator_spec_compat._compat import tf
from estimator_spec_compat._errors import short_repr

#: Keys used when a single tensor is given instead of a dict (as upstream).
SINGLE_FEATURE_KEY = "feature"
SINGLE_RECEIVER_KEY = "input"
#: The receiver key and placeholder name of the parsing receiver (as upstream).
EXAMPLES_KEY = "examples"
EXAMPLES_PLACEHOLDER_NAME = "input_example_tensor"

_TENSOR_TYPES = (tf.Tensor, tf.sparse.SparseTensor, tf.RaggedTensor)


def _check_tensor(value, where):
    if not isinstance(value, _TENSOR_TYPES):
        raise TypeError(
            f"`{where}` ({short_repr(value)}) must be a Tensor, SparseTensor or RaggedTensor. "
            "Build it from the receiver tensors inside the receiver fn."
        )


def _wrap_and_check(tensors, field, default_key, allow_int_keys=False):
    """Returns ``tensors`` as a new dict of key -> tensor, checking every entry."""
    if tensors is None:
        raise ValueError(f"`{field}` (None) must be given: a tensor or a dict of tensors.")
    if not isinstance(tensors, collections.abc.Mapping):
        tensors = {default_key: tensors}
    key_types = (str, int) if allow_int_keys else (str,)
    for key, value in tensors.items():
        if not isinstance(key, key_types) or isinstance(key, bool):
            allowed = "strings or ints" if allow_int_keys else "strings"
            raise TypeError(f"`{field}` key {key!r} must be one of {allowed}.")
        _check_tensor(value, f"{field}[{key!r}]")
    return dict(tensors)


def _check_alternatives(alternatives):
    if alternatives is None:
        return None
    if not isinstance(alternatives, collections.abc.Mapping):
        raise TypeError(
            f"`receiver_tensors_alternatives` ({short_repr(alternatives)}) must be a dict of "
            "alternative name -> tensor or dict of tensors, or None."
        )
    return {
        name: _wrap_and_check(
            group, f"receiver_tensors_alternatives[{name!r}]", SINGLE_RECEIVER_KEY
        )
        for name, group in alternatives.items()
    }


_FIELDS = ["features", "receiver_tensors", "receiver_tensors_alternatives"]


class ServingInputReceiver(collections.namedtuple("ServingInputReceiver", _FIELDS)):
    """What a serving input receiver fn returns: the model gets a feature dict.

    Same fields and wrapping rules as ``tf.estimator.export.ServingInputReceiver``:
    a single ``features`` tensor becomes ``{'feature': tensor}``; a single
    receiver tensor becomes ``{'input': tensor}``. Wrong types raise TypeError.

    Example:
        >>> def receiver_fn():
        ...     x = tf.compat.v1.placeholder(tf.float32, [None, 2], name="x")
        ...     return ServingInputReceiver({"x": x}, {"x": x})
    """

    __slots__ = ()

    def __new__(cls, features, receiver_tensors, receiver_tensors_alternatives=None):
        return super().__new__(
            cls,
            features=_wrap_and_check(features, "features", SINGLE_FEATURE_KEY, True),
            receiver_tensors=_wrap_and_check(
                receiver_tensors, "receiver_tensors", SINGLE_RECEIVER_KEY
            ),
            receiver_tensors_alternatives=_check_alternatives(receiver_tensors_alternatives),
        )


class TensorServingInputReceiver(collections.namedtuple("TensorServingInputReceiver", _FIELDS)):
    """Like :class:`ServingInputReceiver`, but the model gets one tensor, not a dict.

    As ``tf.estimator.export.TensorServingInputReceiver``.

    Example:
        >>> def receiver_fn():
        ...     x = tf.compat.v1.placeholder(tf.float32, [None, 2], name="x")
        ...     return TensorServingInputReceiver(x, {"x": x})
    """

    __slots__ = ()

    def __new__(cls, features, receiver_tensors, receiver_tensors_alternatives=None):
        if features is None:
            raise ValueError("`features` (None) must be given: one tensor.")
        _check_tensor(features, "features")
        return super().__new__(
            cls,
            features=features,
            receiver_tensors=_wrap_and_check(
                receiver_tensors, "receiver_tensors", SINGLE_RECEIVER_KEY
            ),
            receiver_tensors_alternatives=_check_alternatives(receiver_tensors_alternatives),
        )


def check_receiver(receiver, where="serving_input_receiver_fn()"):
    """Checks a receiver (ours or upstream's, duck-typed) and returns ours.

    Args:
      receiver: any object with ``features``, ``receiver_tensors`` and
        (optionally) ``receiver_tensors_alternatives`` attributes, e.g. a
        ``tf.estimator.export.ServingInputReceiver``.
      where: how to name the value in error messages.

    Example:
        >>> receiver = check_receiver(tf.estimator.export.ServingInputReceiver(x, x))
        >>> receiver.features
        {'feature': <tf.Tensor 'x:0' ...>}

    Returns:
      A :class:`TensorServingInputReceiver` if ``features`` is a single tensor,
      else a :class:`ServingInputReceiver`.

    Raises:
      TypeError: if ``receiver`` lacks the fields or holds non-tensors.
      ValueError: if ``features`` or ``receiver_tensors`` is None.
    """
    if isinstance(receiver, ServingInputReceiver | TensorServingInputReceiver):
        return receiver
    if not (hasattr(receiver, "features") and hasattr(receiver, "receiver_tensors")):
        raise TypeError(
            f"`{where}` returned {short_repr(receiver)}, which is not a serving input receiver. "
            "Return a ServingInputReceiver or TensorServingInputReceiver (ours or "
            "tf.estimator.export's)."
        )
    alternatives = getattr(receiver, "receiver_tensors_alternatives", None)
    kind = (
        TensorServingInputReceiver
        if isinstance(receiver.features, _TENSOR_TYPES)
        else ServingInputReceiver
    )
    return kind(receiver.features, receiver.receiver_tensors, alternatives)


def _spec_of(value, key):
    """A TensorSpec for a feature given as Tensor, TensorSpec or array-like."""
    if isinstance(value, tf.TensorSpec):
        return value
    if isinstance(value, tf.Tensor) or (hasattr(value, "dtype") and hasattr(value, "shape")):
        return tf.TensorSpec(value.shape, tf.as_dtype(value.dtype))
    raise TypeError(
        f"`features[{key!r}]` ({short_repr(value)}) must be a tf.TensorSpec, a Tensor or an "
        "array with `dtype` and `shape`; it gives the dtype and the per-example shape."
    )


def build_raw_serving_input_receiver_fn(features, default_batch_size=None):
    """Builds a receiver fn whose signature inputs are the raw features.

    As ``tf.estimator.export.build_raw_serving_input_receiver_fn``: each
    feature is fed directly, under its own key. Each value gives the dtype and
    shape; its first dimension is replaced by ``default_batch_size`` (None:
    any batch size, recommended).  Values may be ``tf.TensorSpec``\\ s (the
    TF2 way), tensors, or numpy arrays.

    Example:
        >>> receiver_fn = build_raw_serving_input_receiver_fn(
        ...     {"x": tf.TensorSpec([None, 2], tf.float32)})
        >>> sigs = build_signatures(model_call, receiver_fn)  # inputs: {'x'}

    Args:
      features: a dict of string key -> TensorSpec / Tensor / array.
      default_batch_size: an int >= 1, or None for a variable batch size.

    Returns:
      A receiver fn of no arguments returning a :class:`ServingInputReceiver`.

    Raises:
      TypeError: if ``features`` is not a non-empty dict of those types.
      ValueError: if ``default_batch_size`` is not None or a positive int, or
        a feature has rank 0 (it has no batch dimension).
    """
    if not isinstance(features, collections.abc.Mapping) or not features:
        raise TypeError(
            f"`features` ({short_repr(features)}) must be a non-empty dict of "
            "key -> tf.TensorSpec (or Tensor), one per raw input."
        )
    _check_batch_size(default_batch_size)
    specs = {}
    for key, value in features.items():
        spec = _spec_of(value, key)
        if spec.shape.rank == 0:
            raise ValueError(
                f"`features[{key!r}]` ({spec}) has rank 0; a serving input needs a batch "
                "dimension first. Give its shape as [None, ...]."
            )
        specs[key] = spec
    names = {key: getattr(value, "name", None) for key, value in features.items()}

    def serving_input_receiver_fn():
        """A receiver fn that expects the features to be fed directly."""
        receiver_tensors = {}
        for key, spec in specs.items():
            shape = tf.TensorShape([default_batch_size]).concatenate(spec.shape[1:])
            name = _placeholder_name(names[key]) or str(key)
            receiver_tensors[key] = tf.compat.v1.placeholder(spec.dtype, shape, name=name)
        return ServingInputReceiver(receiver_tensors, receiver_tensors)

    return serving_input_receiver_fn


def build_parsing_serving_input_receiver_fn(feature_spec, default_batch_size=None):
    """Builds a receiver fn that takes serialized ``tf.train.Example`` strings.

    As ``tf.estimator.export.build_parsing_serving_input_receiver_fn``: one
    string input under the key ``'examples'``, parsed with
    ``tf.io.parse_example(serialized, feature_spec)`` into the features.  Its
    single string input is what classify and regress signatures need.

    Example:
        >>> receiver_fn = build_parsing_serving_input_receiver_fn(
        ...     {"x": tf.io.FixedLenFeature([2], tf.float32)})
        >>> sigs = build_signatures(model_call, receiver_fn)  # inputs: {'examples'}

    Args:
      feature_spec: a dict of string -> ``tf.io.FixedLenFeature`` /
        ``VarLenFeature`` / other ``tf.io`` parsing spec.
      default_batch_size: an int >= 1, or None for a variable batch size.

    Returns:
      A receiver fn of no arguments returning a :class:`ServingInputReceiver`.

    Raises:
      TypeError: if ``feature_spec`` is not a non-empty dict.
      ValueError: if ``default_batch_size`` is not None or a positive int.
    """
    if not isinstance(feature_spec, collections.abc.Mapping) or not feature_spec:
        raise TypeError(
            f"`feature_spec` ({short_repr(feature_spec)}) must be a non-empty dict of "
            "key -> tf.io.FixedLenFeature / VarLenFeature."
        )
    _check_batch_size(default_batch_size)
    feature_spec = dict(feature_spec)

    def serving_input_receiver_fn():
        """A receiver fn that expects serialized tf.train.Example strings."""
        serialized = tf.compat.v1.placeholder(
            tf.string, [default_batch_size], name=EXAMPLES_PLACEHOLDER_NAME
        )
        features = tf.io.parse_example(serialized, feature_spec)
        return ServingInputReceiver(features, {EXAMPLES_KEY: serialized})

    return serving_input_receiver_fn


def _check_batch_size(default_batch_size):
    if default_batch_size is None:
        return
    if isinstance(default_batch_size, bool) or not isinstance(default_batch_size, int):
        raise TypeError(
            f"`default_batch_size` ({default_batch_size!r}) must be an int or None (any size)."
        )
    if default_batch_size < 1:
        raise ValueError(
            f"`default_batch_size` ({default_batch_size}) must be a positive integer, or None "
            "for a variable batch size."
        )


def _placeholder_name(name):
    """An op name usable for a placeholder, from a TensorSpec or tensor name."""
    if not name:
        return None
    name = name.split(":")[0].replace("/", "_")
    return name or None
