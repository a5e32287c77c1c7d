"""export_outputs -> TF2 signatures, and the atomic SavedModel write (both worlds).

Expected outputs come from calling the model itself eagerly on the same
features; expected keys and method names are the SignatureDef conventions of
TF's ``signature_constants`` (classify: inputs/classes/scores, regress:
inputs/outputs, predict: the receiver's and the PredictOutput's keys).
"""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from estimator_spec_compat._compat import (
    ClassificationOutput,
    PredictOutput,
    RegressionOutput,
    tf,
)
from estimator_spec_compat.convert import _export_writer, serving, signatures

CLASSES = [b"a", b"b", b"c"]
FEATURE_SPEC = {"x": tf.io.FixedLenFeature([2], tf.float32)}
X = np.array([[1.0, 2.0], [-0.5, 3.0], [0.0, 0.0]], np.float32)


def _outputs(x):
    """The model: logits = x @ w, with default + classify + regress outputs."""
    w = tf.compat.v1.get_variable("w", [2, 3], initializer=tf.compat.v1.random_normal_initializer)
    logits = tf.matmul(x, w)
    probs = tf.nn.softmax(logits)
    classes = tf.tile(tf.constant(CLASSES)[None], [tf.shape(x)[0], 1])
    return logits, {
        "serving_default": PredictOutput({"logits": logits, "probs": probs}),
        "classify": ClassificationOutput(scores=probs, classes=classes),
        "regress": RegressionOutput(tf.reduce_sum(logits, axis=1)),
    }


class _Spec:
    """A duck-typed PREDICT spec: only the two fields that export reads."""

    def __init__(self, predictions, export_outputs):
        self.predictions = predictions
        self.export_outputs = export_outputs


@pytest.fixture
def model():
    template = tf.compat.v1.make_template("model", lambda x: _Spec(*_outputs(x)))
    template(tf.zeros([1, 2]))  # builds the variables eagerly, once.
    return template


def _call(template):
    return lambda features: template(features["x"])


def _examples(x):
    return tf.constant(
        [
            tf.train.Example(
                features=tf.train.Features(
                    feature={"x": tf.train.Feature(float_list=tf.train.FloatList(value=row))}
                )
            ).SerializeToString()
            for row in x
        ]
    )


def _expected(template, x):
    """Logits and probabilities computed by hand (numpy) from the model's weights."""
    (w,) = template.variables
    logits = x @ w.numpy()
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return logits, exp / exp.sum(axis=1, keepdims=True)


def _save(tmp_path, sigs, name="1"):
    return signatures.save_serving_model(os.fspath(tmp_path / name), sigs)


def test_parsing_receiver_gives_predict_classify_regress(model, tmp_path):
    sigs = signatures.build_signatures(
        _call(model), serving.build_parsing_serving_input_receiver_fn(FEATURE_SPEC)
    )
    assert dict(sigs.method_names) == {
        "serving_default": "tensorflow/serving/predict",
        "classify": "tensorflow/serving/classify",
        "regress": "tensorflow/serving/regress",
    }
    assert dict(sigs.excluded) == {}
    loaded = tf.saved_model.load(_save(tmp_path, sigs))
    logits, probs = _expected(model, X)
    examples = _examples(X)
    predict = loaded.signatures["serving_default"](examples=examples)
    np.testing.assert_allclose(predict["logits"], logits, rtol=1e-6)
    np.testing.assert_allclose(predict["probs"], probs, rtol=1e-6)
    classify = loaded.signatures["classify"](inputs=examples)
    np.testing.assert_allclose(classify["scores"], probs, rtol=1e-6)
    assert classify["classes"].numpy().tolist() == [CLASSES] * len(X)
    regress = loaded.signatures["regress"](inputs=examples)
    np.testing.assert_allclose(regress["outputs"], logits.sum(axis=1), rtol=1e-5)


def test_raw_receiver_leaves_out_classify_and_regress_as_upstream(model, tmp_path):
    receiver_fn = serving.build_raw_serving_input_receiver_fn(
        {"x": tf.TensorSpec([None, 2], tf.float32)}
    )
    sigs = signatures.build_signatures(_call(model), receiver_fn)
    assert sorted(sigs.functions) == ["serving_default"]
    assert sorted(sigs.excluded) == ["classify", "regress"]
    assert "single tensor input of type tf.string" in sigs.excluded["classify"]
    loaded = tf.saved_model.load(_save(tmp_path, sigs))
    out = loaded.signatures["serving_default"](x=tf.constant(X))
    np.testing.assert_allclose(out["logits"], _expected(model, X)[0], rtol=1e-6)


def test_alternatives_give_prefixed_signatures(model):
    def receiver_fn():
        examples = tf.compat.v1.placeholder(tf.string, [None], name="input_example_tensor")
        features = tf.io.parse_example(examples, FEATURE_SPEC)
        return serving.ServingInputReceiver(
            features, {"examples": examples}, {"raw": {"x": features["x"]}}
        )

    sigs = signatures.build_signatures(_call(model), receiver_fn)
    assert sorted(sigs.functions) == [
        "classify",
        "raw:serving_default",
        "regress",
        "serving_default",
    ]
    assert sorted(sigs.excluded) == ["raw:classify", "raw:regress"]
    out = sigs.functions["raw:serving_default"](x=tf.constant(X))
    np.testing.assert_allclose(out["logits"], _expected(model, X)[0], rtol=1e-6)


def test_building_twice_reuses_the_template_variables(model):
    receiver_fn = serving.build_parsing_serving_input_receiver_fn(FEATURE_SPEC)
    first = signatures.build_signatures(_call(model), receiver_fn)
    second = signatures.build_signatures(_call(model), receiver_fn)
    (w,) = model.variables
    assert first.variables[0] is w
    assert second.variables[0] is w


def test_template_called_twice_eagerly_still_runs_eagerly_after_export():
    template = tf.compat.v1.make_template("model", lambda x: _Spec(*_outputs(x)))
    template(tf.zeros([1, 2]))
    template(tf.zeros([1, 2]))  # the variable scope is cached now, eagerly
    sigs = signatures.build_signatures(
        _call(template), serving.build_parsing_serving_input_receiver_fn(FEATURE_SPEC)
    )
    eager = template(tf.constant(X)).predictions
    assert isinstance(eager, type(tf.constant(0.0))), "the template must stay eager"
    exported = sigs.functions["serving_default"](examples=_examples(X))["logits"]
    np.testing.assert_allclose(exported, eager.numpy(), rtol=1e-6)
    np.testing.assert_allclose(exported, _expected(template, X)[0], rtol=1e-5)


def test_model_call_that_creates_variables_is_refused():
    def model_call(features):
        return _Spec(*_outputs(features["x"]))  # get_variable with no template: new variable

    receiver_fn = serving.build_parsing_serving_input_receiver_fn(FEATURE_SPEC)
    with pytest.raises(ValueError, match=r"created variables \['w:0'\].*Build and restore"):
        signatures.build_signatures(model_call, receiver_fn)


@pytest.mark.parametrize(
    "bad, error, pattern",
    [
        pytest.param(42, TypeError, r"`model_call` returned 42", id="not_a_spec"),
        pytest.param({"a": 1}, TypeError, r"`export_outputs\['a'\]` \(1\)", id="not_export_output"),
        pytest.param(_Spec(None, [1]), TypeError, r"`export_outputs` \(\[1\]\)", id="list_outputs"),
    ],
)
def test_export_outputs_of_rejects_bad_values(bad, error, pattern):
    with pytest.raises(error, match=pattern):
        signatures.export_outputs_of(bad)


def test_export_outputs_of_defaults_as_upstream():
    with tf.Graph().as_default():
        pred = tf.constant([[1.0]])
        none = signatures.export_outputs_of(_Spec({"p": pred}, None))
        assert list(none) == ["serving_default"]
        assert list(none["serving_default"].outputs) == ["p"]
        single = {"named": PredictOutput(pred)}
        result = signatures.export_outputs_of(_Spec(None, single))
        assert result["serving_default"] is result["named"] is single["named"]
        assert list(single) == ["named"], "the spec's own dict must not be changed"
        two = {"a": PredictOutput(pred), "b": PredictOutput(pred)}
        with pytest.raises(ValueError, match=r"none under 'serving_default'"):
            signatures.export_outputs_of(two)


@pytest.mark.parametrize(
    "name, value, pattern",
    [
        pytest.param("model_call", None, r"`model_call` \(None\) must be callable", id="model"),
        pytest.param(
            "serving_input_receiver_fn", 3, r"`serving_input_receiver_fn` \(3\)", id="receiver"
        ),
    ],
)
def test_build_signatures_rejects_non_callables(name, value, pattern):
    args = {"model_call": lambda f: f, "serving_input_receiver_fn": lambda: None}
    args[name] = value
    with pytest.raises(TypeError, match=pattern):
        signatures.build_signatures(**args)


def test_saved_model_cli_lists_the_signatures(model, tmp_path):
    sigs = signatures.build_signatures(
        _call(model), serving.build_parsing_serving_input_receiver_fn(FEATURE_SPEC)
    )
    path = _save(tmp_path, sigs)
    listing = subprocess.run(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show"]
        + ["--dir", path, "--all"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    ).stdout
    blocks = {block.split("']", 1)[0]: block for block in listing.split("signature_def['")[1:]}
    assert {"serving_default", "classify", "regress"} <= set(blocks)
    expected = {
        "serving_default": ("predict", ["examples"], ["logits", "probs"]),
        "classify": ("classify", ["inputs"], ["classes", "scores"]),
        "regress": ("regress", ["inputs"], ["outputs"]),
    }
    for key, (method, inputs, outputs) in expected.items():
        block = blocks[key]
        assert f"Method name is: tensorflow/serving/{method}" in block
        for name in inputs:
            assert f"inputs['{name}'] tensor_info:\n        dtype: DT_STRING" in block
        assert sorted(part.split("'")[0] for part in block.split("outputs['")[1:]) == outputs
    assert "outputs['classes'] tensor_info:\n        dtype: DT_STRING" in blocks["classify"]


def test_save_refuses_an_existing_directory(model, tmp_path):
    sigs = signatures.build_signatures(
        _call(model), serving.build_parsing_serving_input_receiver_fn(FEATURE_SPEC)
    )
    (tmp_path / "1").mkdir()
    with pytest.raises(ValueError, match=r"`export_dir` \('.*1'\) already exists"):
        _save(tmp_path, sigs)


def test_root_that_does_not_track_the_variables_is_refused(model, tmp_path):
    sigs = signatures.build_signatures(
        _call(model), serving.build_parsing_serving_input_receiver_fn(FEATURE_SPEC)
    )
    with pytest.raises(ValueError, match=r"`root` .* does not track a resource .*a variable"):
        signatures.save_serving_model(os.fspath(tmp_path / "1"), sigs, root=tf.Module())
    assert os.listdir(tmp_path) == []


def test_failed_save_leaves_no_directory(model, tmp_path, monkeypatch):
    sigs = signatures.build_signatures(
        _call(model), serving.build_parsing_serving_input_receiver_fn(FEATURE_SPEC)
    )
    written = []

    def fail_after_writing(export_dir, method_names):
        written.extend(os.listdir(export_dir))
        raise OSError("disk full")

    # Patched where save_serving_model looks it up.
    monkeypatch.setattr(_export_writer, "fix_method_names", fail_after_writing)
    with pytest.raises(OSError, match="disk full"):
        _save(tmp_path, sigs)
    assert "saved_model.pb" in written, "the failure must come after the model was written"
    assert os.listdir(tmp_path) == []


def test_root_may_be_the_callers_module(model, tmp_path):
    sigs = signatures.build_signatures(
        _call(model), serving.build_parsing_serving_input_receiver_fn(FEATURE_SPEC)
    )
    root = tf.Module()
    root.model = model
    loaded = tf.saved_model.load(signatures.save_serving_model(tmp_path / "1", sigs, root=root))
    out = loaded.signatures["regress"](inputs=_examples(X))
    np.testing.assert_allclose(out["outputs"], _expected(model, X)[0].sum(axis=1), rtol=1e-5)


def test_save_rejects_non_signatures(tmp_path):
    with pytest.raises(TypeError, match=r"`signatures` \(\{\}\) must be the ServingSignatures"):
        signatures.save_serving_model(os.fspath(tmp_path / "1"), {})


def test_method_names_survive_in_the_saved_model_proto(model, tmp_path):
    from tensorflow.core.protobuf import saved_model_pb2

    sigs = signatures.build_signatures(
        _call(model), serving.build_parsing_serving_input_receiver_fn(FEATURE_SPEC)
    )
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(_save(tmp_path, sigs), "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    (meta_graph,) = proto.meta_graphs
    assert list(meta_graph.meta_info_def.tags) == ["serve"]
    methods = {k: v.method_name for k, v in meta_graph.signature_def.items()}
    assert methods["classify"] == tf.saved_model.CLASSIFY_METHOD_NAME
    assert methods["regress"] == tf.saved_model.REGRESS_METHOD_NAME
    assert methods["serving_default"] == tf.saved_model.PREDICT_METHOD_NAME


def test_timestamped_export_dir_is_new_and_increasing(tmp_path):
    first = signatures.timestamped_export_dir(tmp_path)
    assert os.path.dirname(first) == os.fspath(tmp_path)
    assert abs(int(os.path.basename(first)) - time.time()) < 60
    future = int(os.path.basename(first)) + 100
    (tmp_path / str(future)).mkdir()
    (tmp_path / "temp-123").mkdir()  # not a version
    assert signatures.timestamped_export_dir(tmp_path) == os.path.join(tmp_path, str(future + 1))


def test_export_serving_model_in_one_call(model, tmp_path):
    path = signatures.export_serving_model(
        tmp_path, _call(model), serving.build_parsing_serving_input_receiver_fn(FEATURE_SPEC)
    )
    assert os.listdir(tmp_path) == [os.path.basename(path)]
    loaded = tf.saved_model.load(path)
    assert sorted(loaded.signatures.keys()) == ["classify", "regress", "serving_default"]


def _lookup_outputs(table):
    def model_call(features):
        return {"serving_default": PredictOutput({"ids": table().lookup(features["k"])})}

    return model_call


_STRINGS = serving.build_raw_serving_input_receiver_fn({"k": tf.TensorSpec([None], tf.string)})


def _table():
    initializer = tf.lookup.KeyValueTensorInitializer(["a", "b"], tf.constant([1, 2], tf.int64))
    return tf.lookup.StaticHashTable(initializer, -1)


def test_eager_lookup_table_tracked_by_root_is_saved(tmp_path):
    table = _table()
    sigs = signatures.build_signatures(_lookup_outputs(lambda: table), _STRINGS)
    root = tf.Module()
    root.table = table
    loaded = tf.saved_model.load(signatures.save_serving_model(tmp_path / "1", sigs, root=root))
    ids = loaded.signatures["serving_default"](k=tf.constant(["b", "c", "a"]))["ids"]
    assert ids.numpy().tolist() == [2, -1, 1]


def test_untracked_lookup_table_is_a_clear_error(tmp_path):
    table = _table()
    sigs = signatures.build_signatures(_lookup_outputs(lambda: table), _STRINGS)
    with pytest.raises(ValueError, match=r"`root` .* does not track a resource .*lookup table"):
        signatures.save_serving_model(tmp_path / "1", sigs)
    assert os.listdir(tmp_path) == []


def test_lookup_table_made_while_tracing_is_refused():
    with pytest.raises(ValueError, match=r"made lookup tables while the signatures were traced"):
        signatures.build_signatures(_lookup_outputs(_table), _STRINGS)


_MIRRORED = """
import os
import numpy as np
import tensorflow as tf
cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
from estimator_spec_compat._compat import PredictOutput
from estimator_spec_compat.convert import serving, signatures

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

def model_fn(x):
    w = tf.compat.v1.get_variable("w", [2, 3])
    return {"serving_default": PredictOutput({"y": tf.matmul(x, w)})}

with strategy.scope():
    template = tf.compat.v1.make_template("model", model_fn)
    template(tf.zeros([1, 2]))
    template(tf.zeros([1, 2]))
    (w,) = template.variables
    w.assign(np.arange(6, dtype=np.float32).reshape(2, 3))  # trained values, on both replicas
receiver_fn = serving.build_raw_serving_input_receiver_fn({"x": tf.TensorSpec([None, 2], tf.float32)})
sigs = signatures.build_signatures(lambda f: template(f["x"]), receiver_fn)
root = tf.Module()
root.model_variables = template.variables  # the MirroredVariable itself
path = signatures.save_serving_model(os.path.join(BASE_DIR, "1"), sigs, root=root)
y = tf.saved_model.load(path).signatures["serving_default"](x=tf.constant([[1.0, 2.0]]))["y"]
print("KIND", type(w).__name__)
print("Y", y.numpy().tolist())
"""


def test_mirrored_strategy_variables_are_exported(tmp_path, python_subprocess):
    out = python_subprocess(_MIRRORED.replace("BASE_DIR", repr(os.fspath(tmp_path))))
    assert "KIND MirroredVariable" in out
    # [1, 2] @ [[0, 1, 2], [3, 4, 5]] by hand
    assert "Y [[6.0, 9.0, 12.0]]" in out


def test_keras_model_as_root(tmp_path):
    model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(3)])
    expected = model(X).numpy()  # the Keras model itself, eagerly
    receiver_fn = serving.build_raw_serving_input_receiver_fn(
        {"x": tf.TensorSpec([None, 2], tf.float32)}
    )
    sigs = signatures.build_signatures(
        lambda f: {"serving_default": PredictOutput({"y": model(f["x"])})}, receiver_fn
    )
    root = tf.Module()
    root.model = model
    loaded = tf.saved_model.load(signatures.save_serving_model(tmp_path / "1", sigs, root=root))
    y = loaded.signatures["serving_default"](x=tf.constant(X))["y"]
    np.testing.assert_allclose(y, expected, rtol=1e-6)
