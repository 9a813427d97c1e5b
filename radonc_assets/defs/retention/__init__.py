"""The retention of the data folder: dates past ``retention_days`` purged of identifiers."""
