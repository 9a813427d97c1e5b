"""The I/O boundary of radonc-backup: DICOM network, Orthanc and the Mosaiq database."""
