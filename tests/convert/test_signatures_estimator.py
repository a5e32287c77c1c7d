"""Parity with the real ``tf.estimator.Estimator.export_saved_model`` (estimator world).

One model_fn with default + named classification + regression outputs is
trained for one step by the real Estimator and exported by it; the same
variables (restored from its checkpoint) are exported by
``build_signatures`` + ``save_serving_model``.  Both SavedModels must hold the
same signatures (names, method names, input and output keys, dtypes and
shapes: read from each ``saved_model.pb``, and in one case also from TF's own
``saved_model_cli show --all`` listing) and give the same outputs when loaded
and called on the same inputs.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from tensorflow.core.protobuf import saved_model_pb2

from estimator_spec_compat._compat import (
    ClassificationOutput,
    ModeKeys,
    PredictOutput,
    RegressionOutput,
    tf,
)
from estimator_spec_compat.convert import serving, signatures

pytestmark = pytest.mark.estimator_world

FEATURE_SPEC = {"x": tf.io.FixedLenFeature([2], tf.float32)}
X = np.array([[1.0, 2.0], [-0.5, 3.0], [0.25, -1.0]], np.float32)
Y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], np.float32)


def model_fn(features, labels, mode):
    x = features["x"]
    w = tf.compat.v1.get_variable("w", [2, 3])
    b = tf.compat.v1.get_variable("b", [3], initializer=tf.compat.v1.zeros_initializer())
    logits = tf.matmul(x, w) + b
    probs = tf.nn.softmax(logits)
    classes = tf.tile(tf.constant([[b"a", b"b", b"c"]]), [tf.shape(x)[0], 1])
    predictions = {"logits": logits, "probs": probs}
    export_outputs = {
        tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY: PredictOutput(predictions),
        "classify": ClassificationOutput(scores=probs, classes=classes),
        "regress": RegressionOutput(tf.reduce_sum(logits, axis=1)),
    }
    loss = train_op = None
    if mode == ModeKeys.TRAIN:
        loss = tf.reduce_mean(tf.square(logits - labels))
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.5).minimize(
            loss, global_step=tf.compat.v1.train.get_global_step()
        )
    return tf.estimator.EstimatorSpec(
        mode, predictions=predictions, loss=loss, train_op=train_op, export_outputs=export_outputs
    )


def _with_alternatives(receiver_class):
    def receiver_fn():
        examples = tf.compat.v1.placeholder(tf.string, [None], name="input_example_tensor")
        features = tf.io.parse_example(examples, FEATURE_SPEC)
        return receiver_class(features, {"examples": examples}, {"raw": {"x": features["x"]}})

    return receiver_fn


RECEIVERS = [
    pytest.param(
        lambda: tf.estimator.export.build_parsing_serving_input_receiver_fn(FEATURE_SPEC),
        lambda: serving.build_parsing_serving_input_receiver_fn(FEATURE_SPEC),
        {"serving_default", "classify", "regress"},
        False,
        id="parsing",
    ),
    pytest.param(
        lambda: tf.estimator.export.build_raw_serving_input_receiver_fn({"x": tf.zeros([1, 2])}),
        lambda: serving.build_raw_serving_input_receiver_fn(
            {"x": tf.TensorSpec([None, 2], tf.float32)}
        ),
        {"serving_default"},
        False,
        id="raw",
    ),
    pytest.param(
        lambda: _with_alternatives(tf.estimator.export.ServingInputReceiver),
        lambda: _with_alternatives(serving.ServingInputReceiver),
        {"serving_default", "classify", "regress", "raw:serving_default"},
        True,
        id="alternatives_cli",
    ),
    pytest.param(
        lambda: _with_alternatives(tf.estimator.export.ServingInputReceiver),
        lambda: _with_alternatives(tf.estimator.export.ServingInputReceiver),
        {"serving_default", "classify", "regress", "raw:serving_default"},
        False,
        id="upstream_receiver_on_both",
    ),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The model_dir of a real Estimator trained for one step."""
    model_dir = os.fspath(tmp_path_factory.mktemp("model"))
    estimator = tf.estimator.Estimator(model_fn, model_dir=model_dir)
    estimator.train(lambda: tf.data.Dataset.from_tensors(({"x": X}, Y)).repeat(), steps=1)
    return estimator


def _our_export(checkpoint, receiver_fn, export_dir):
    template = tf.compat.v1.make_template("model", model_fn)
    template({"x": tf.zeros([1, 2])}, None, ModeKeys.PREDICT)
    for variable in template.variables:  # "model/w:0" holds the Estimator's "w"
        name = variable.name.split("/", 1)[1].split(":")[0]
        variable.assign(tf.train.load_variable(checkpoint, name))
    sigs = signatures.build_signatures(
        lambda features: template(features, None, ModeKeys.PREDICT), receiver_fn
    )
    return signatures.save_serving_model(export_dir, sigs)


def _listing(export_dir):
    """saved_model_cli's listing, parsed: signature -> (method, inputs, outputs)."""
    text = subprocess.run(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
        + ["show", "--dir", export_dir, "--all"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    ).stdout
    tensor = r"(inputs|outputs)\['([^']+)'\] tensor_info:\s+dtype: (\w+)\s+shape: (\S+)"
    result = {}
    for block in text.split("signature_def['")[1:]:
        name = block.split("']", 1)[0]
        if name == "__saved_model_init_op":  # TF2's init signature; not a serving one
            continue
        block = block.split("\n\n")[0]
        tensors = re.findall(tensor, block)
        result[name] = (
            re.search(r"Method name is: (\S+)", block).group(1),
            sorted((k, d, s) for kind, k, d, s in tensors if kind == "inputs"),
            sorted((k, d, s) for kind, k, d, s in tensors if kind == "outputs"),
        )
    return result


def _table(export_dir):
    """The SavedModel proto's signatures: signature -> (method, inputs, outputs)."""
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    (meta_graph,) = proto.meta_graphs
    assert list(meta_graph.meta_info_def.tags) == ["serve"]

    def tensors(infos):
        return sorted(
            (key, info.dtype, [d.size for d in info.tensor_shape.dim])
            for key, info in infos.items()
        )

    return {
        name: (sig.method_name, tensors(sig.inputs), tensors(sig.outputs))
        for name, sig in meta_graph.signature_def.items()
        if name != "__saved_model_init_op"
    }


def _examples():
    return tf.constant(
        [
            tf.train.Example(
                features=tf.train.Features(
                    feature={"x": tf.train.Feature(float_list=tf.train.FloatList(value=row))}
                )
            ).SerializeToString()
            for row in X
        ]
    )


@pytest.mark.parametrize("upstream_fn, our_fn, names, use_cli", RECEIVERS)
def test_export_matches_estimator(trained, tmp_path, upstream_fn, our_fn, names, use_cli):
    theirs = trained.export_saved_model(os.fspath(tmp_path / "estimator"), upstream_fn())
    theirs = theirs.decode() if isinstance(theirs, bytes) else theirs
    ours = _our_export(trained.latest_checkpoint(), our_fn(), os.fspath(tmp_path / "ours" / "1"))

    assert _table(ours) == _table(theirs)
    assert set(_table(ours)) == names
    if use_cli:  # TF's own tool lists the same (once: each run is a fresh interpreter)
        assert _listing(ours) == _listing(theirs)

    their_model, our_model = tf.saved_model.load(theirs), tf.saved_model.load(ours)
    assert sorted(our_model.signatures.keys()) == sorted(their_model.signatures.keys())
    for key, (_, inputs, _) in _table(ours).items():
        feed = {
            name: _examples() if tf.as_dtype(dtype) == tf.string else tf.constant(X)
            for name, dtype, _ in inputs
        }
        expected = their_model.signatures[key](**feed)
        actual = our_model.signatures[key](**feed)
        assert sorted(actual) == sorted(expected)
        for name, value in expected.items():
            if value.dtype == tf.string:
                assert actual[name].numpy().tolist() == value.numpy().tolist()
            else:
                np.testing.assert_allclose(actual[name], value, rtol=1e-6, atol=1e-7)
