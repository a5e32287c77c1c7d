"""Shared test helpers: world markers and running code in a fresh process."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

from estimator_spec_compat import _compat


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "estimator_world: needs the real tensorflow-estimator (TF 2.15 world)"
    )
    config.addinivalue_line(
        "markers", "modern_world: checks the world without tensorflow-estimator"
    )


def pytest_collection_modifyitems(config, items):
    skip_estimator = pytest.mark.skip(
        reason="needs the real tensorflow-estimator (estimator world: TF 2.15.1 + "
        "tensorflow-estimator 2.15.0); this is the modern world"
    )
    skip_modern = pytest.mark.skip(
        reason="checks the modern world (no tensorflow-estimator); this is the estimator world"
    )
    for item in items:
        if "estimator_world" in item.keywords and not _compat.HAS_ESTIMATOR:
            item.add_marker(skip_estimator)
        if "modern_world" in item.keywords and _compat.HAS_ESTIMATOR:
            item.add_marker(skip_modern)


def run_python(code, *, env=None, timeout=600):
    """Runs ``code`` in a fresh interpreter; returns its stdout, fails the test on error.

    Use it for anything that changes process-wide TF settings (logical devices,
    TF_USE_LEGACY_KERAS) so one test cannot leak into another.
    """
    full_env = dict(os.environ)
    full_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"subprocess failed with exit code {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc.stdout


@pytest.fixture
def python_subprocess():
    """The ``run_python`` helper as a fixture."""
    return run_python


def _deprecations(stderr):
    """Lines of ``stderr`` that report a deprecation (TF's log or Python's warnings)."""
    return [line for line in stderr.splitlines() if re.search(r"deprecat", line, re.IGNORECASE)]


@pytest.fixture
def deprecations():
    """``deprecations(stderr)``: the deprecation lines in a subprocess's stderr."""
    return _deprecations
