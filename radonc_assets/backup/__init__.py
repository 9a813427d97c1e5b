"""Dagster-free backup logic.

Manifests and their comparison, source queries, transfers, content hashes and
audit files.
"""
