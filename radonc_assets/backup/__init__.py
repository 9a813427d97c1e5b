"""Dagster-free backup logic: manifests and their comparison, source queries, transfers,
content hashes and audit files."""
