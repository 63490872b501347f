"""The device names the tracking set-up sends, as PLUS names them: the transforms of the
tracked tools (``PointerToTracker`` carries ``tracker_from_pointer``), the STRING carrying the
pointer's tip calibration, and the IMAGE frames of the NIR camera.

The app's defaults, the offline mapper and the simulator all take them from here, so the
clinical path never loads the simulator to learn a name.
"""

from __future__ import annotations

#: Device name of the STRING carrying ``pointer_from_tip`` (16 numbers, row-major).
TIP_CALIBRATION_DEVICE = "PointerTipToPointer"
#: Device name of the IMAGE frames of the NIR camera.
CAMERA_IMAGE_DEVICE = "Camera"
#: Transforms of the patient reference, the pointer and the NIR camera's marker body.
REFERENCE, POINTER, CAMERA = "ReferenceToTracker", "PointerToTracker", "CameraToTracker"
