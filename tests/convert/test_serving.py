"""Serving input receivers and their builders (both worlds; parity where upstream exists).

Expected keys and placeholder names are upstream's documented conventions
('feature', 'input', 'examples', 'input_example_tensor'); in the estimator
world the same calls are also made on tf.estimator.export and compared.
"""

import numpy as np
import pytest

from estimator_spec_compat._compat import tf
from estimator_spec_compat.convert import serving

FEATURE_SPEC = {"x": tf.io.FixedLenFeature([2], tf.float32), "k": tf.io.VarLenFeature(tf.int64)}


def _in_graph(fn):
    """Runs ``fn`` in a fresh v1 graph (receivers make placeholders, as upstream)."""
    with tf.Graph().as_default():
        return fn()


def _layout(receiver):
    """Keys, dtypes and shapes of a receiver, comparable across implementations."""

    def describe(tensors):
        if isinstance(tensors, dict):
            return {k: describe(v) for k, v in tensors.items()}
        shape = tensors.shape.as_list() if isinstance(tensors, tf.Tensor) else None
        return (type(tensors).__name__, tensors.dtype.name, shape)

    alternatives = receiver.receiver_tensors_alternatives
    return (
        describe(receiver.features),
        describe(receiver.receiver_tensors),
        None if alternatives is None else describe(alternatives),
    )


def test_single_tensors_are_wrapped_under_upstream_keys():
    def build():
        x = tf.compat.v1.placeholder(tf.float32, [None, 2])
        return serving.ServingInputReceiver(x, x, {"alt": x}), x

    receiver, x = _in_graph(build)
    assert receiver.features == {"feature": x}
    assert receiver.receiver_tensors == {"input": x}
    assert receiver.receiver_tensors_alternatives == {"alt": {"input": x}}


def test_tensor_receiver_keeps_one_feature_tensor():
    def build():
        x = tf.compat.v1.placeholder(tf.float32, [None, 2])
        return serving.TensorServingInputReceiver(x, {"x": x}), x

    receiver, x = _in_graph(build)
    assert receiver.features is x
    assert receiver.receiver_tensors == {"x": x}
    assert receiver.receiver_tensors_alternatives is None


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        pytest.param(
            {"features": {"a": 1.0}},
            TypeError,
            r"`features\['a'\]` \(1.0\) must be a Tensor",
            id="value",
        ),
        pytest.param(
            {"receiver_tensors": {1: None}}, TypeError, r"`receiver_tensors` key 1", id="int_key"
        ),
        pytest.param(
            {"receiver_tensors": None}, ValueError, r"`receiver_tensors` \(None\)", id="none"
        ),
        pytest.param(
            {"receiver_tensors_alternatives": [1]},
            TypeError,
            r"`receiver_tensors_alternatives` \(\[1\]\) must be a dict",
            id="alternatives",
        ),
    ],
)
def test_receiver_rejects_bad_fields(kwargs, error, pattern):
    def build():
        x = tf.compat.v1.placeholder(tf.float32, [None, 2])
        fields = {"features": {"x": x}, "receiver_tensors": {"x": x}, **kwargs}
        return serving.ServingInputReceiver(**fields)

    with pytest.raises(error, match=pattern):
        _in_graph(build)


def test_feature_keys_may_be_ints_as_upstream():
    receiver = _in_graph(
        lambda: serving.ServingInputReceiver({0: tf.zeros([1])}, {"x": tf.zeros([1])})
    )
    assert list(receiver.features) == [0]


def test_check_receiver_duck_types_and_rejects_others():
    class Receiver:
        def __init__(self, features, receiver_tensors):
            self.features, self.receiver_tensors = features, receiver_tensors

    def build():
        x = tf.compat.v1.placeholder(tf.float32, [None, 2])
        return serving.check_receiver(Receiver(x, x)), serving.check_receiver(Receiver({"x": x}, x))

    tensor_receiver, dict_receiver = _in_graph(build)
    assert isinstance(tensor_receiver, serving.TensorServingInputReceiver)
    assert isinstance(dict_receiver, serving.ServingInputReceiver)
    with pytest.raises(TypeError, match=r"returned \{\}, which is not a serving input receiver"):
        serving.check_receiver({})


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(tf.TensorSpec([None, 3], tf.float32), id="tensor_spec"),
        pytest.param(np.zeros([5, 3], np.float32), id="numpy"),
        pytest.param(tf.zeros([5, 3]), id="eager_tensor"),
    ],
)
@pytest.mark.parametrize("batch", [None, 4])
def test_raw_receiver_placeholders(value, batch):
    receiver_fn = serving.build_raw_serving_input_receiver_fn(
        {"x": value}, default_batch_size=batch
    )
    receiver = _in_graph(receiver_fn)
    x = receiver.receiver_tensors["x"]
    assert receiver.features["x"] is x
    assert x.op.type == "Placeholder"
    assert (x.dtype, x.shape.as_list()) == (tf.float32, [batch, 3])


@pytest.mark.parametrize(
    "features, batch, error, pattern",
    [
        pytest.param(
            {}, None, TypeError, r"`features` \(\{\}\) must be a non-empty dict", id="empty"
        ),
        pytest.param({"x": 3}, None, TypeError, r"`features\['x'\]` \(3\) must be", id="int"),
        pytest.param(
            {"x": tf.TensorSpec([], tf.float32)}, None, ValueError, r"has rank 0", id="scalar"
        ),
        pytest.param(
            {"x": tf.TensorSpec([None], tf.float32)},
            0,
            ValueError,
            r"`default_batch_size` \(0\)",
            id="batch_zero",
        ),
        pytest.param(
            {"x": tf.TensorSpec([None], tf.float32)},
            2.0,
            TypeError,
            r"`default_batch_size` \(2.0\)",
            id="batch_float",
        ),
    ],
)
def test_raw_receiver_rejects_bad_arguments(features, batch, error, pattern):
    with pytest.raises(error, match=pattern):
        serving.build_raw_serving_input_receiver_fn(features, default_batch_size=batch)


def test_parsing_receiver_parses_examples():
    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "x": tf.train.Feature(float_list=tf.train.FloatList(value=[1.5, -2.0])),
                "k": tf.train.Feature(int64_list=tf.train.Int64List(value=[7, 8, 9])),
            }
        )
    ).SerializeToString()
    receiver_fn = serving.build_parsing_serving_input_receiver_fn(FEATURE_SPEC)

    def build():
        receiver = receiver_fn()
        examples = receiver.receiver_tensors["examples"]
        assert examples.op.name == "input_example_tensor"
        with tf.compat.v1.Session() as session:
            return session.run(receiver.features, {examples: [example]})

    features = _in_graph(build)
    np.testing.assert_array_equal(features["x"], [[1.5, -2.0]])
    np.testing.assert_array_equal(features["k"].values, [7, 8, 9])


def test_parsing_receiver_rejects_empty_spec():
    with pytest.raises(TypeError, match=r"`feature_spec` \(\{\}\) must be a non-empty dict"):
        serving.build_parsing_serving_input_receiver_fn({})


def _upstream_export():
    from tensorflow_estimator.python.estimator.export import export

    return export


@pytest.mark.estimator_world
@pytest.mark.parametrize("batch", [None, 3])
def test_builders_match_upstream(batch):
    upstream = _upstream_export()
    features = {"x": tf.zeros([5, 2]), "ids": tf.zeros([5], tf.int64)}
    pairs = [
        (
            serving.build_raw_serving_input_receiver_fn(features, batch),
            upstream.build_raw_serving_input_receiver_fn(features, batch),
        ),
        (
            serving.build_parsing_serving_input_receiver_fn(FEATURE_SPEC, batch),
            upstream.build_parsing_serving_input_receiver_fn(FEATURE_SPEC, batch),
        ),
    ]
    for ours, theirs in pairs:
        assert _layout(_in_graph(ours)) == _layout(_in_graph(theirs))


@pytest.mark.estimator_world
def test_upstream_receivers_are_accepted():
    upstream = _upstream_export()

    def build():
        x = tf.compat.v1.placeholder(tf.float32, [None, 2])
        theirs = [
            upstream.ServingInputReceiver(x, x, {"alt": x}),
            upstream.TensorServingInputReceiver(x, {"x": x}),
        ]
        return [(_layout(serving.check_receiver(r)), _layout(r)) for r in theirs]

    for ours, theirs in _in_graph(build):
        assert ours == theirs
