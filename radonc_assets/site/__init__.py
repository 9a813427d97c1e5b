"""Site configuration and the names of a site's objects in Dagster.

Models and loading of the site files, naming, partitions, paths and the
per-site Dagster resources (dagster_resources.py) and plain clients (clients.py).
"""
