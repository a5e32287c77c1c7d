"""The package: world detection, public API, the installed copy, import-time messages."""

import importlib
import os
import types

import pytest
import tensorflow as tf

import estimator_spec_compat
from estimator_spec_compat import _compat


@pytest.mark.parametrize(
    "module_name",
    ["estimator_spec_compat", "estimator_spec_compat.convert", "estimator_spec_compat.runner"],
)
def test_all_lists_exactly_the_public_names(module_name):
    module = importlib.import_module(module_name)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(module.__all__) == public
    for name in module.__all__:
        assert getattr(module, name) is not None


@pytest.mark.skipif(
    os.environ.get("ESTIMATOR_SPEC_COMPAT_EXPECT_INSTALLED") != "1",
    reason="only meaningful under tox, which installs the wheel",
)
def test_tests_run_against_the_installed_package_not_the_checkout():
    assert "site-packages" in estimator_spec_compat.__file__, estimator_spec_compat.__file__


@pytest.mark.estimator_world
def test_estimator_world_uses_upstreams_own_objects():
    assert _compat.WORLD == "estimator" and estimator_spec_compat.HAS_ESTIMATOR
    assert estimator_spec_compat.ModeKeys is tf.estimator.ModeKeys
    assert issubclass(estimator_spec_compat.EstimatorSpec, tf.estimator.EstimatorSpec)
    assert issubclass(
        estimator_spec_compat.TPUEstimatorSpec, tf.compat.v1.estimator.tpu.TPUEstimatorSpec
    )
    assert _compat.PredictOutput is tf.estimator.export.PredictOutput


@pytest.mark.modern_world
def test_modern_world_stands_on_tf_core():
    assert _compat.WORLD == "modern" and not estimator_spec_compat.HAS_ESTIMATOR
    assert not hasattr(tf, "estimator")
    from tensorflow.python.saved_model.model_utils import mode_keys

    assert estimator_spec_compat.ModeKeys is mode_keys.EstimatorModeKeys
    spec_cls = estimator_spec_compat.EstimatorSpec
    assert spec_cls._fields == (
        "mode",
        "predictions",
        "loss",
        "train_op",
        "eval_metric_ops",
        "export_outputs",
        "training_chief_hooks",
        "training_hooks",
        "scaffold",
        "evaluation_hooks",
        "prediction_hooks",
    )


def test_world_matches_whether_tensorflow_estimator_works():
    try:
        importlib.import_module("tensorflow_estimator.python.estimator.model_fn")
        works = True
    except ImportError:
        works = False
    assert estimator_spec_compat.HAS_ESTIMATOR is works


@pytest.mark.modern_world
def test_broken_tensorflow_estimator_falls_back_to_modern_and_says_why_once(python_subprocess):
    broken = os.environ.get("ESTIMATOR_SPEC_COMPAT_BROKEN_ESTIMATOR")
    if not broken:
        pytest.skip(
            "set ESTIMATOR_SPEC_COMPAT_BROKEN_ESTIMATOR to a folder holding tensorflow-estimator "
            "2.15.0 (tox's modern env installs it there)"
        )
    out = python_subprocess(
        f"""
        import logging, sys
        sys.path.append({broken!r})
        records = []
        handler = logging.Handler()
        handler.emit = records.append
        logging.getLogger("estimator_spec_compat").addHandler(handler)
        logging.getLogger("estimator_spec_compat").setLevel(logging.DEBUG)
        import importlib.util
        assert importlib.util.find_spec("tensorflow_estimator") is not None  # installed...
        import estimator_spec_compat as esc  # ...but broken on this TF
        print(esc.WORLD, esc.EstimatorSpec(mode="infer", predictions={{"y": __import__("tensorflow").ones([1])}}).mode)
        print(sum("estimator_training" in r.getMessage() for r in records))
        """
    )
    world_line, count_line = out.strip().splitlines()[-2:]
    assert world_line == "modern infer"
    assert count_line == "1"


def test_missing_tensorflow_names_the_pip_command(python_subprocess):
    out = python_subprocess(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "tensorflow" or name.startswith("tensorflow."):
                    raise ImportError("No module named 'tensorflow'")
        sys.meta_path.insert(0, Block())
        try:
            import estimator_spec_compat
        except ImportError as error:
            print(error)
        """
    )
    assert "pip install tensorflow-cpu==2.21.0" in out
    assert "estimator_spec_compat[estimator]" in out


@pytest.mark.skipif(
    os.environ.get("ESTIMATOR_SPEC_COMPAT_EXPECT_INSTALLED") != "1",
    reason="only meaningful under tox, which installs the wheel",
)
def test_one_version_and_typed_package_metadata():
    """The installed distribution's version is the package's one ``__version__``; it
    ships ``py.typed``; ``Requires-Python`` admits the interpreter tox tests with."""
    import importlib.metadata
    import pathlib
    import sys

    import estimator_spec_compat

    meta = importlib.metadata.metadata("estimator_spec_compat")
    assert meta["Version"] == estimator_spec_compat.__version__
    assert meta["Requires-Python"] == ">=3.11"
    assert sys.version_info >= (3, 11)
    assert (pathlib.Path(estimator_spec_compat.__file__).parent / "py.typed").is_file()
