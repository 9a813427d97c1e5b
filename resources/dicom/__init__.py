"""DICOM networking: the client, query identifiers, presentation contexts and the
pynetdicom work-arounds."""
