"""Site configuration and what Dagster calls a site's objects: models, loading, naming,
partitions, paths and per-site resources."""
