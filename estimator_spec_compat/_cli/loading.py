"""Loading the user's code (``MODULE:NAME``) and parsing ``--params`` for the command line."""

import importlib
import importlib.util
import inspect
import json
import os
import re
import sys
import traceback


class UsageError(Exception):
    """A command line that cannot be followed; exit status 2."""


class UserCodeError(Exception):
    """Importing the user's module raised; exit status 1."""


def describe(error):
    """``Type: message (at file:line)`` of an exception raised by the user's code."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def load_callable(reference, option):
    """Imports ``reference`` (``MODULE:NAME``) and returns the callable it names.

    Args:
      reference: ``package.module:name`` or ``path/to/file.py:name``.
      option: the argument it came from, for messages (e.g. ``"MODEL_FN"``).

    Returns:
      The callable.

    Raises:
      UsageError: the reference is malformed, the module cannot be found, or the
        name is missing or not callable.
    """
    module_name, sep, name = reference.rpartition(":")
    if not sep or not module_name or not name.isidentifier():
        raise UsageError(
            f"{option} ({reference!r}) must be MODULE:NAME, e.g. 'my_package.model:model_fn' "
            "or 'path/to/model.py:model_fn'."
        )
    module = _import(module_name, option)
    if not hasattr(module, name):
        functions = sorted(
            key
            for key, value in vars(module).items()
            if inspect.isfunction(value) and not key.startswith("_")
        )
        raise UsageError(
            f"{option} ({reference!r}): module {module_name!r} has no attribute {name!r}. "
            f"Name one of its functions: {', '.join(functions) or '(it defines none)'}."
        )
    value = getattr(module, name)
    if not callable(value):
        raise UsageError(
            f"{option} ({reference!r}) names a {type(value).__name__}, not a function. "
            "Name the function itself."
        )
    return value


def _import(module_name, option):
    """Imports a dotted module or a .py file; a module that is not there is a UsageError."""
    is_path = module_name.endswith(".py") or os.sep in module_name or "/" in module_name
    if is_path:
        return _import_file(module_name, option)
    _put_on_path(os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if not (module_name == missing or module_name.startswith(missing + ".")):
            raise _user_code_error(module_name, error) from error
        raise UsageError(
            f"{option}: cannot import module {module_name!r} ({error}). Check the spelling, "
            "run from the directory that contains it, or give the path to its .py file instead."
        ) from None
    except Exception as error:  # the user's module raised while importing
        raise _user_code_error(module_name, error) from error


def _user_code_error(module_name, error):
    return UserCodeError(f"importing {module_name!r} raised {describe(error)}")


def _import_file(path, option):
    if not os.path.isfile(path):
        raise UsageError(
            f"{option}: there is no file {path!r} (the current directory is {os.getcwd()!r}). "
            "Fix the path, or give a dotted module name instead."
        )
    unique = "_estimator_spec_compat_user_" + re.sub(r"\W", "_", os.path.abspath(path))
    if unique in sys.modules:  # MODEL_FN and --input-fn from one file: import it once
        return sys.modules[unique]
    spec = importlib.util.spec_from_file_location(unique, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    _put_on_path(os.path.dirname(os.path.abspath(path)))
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's module raised while importing
        del sys.modules[unique]
        raise _user_code_error(path, error) from error
    return module


def _put_on_path(directory):
    """Puts ``directory`` first on sys.path (kept there, as ``python -m`` and scripts do)."""
    if directory not in sys.path:
        sys.path.insert(0, directory)


def parse_params(text):
    """The ``--params`` JSON as a dict; anything else is a UsageError."""
    try:
        params = json.loads(text)
    except ValueError as error:
        raise UsageError(f"--params ({text!r}) is not valid JSON: {error}.") from None
    if not isinstance(params, dict):
        raise UsageError(
            f"--params ({text!r}) must be a JSON object, e.g. '{{\"learning_rate\": 0.1}}'."
        )
    return params
