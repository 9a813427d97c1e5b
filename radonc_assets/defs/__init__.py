"""Dagster objects only, one folder per capability with the same file names in each."""
