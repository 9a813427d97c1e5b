"""Dagster definitions, site configuration and the `radonc` command line of radonc-backup."""
