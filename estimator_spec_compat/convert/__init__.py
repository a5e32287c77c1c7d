"""Converters from TF1/Estimator-era objects to their TF2 equivalents."""
