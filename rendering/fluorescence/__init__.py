"""The fluorescence core: from a tracked NIR frame to values on the model, without VTK.

The camera model (OpenCV pinhole), the triangle surface as arrays, rasterisation and a
bounding-volume hierarchy for exact occlusion (numba), vertex visibility from a pose,
radiometric correction, the projection of one frame onto the mesh, the fusion of frames into
one map, its metrics (SBR/TBR, margin flags at the clinical thresholds) and its accuracy
against a known region; and the synthetic NIR camera the simulator and the tests use.
numpy, scipy and numba only: an import-linter contract keeps VTK, pyvista and Qt out; the
drawing (:mod:`rendering.fluorescence_output`, :mod:`rendering.colour_scale`) sits above it.
"""
