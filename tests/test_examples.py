"""The examples a migrating user tries first run, in both worlds, from a copy of the source."""

import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("name", ["validate_specs.py"])
def test_example_runs(name, python_subprocess):
    source = (EXAMPLES / name).read_text()
    out = python_subprocess(source.replace('if __name__ == "__main__":', "if True:"))
    assert "infer: valid" in out
    assert "Invalid TPUEstimatorSpec: 4 problems." in out
