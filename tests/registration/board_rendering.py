"""Synthetic photos of calibration boards: a flat board image warped into a pinhole camera.

The board image is drawn at ``px_per_mm`` with a white margin; its pixel (u, v) (OpenCV
convention, pixel centres at integers) is board point x = (u + 0.5 - margin) / px_per_mm (same
for y), z = 0, which is OpenCV's convention for ``CharucoBoard.generateImage`` and ours for
chessboards (whose origin is moved to the first inner corner). A view is rendered 2x
supersampled with ``cv2.warpPerspective`` and averaged down (``INTER_AREA``), without lens
distortion, then optionally blurred and given Gaussian pixel noise.
"""

from __future__ import annotations

import cv2
import numpy as np

from registration.camera_calibration import CalibrationBoard

SUPERSAMPLE = 2


def board_image(board: CalibrationBoard, px_per_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """(image uint8, board_from_image (3, 3)): the flat board and the homography taking its
    pixel coordinates to board millimetres (x, y, 1)."""
    columns, rows = board.squares
    square = round(board.square_mm * px_per_mm)
    margin = square
    width, height = columns * square + 2 * margin, rows * square + 2 * margin
    if board.kind == "charuco":
        image = board._charuco.generateImage((width, height), marginSize=margin, borderBits=1)
        origin_px = margin
    else:
        image = np.full((height, width), 255, dtype=np.uint8)
        for j in range(rows):
            for i in range(columns):
                if (i + j) % 2 == 1:  # white beyond the first inner corner (our convention)
                    y0, x0 = margin + j * square, margin + i * square
                    image[y0 : y0 + square, x0 : x0 + square] = 0
        origin_px = margin + square  # first inner corner
    scale = square / board.square_mm
    board_from_image = np.array(
        [
            [1.0 / scale, 0.0, (0.5 - origin_px) / scale],
            [0.0, 1.0 / scale, (0.5 - origin_px) / scale],
            [0.0, 0.0, 1.0],
        ]
    )
    return image, board_from_image


def render_view(
    board_picture: tuple[np.ndarray, np.ndarray],
    camera_matrix: np.ndarray,
    camera_from_board: np.ndarray,
    image_size_px: tuple[int, int],
    rng: np.random.Generator | None = None,
    *,
    noise_grey: float = 2.0,
) -> np.ndarray:
    """A grey uint8 photo of the board seen by an undistorted pinhole camera at the pose."""
    image, board_from_image = board_picture
    k_high = np.diag([SUPERSAMPLE, SUPERSAMPLE, 1.0]) @ camera_matrix
    k_high[:2, 2] += (SUPERSAMPLE - 1) / 2.0  # pixel centres of the fine grid
    plane = camera_from_board[:3][:, [0, 1, 3]]  # z = 0 on the board
    camera_from_image = k_high @ plane @ board_from_image
    width, height = image_size_px
    fine = cv2.warpPerspective(
        image,
        camera_from_image,
        (width * SUPERSAMPLE, height * SUPERSAMPLE),
        flags=cv2.INTER_LINEAR,
        borderValue=128,
    )
    view = cv2.resize(fine, (width, height), interpolation=cv2.INTER_AREA).astype(np.float64)
    if rng is not None and noise_grey > 0:
        view += rng.normal(scale=noise_grey, size=view.shape)
    return np.clip(view, 0, 255).round().astype(np.uint8)


def look_at_board(
    rng: np.random.Generator,
    centre_mm: np.ndarray,
    *,
    distance_mm: tuple[float, float] = (250.0, 400.0),
    tilt_deg: float = 35.0,
) -> np.ndarray:
    """A random camera_from_board: the camera about ``distance_mm`` from the board point
    ``centre_mm``, looking at it, its axis tilted up to ``tilt_deg`` from the board normal and
    rolled at random."""
    from scipy.spatial.transform import Rotation

    tilt_axis = np.append(rng.normal(size=2), 0.0)
    tilt_axis /= np.linalg.norm(tilt_axis)
    tilt = Rotation.from_rotvec(tilt_axis * np.radians(rng.uniform(10.0, tilt_deg)))
    roll = Rotation.from_rotvec([0.0, 0.0, rng.uniform(-np.pi, np.pi)])
    # board_from_camera: untilted, the camera axes are the board's (x right, y down, z into the
    # board), so the camera sees the printed side, as a viewer shows the board image
    board_rotation = (tilt * roll).as_matrix()
    distance = rng.uniform(*distance_mm)
    camera_position = centre_mm - board_rotation[:, 2] * distance
    board_from_camera = np.eye(4)
    board_from_camera[:3, :3] = board_rotation
    board_from_camera[:3, 3] = camera_position
    return np.linalg.inv(board_from_camera)


class DistortedCamera:
    """Renders board photos through a pinhole camera with OpenCV's lens distortion.

    Every (supersampled) output pixel's viewing ray is found once with OpenCV's iterative
    undistortion (``CameraIntrinsics.normalised_from_pixels``); a view then maps each ray to
    the board plane and samples the flat board picture there (``cv2.remap``, bilinear), is
    averaged down (``INTER_AREA``), optionally blurred (Gaussian, ``blur_px`` sigma) and given
    Gaussian grey-level noise. Outside the board the photo is mid-grey.
    """

    def __init__(
        self,
        camera_matrix: np.ndarray,
        distortion: np.ndarray,
        image_size_px: tuple[int, int],
    ) -> None:
        from registration.camera_intrinsics import CameraIntrinsics

        self.intrinsics = CameraIntrinsics(camera_matrix, distortion, image_size_px)
        width, height = image_size_px
        fine_u, fine_v = np.meshgrid(
            np.arange(width * SUPERSAMPLE), np.arange(height * SUPERSAMPLE)
        )
        # centres of the fine pixels in original pixel coordinates
        u = (fine_u + 0.5) / SUPERSAMPLE - 0.5
        v = (fine_v + 0.5) / SUPERSAMPLE - 0.5
        rays = self.intrinsics.normalised_from_pixels(np.column_stack([u.ravel(), v.ravel()]))
        self._rays = np.column_stack([rays, np.ones(len(rays))])  # (P, 3), z = 1
        self._fine_shape = u.shape

    def render(
        self,
        board_picture: tuple[np.ndarray, np.ndarray],
        camera_from_board: np.ndarray,
        rng: np.random.Generator | None = None,
        *,
        noise_grey: float = 2.0,
        blur_px: float = 0.0,
    ) -> np.ndarray:
        image, board_from_image = board_picture
        plane = camera_from_board[:3][:, [0, 1, 3]]  # board (x, y, 1) -> camera ray
        board_xy = self._rays @ np.linalg.inv(plane).T
        with np.errstate(divide="ignore", invalid="ignore"):
            board_xy = board_xy / board_xy[:, 2:3]
        picture_xy = board_xy @ np.linalg.inv(board_from_image).T
        map_x = picture_xy[:, 0].reshape(self._fine_shape).astype(np.float32)
        map_y = picture_xy[:, 1].reshape(self._fine_shape).astype(np.float32)
        fine = cv2.remap(
            image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=128
        )
        width, height = self.intrinsics.image_size_px
        view = cv2.resize(fine, (width, height), interpolation=cv2.INTER_AREA).astype(np.float64)
        if blur_px > 0:
            view = cv2.GaussianBlur(view, (0, 0), blur_px)
        if rng is not None and noise_grey > 0:
            view += rng.normal(scale=noise_grey, size=view.shape)
        return np.clip(view, 0, 255).round().astype(np.uint8)

    def project(self, points_in_board: np.ndarray, camera_from_board: np.ndarray) -> np.ndarray:
        """(M, 2) true pixel positions of board points (OpenCV projectPoints)."""
        projected, _ = cv2.projectPoints(
            np.asarray(points_in_board, dtype=np.float64),
            cv2.Rodrigues(camera_from_board[:3, :3])[0],
            camera_from_board[:3, 3],
            self.intrinsics.camera_matrix,
            self.intrinsics.distortion,
        )
        return projected.reshape(-1, 2)
