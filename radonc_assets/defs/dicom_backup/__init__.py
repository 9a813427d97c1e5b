"""The DICOM backup capability: ARIA and MIM copied into the archive, then validated."""
