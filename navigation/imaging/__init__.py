"""Reading what hospitals export: DICOM series, NIfTI, NRRD, MHA/MHD, into one :class:`Volume`."""
