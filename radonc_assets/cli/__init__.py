"""The `radonc` command line."""
