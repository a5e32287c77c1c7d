"""Fixtures for the runner's tests: the legacy model_fns, loaded by path."""

import importlib.util
import pathlib

import pytest

MODELS_PATH = pathlib.Path(__file__).with_name("_models.py")

#: Code that loads the same models inside a ``python_subprocess``.
LOAD_MODELS = f"""
import importlib.util
_spec = importlib.util.spec_from_file_location("runner_test_models", {str(MODELS_PATH)!r})
models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(models)
"""


@pytest.fixture(scope="session")
def models():
    """The module of legacy model_fns and input_fns (tests/runner/_models.py)."""
    spec = importlib.util.spec_from_file_location("runner_test_models", MODELS_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def load_models_code():
    """Python source that defines ``models`` in a subprocess."""
    return LOAD_MODELS
