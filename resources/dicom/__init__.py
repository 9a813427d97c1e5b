"""DICOM networking: client, query identifiers, presentation contexts, pynetdicom work-arounds."""
