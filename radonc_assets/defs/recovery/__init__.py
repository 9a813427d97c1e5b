"""The recovery capability: restores from the archive into a DICOM node, verified."""
