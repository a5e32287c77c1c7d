"""Packaging for estimator_spec_compat.

TensorFlow itself is not an install requirement, on purpose (the approach of
tensorflow-probability and tensorflow-addons): users run `tensorflow`,
`tensorflow-cpu`, a GPU or a vendor build, and pip must not pull in a second TF
beside it.  Importing the package without TF says which pip command to run.
The extras pick a world:

* ``[estimator]``: the real tensorflow-estimator 2.15.0 (needs TF 2.15.x).
* ``[modern]``: TF >= 2.16 with tf-keras, for model_fns using
  ``tf.compat.v1.layers`` (set ``TF_USE_LEGACY_KERAS=1``), and tensorboard,
  which TF >= 2.16 no longer installs but ``tf.summary.scalar`` needs.
* ``[tf]`` / ``[tf-cpu]``: convenience extras that also install TF.
* ``[test]``: what the test suite needs.
"""

import pathlib

from setuptools import find_packages, setup

_HERE = pathlib.Path(__file__).parent

setup(
    name="estimator_spec_compat",
    version="0.1.0",
    description=(
        "EstimatorSpec / TPUEstimatorSpec with strict validation, TF2 conversion "
        "helpers and a tf.distribute runner for legacy Estimator model_fns."
    ),
    long_description=(_HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["estimator_spec_compat", "estimator_spec_compat.*"]),
    install_requires=[],
    extras_require={
        "estimator": ["tensorflow-estimator==2.15.0"],
        "modern": ["tf-keras>=2.16", "tensorboard>=2.16"],
        "tf": ["tensorflow>=2.15"],
        "tf-cpu": ["tensorflow-cpu>=2.15"],
        "test": ["pytest>=7", "hypothesis>=6"],
    },
    entry_points={
        "console_scripts": ["estimator-spec-compat=estimator_spec_compat.cli:main"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
