"""Sample OpenIGTLink messages of every type, shared by the codec, framing and fuzz tests."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from navigation.tracking.messages import (
    IgtlMessage,
    ImageBody,
    PointBody,
    PointElement,
    PositionBody,
    QuaternionTrackingDataBody,
    QuaternionTrackingElement,
    RequestBody,
    StatusBody,
    StringBody,
    TrackingDataBody,
    TrackingElement,
    TransformBody,
)

TIMESTAMP_S = 1_764_000_000.25


def rigid(seed: int) -> np.ndarray:
    """A rigid 4x4 whose values are exact in float32 after a float32 round trip."""
    rng = np.random.default_rng(seed)
    matrix = np.eye(4)
    matrix[:3, :3] = Rotation.random(random_state=rng).as_matrix()
    matrix[:3, 3] = rng.uniform(-300, 300, 3)
    matrix[:3] = matrix[:3].astype(np.float32)
    return matrix


def sample_messages() -> list[IgtlMessage]:
    """One message per decoded type (plus variants), values exactly representable on the wire."""
    pixels = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4) * 1000
    world = np.diag([0.5, 0.25, 2.0, 1.0])
    world[:3, 3] = [-10.0, 20.0, 5.5]
    return [
        IgtlMessage("TRANSFORM", "PointerToTracker", TransformBody(rigid(1)), TIMESTAMP_S),
        IgtlMessage(
            "TRANSFORM",
            "ReferenceToTracker",
            TransformBody(rigid(2)),
            TIMESTAMP_S,
            header_version=2,
            metadata={"TransformStatus": "OK", "Note": "héllo"},
            message_id=42,
        ),
        IgtlMessage(
            "POSITION",
            "Tip",
            PositionBody(np.array([1.5, -2.0, 3.25]), np.array([0.5, -0.5, 0.5, 0.5])),
        ),
        IgtlMessage("POSITION", "Tip3D", PositionBody(np.array([1.5, -2.0, 3.25]), None)),
        IgtlMessage(
            "TDATA",
            "Tracker",
            TrackingDataBody(
                (
                    TrackingElement("PointerToTracker", 2, rigid(3)),
                    TrackingElement("ReferenceToTracker", 2, rigid(4)),
                )
            ),
        ),
        IgtlMessage(
            "QTDATA",
            "Tracker",
            QuaternionTrackingDataBody(
                (
                    QuaternionTrackingElement(
                        "Pointer", 2, np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 0.0, 1.0])
                    ),
                )
            ),
        ),
        IgtlMessage("STATUS", "Device", StatusBody(1, 128, "OK!", "All good")),
        IgtlMessage("IMAGE", "Camera", ImageBody(pixels, world, "RAS")),
        IgtlMessage(
            "IMAGE",
            "Frame",
            ImageBody(
                (np.arange(12).reshape(1, 3, 4) - 6).astype(">i2"), np.eye(4), "LPS"
            ),  # big-endian
        ),
        IgtlMessage(
            "POINT",
            "Landmarks",
            PointBody(
                (
                    PointElement(
                        "L1", "Landmark", (255, 0, 0, 255), np.array([1.0, 2, 3]), 2.5, ""
                    ),
                    PointElement("Ä2", "Landmark", (0, 255, 0, 255), np.array([4.0, 5, 6]), 0, "I"),
                )
            ),
        ),
        IgtlMessage("STRING", "Text", StringBody("plain ASCII", 3)),
        IgtlMessage("STRING", "Text", StringBody("Zürich ✓ 東京", 106)),
        IgtlMessage("STT_TDATA", "", RequestBody("STT", "TDATA", 50, "Tracker")),
        IgtlMessage("STP_TDATA", "", RequestBody("STP", "TDATA")),
        IgtlMessage("GET_STATUS", "Device", RequestBody("GET", "STATUS")),
        IgtlMessage("RTS_TDATA", "", RequestBody("RTS", "TDATA", status=1)),
        IgtlMessage("NDARRAY", "Array", b"\x01\x02\x03raw bytes of a type we do not decode"),
    ]
