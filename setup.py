"""Packaging shim: all metadata is in pyproject.toml (``pip install .`` reads it there).

Kept so that tools and habits that call ``setup.py`` still find the project.
"""

from setuptools import setup

setup()
