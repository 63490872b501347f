"""Camera intrinsics from photos of a chessboard or ChArUco board (OpenCV).

Detection:

- chessboard: ``cv2.findChessboardCornersSB`` (the sector-based detector of Duda & Frese 2018),
  whose corners are sub-pixel already. Neither its ``CALIB_CB_ACCURACY`` mode nor a further
  ``cornerSubPix`` pass helped on the real webcam photos of our tests (RMS 0.350 and 0.334 px
  instead of 0.326 px), and ``CALIB_CB_ACCURACY`` takes 4x longer. The classic
  ``findChessboardCorners`` is not used: on two of those twelve photos it reports success with
  a misplaced grid (3.5 px per-view error, focal length 3.5 % off), which the sector-based
  detector gets right.
- ChArUco: ``cv2.aruco.CharucoDetector`` (markers, interpolated and refined chessboard corners).

Calibration: ``cv2.calibrateCamera`` (Zhang 2000) with the 5-coefficient distortion model; the
RMS reprojection error over all corners is reported and gated (default 1 px), with each image's
own RMS so that a bad view can be found and removed.

Frames: the board frame has its origin at a chessboard's first inner corner (OpenCV's order,
along the board's width first; when the board has an odd number of squares in total, the corner
whose diagonal outer square is white, which is the sector-based detector's own choice, enforced
so that the frame cannot flip between views) or at a ChArUco board's outer corner (OpenCV's
``getChessboardCorners``), z = 0 on the board, mm.
Pixels and the camera frame follow OpenCV (see :mod:`registration.camera_intrinsics`). Images
are numpy arrays; reading files is the caller's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from registration.camera_intrinsics import CameraIntrinsics
from registration.core.checks import Float64Array, InputError, check_positive

BoardKind = Literal["chessboard", "charuco"]

#: The acceptance gate on the RMS reprojection error (px).
DEFAULT_GATE_PX = 1.0
#: Fewest corners for a view to count (a homography needs 4; a few more for robustness).
MIN_CORNERS_PER_VIEW = 6
#: A view whose own RMS exceeds this multiple of the median view's (and the gate) is suspect.
SUSPECT_FACTOR = 3.0

#: findChessboardCornersSB flags: none (see the module docstring).
_CHESSBOARD_FLAGS = 0


@dataclass(frozen=True)
class CalibrationBoard:
    """A planar calibration target.

    kind : "chessboard" or "charuco".
    squares : (columns, rows) of squares; a chessboard's inner corners are one fewer each way.
    square_mm : side of a square in mm.
    marker_mm : ChArUco marker side in mm (default 0.75 x square); unused for chessboards.
    dictionary : ChArUco ArUco dictionary name, e.g. "DICT_5X5_100".
    legacy_pattern : ChArUco boards made before OpenCV 4.6 with an even number of rows.
    """

    kind: BoardKind
    squares: tuple[int, int]
    square_mm: float
    marker_mm: float | None = None
    dictionary: str = "DICT_5X5_100"
    legacy_pattern: bool = False
    _charuco: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("chessboard", "charuco"):
            raise InputError(f"board kind must be 'chessboard' or 'charuco'; got {self.kind!r}.")
        columns, rows = (int(n) for n in self.squares)
        if min(columns, rows) < 3:
            raise InputError(
                f"a board needs at least 3 x 3 squares; got {columns} x {rows} squares."
            )
        object.__setattr__(self, "squares", (columns, rows))
        object.__setattr__(self, "square_mm", check_positive(self.square_mm, "square_mm"))
        if self.kind == "charuco":
            marker = 0.75 * self.square_mm if self.marker_mm is None else self.marker_mm
            marker = check_positive(marker, "marker_mm")
            if marker >= self.square_mm:
                raise InputError(
                    f"marker_mm ({marker:g}) must be smaller than square_mm ({self.square_mm:g})."
                )
            code = getattr(cv2.aruco, self.dictionary, None)
            if not isinstance(code, int) or not self.dictionary.startswith("DICT_"):
                raise InputError(
                    f"unknown ArUco dictionary {self.dictionary!r}; use an OpenCV name such as "
                    "DICT_4X4_50, DICT_5X5_100 or DICT_6X6_250."
                )
            dictionary = cv2.aruco.getPredefinedDictionary(code)
            needed = columns * rows // 2
            if dictionary.bytesList.shape[0] < needed:
                raise InputError(
                    f"{self.dictionary} has {dictionary.bytesList.shape[0]} markers but a "
                    f"{columns} x {rows} ChArUco board needs {needed}; choose a larger dictionary."
                )
            board = cv2.aruco.CharucoBoard((columns, rows), self.square_mm, marker, dictionary)
            board.setLegacyPattern(bool(self.legacy_pattern))
            object.__setattr__(self, "marker_mm", marker)
            object.__setattr__(self, "_charuco", board)

    @property
    def inner_corners(self) -> tuple[int, int]:
        """(columns, rows) of inner (chessboard) corners."""
        return (self.squares[0] - 1, self.squares[1] - 1)

    def corners_in_board(self) -> Float64Array:
        """(M, 3) float, mm: every inner corner in the board frame, indexed by corner id."""
        if self.kind == "charuco":
            return np.asarray(self._charuco.getChessboardCorners(), dtype=np.float64).reshape(-1, 3)
        columns, rows = self.inner_corners
        grid = np.mgrid[0:columns, 0:rows].T.reshape(-1, 2) * self.square_mm
        return np.column_stack([grid, np.zeros(len(grid))])

    @property
    def looks_the_same_turned(self) -> bool:
        """A chessboard whose squares add up to an even number looks the same turned 180 deg
        about its normal: its corner order (so its frame) can flip between views."""
        return self.kind == "chessboard" and sum(self.squares) % 2 == 0

    def describe(self) -> str:
        columns, rows = self.squares
        text = f"{self.kind} of {columns} x {rows} squares ({columns - 1} x {rows - 1} inner "
        return text + f"corners), {self.square_mm:g} mm squares"


@dataclass(frozen=True)
class BoardDetection:
    """Board corners found in one image.

    corners_px : (M, 2) float, OpenCV pixel coordinates (u, v).
    corner_ids : (M,) int, index of each corner in ``CalibrationBoard.corners_in_board()``.
    """

    corners_px: Float64Array
    corner_ids: NDArray[np.intp]


@dataclass(frozen=True)
class CameraCalibration:
    """Result of :func:`calibrate_camera`.

    intrinsics : the calibrated camera (its ``rms_reprojection_px`` set); save with
        ``intrinsics.save(path)``.
    rms_reprojection_px : RMS reprojection error over all corners of all used views.
    image_names : names of the views used, in order.
    per_image_rms_px : (K,) float, each used view's own RMS reprojection error.
    camera_from_board : (K, 4, 4) float, mm, each used view's board pose.
    rejected_images : names of the images where the board was not found.
    suspect_images : used views whose RMS is far above the others' (> 3 x the median and
        above the gate): likely blurred or mis-detected; recalibrate without them.
    gate_px, passed : the acceptance gate on ``rms_reprojection_px`` and whether it passed.
    corners_px : per used view, (M_k, 2) the detected corners (OpenCV pixels).
    residuals_px : per used view, (M_k, 2) reprojected minus detected corner (px).
    """

    intrinsics: CameraIntrinsics
    rms_reprojection_px: float
    image_names: tuple[str, ...]
    per_image_rms_px: Float64Array
    camera_from_board: Float64Array
    rejected_images: tuple[str, ...]
    suspect_images: tuple[str, ...]
    gate_px: float
    passed: bool
    corners_px: tuple[Float64Array, ...] = ()
    residuals_px: tuple[Float64Array, ...] = ()


def detect_board(image: NDArray[Any], board: CalibrationBoard) -> BoardDetection | None:
    """Find ``board`` in an image ((H, W) grey or (H, W, 3) BGR, uint8); None when not found."""
    grey = _grey(image)
    if board.kind == "chessboard":
        found, corners = cv2.findChessboardCornersSB(
            grey, board.inner_corners, flags=_CHESSBOARD_FLAGS
        )
        if not found:
            return None
        points = _orient_chessboard(
            grey, np.asarray(corners, dtype=np.float64).reshape(-1, 2), board
        )
        return BoardDetection(points, np.arange(len(points), dtype=np.intp))
    detector = cv2.aruco.CharucoDetector(board._charuco)
    corners, ids, _, _ = detector.detectBoard(grey)
    if ids is None or len(ids) < MIN_CORNERS_PER_VIEW:
        return None
    return BoardDetection(
        np.asarray(corners, dtype=np.float64).reshape(-1, 2),
        np.asarray(ids, dtype=np.intp).ravel(),
    )


def calibrate_camera_from_images(
    images: Sequence[NDArray[Any]],
    board: CalibrationBoard,
    *,
    names: Sequence[str] | None = None,
    min_views: int = 5,
    gate_px: float = DEFAULT_GATE_PX,
) -> CameraCalibration:
    """Detect ``board`` in every image and calibrate (see :func:`calibrate_camera`).

    images : (H, W) or (H, W, 3) uint8 arrays, all the same size.
    names : one name per image for messages and the result (default "image 0", ...).
    """
    names = _names(names, len(images))
    if not images:
        raise InputError("no images given; take 10-20 photos of the board from varied angles.")
    sizes = {(image.shape[1], image.shape[0]) for image in images}
    if len(sizes) > 1:
        raise InputError(
            f"the images have different sizes {sorted(sizes)}; calibrate one camera mode at a time."
        )
    detections = [detect_board(image, board) for image in images]
    return calibrate_camera(
        detections, board, sizes.pop(), names=names, min_views=min_views, gate_px=gate_px
    )


def calibrate_camera(
    detections: Sequence[BoardDetection | None],
    board: CalibrationBoard,
    image_size_px: tuple[int, int],
    *,
    names: Sequence[str] | None = None,
    min_views: int = 5,
    gate_px: float = DEFAULT_GATE_PX,
) -> CameraCalibration:
    """Intrinsics from board detections (None for an image where the board was not found).

    image_size_px : (width, height). ``min_views`` views with the board are required.

    Raises
    ------
    InputError
        The board was found in fewer than ``min_views`` images (the images without it are
        named), or the calibration failed numerically.
    """
    names = _names(names, len(detections))
    gate_px = check_positive(gate_px, "gate_px")
    found = {i: d for i, d in enumerate(detections) if d is not None and len(d.corner_ids) >= 4}
    used = list(found)
    rejected = tuple(names[i] for i in range(len(detections)) if i not in used)
    if len(used) < min_views:
        missing = ", ".join(rejected) if rejected else "none"
        hint = ""
        if board.kind == "chessboard":
            columns, rows = board.inner_corners
            hint = (
                f" Check the board size: {columns + 1} x {rows + 1} squares means {columns} x "
                f"{rows} inner corners; count the squares of your board."
            )
        raise InputError(
            f"the {board.describe()} was found in {len(used)} of {len(detections)} images; "
            f"calibration needs at least {min_views}. Not found in: {missing}.{hint}"
        )
    all_corners = board.corners_in_board().astype(np.float32)
    object_points = [all_corners[found[i].corner_ids] for i in used]
    image_points = [found[i].corners_px.astype(np.float32).reshape(-1, 1, 2) for i in used]
    width, height = (int(v) for v in image_size_px)
    try:
        rms, camera_matrix, distortion, rvecs, tvecs = cv2.calibrateCamera(
            object_points, image_points, (width, height), None, None
        )
    except cv2.error as error:
        raise InputError(
            f"OpenCV calibration failed: {error.err}; use more varied views."
        ) from None
    per_image = np.empty(len(used))
    poses = np.tile(np.eye(4), (len(used), 1, 1))
    residuals: list[Float64Array] = []
    for k in range(len(used)):
        projected, _ = cv2.projectPoints(
            object_points[k], rvecs[k], tvecs[k], camera_matrix, distortion
        )
        residual = projected.reshape(-1, 2).astype(np.float64) - found[used[k]].corners_px.reshape(
            -1, 2
        )
        residuals.append(residual)
        per_image[k] = np.sqrt(np.mean(np.sum(residual**2, axis=1)))
        poses[k, :3, :3] = cv2.Rodrigues(rvecs[k])[0]
        poses[k, :3, 3] = np.asarray(tvecs[k]).ravel()
    median = float(np.median(per_image))
    suspect = tuple(
        names[used[k]]
        for k in range(len(used))
        if per_image[k] > max(SUSPECT_FACTOR * median, gate_px)
    )
    intrinsics = CameraIntrinsics(
        camera_matrix=np.asarray(camera_matrix, dtype=np.float64),
        distortion=np.asarray(distortion, dtype=np.float64).ravel()[:5],
        image_size_px=(width, height),
        rms_reprojection_px=float(rms),
    )
    per_image.setflags(write=False)
    poses.setflags(write=False)
    return CameraCalibration(
        intrinsics=intrinsics,
        rms_reprojection_px=float(rms),
        image_names=tuple(names[i] for i in used),
        per_image_rms_px=per_image,
        camera_from_board=poses,
        rejected_images=rejected,
        suspect_images=suspect,
        gate_px=gate_px,
        passed=float(rms) <= gate_px,
        corners_px=tuple(np.asarray(found[i].corners_px, dtype=np.float64) for i in used),
        residuals_px=tuple(residuals),
    )


def _orient_chessboard(
    grey: NDArray[np.uint8], corners_px: Float64Array, board: CalibrationBoard
) -> Float64Array:
    """Put corner 0 where the board frame's origin is: beside the white square diagonal to it.

    A detector may return the grid from either end (a 180 deg turn); with an odd total of
    squares (columns + rows odd) the colour of the square beyond corner 0 tells them apart.
    Boards with columns + rows even are symmetric: their order is left as detected.
    """
    if board.looks_the_same_turned:
        return corners_px
    image_from_board, _ = cv2.findHomography(board.corners_in_board()[:, :2], corners_px)
    if image_from_board is None:
        return corners_px
    half = 0.5 * board.square_mm
    probes = np.array([[-half, -half], [half, -half]])  # corner 0's outer square, its neighbour
    pixels = cv2.perspectiveTransform(probes.reshape(-1, 1, 2), image_from_board).reshape(-1, 2)
    height, width = grey.shape
    values = []
    for u, v in pixels:
        column, row = round(float(u)), round(float(v))
        if not (1 <= column < width - 1 and 1 <= row < height - 1):
            return corners_px
        values.append(float(grey[row - 1 : row + 2, column - 1 : column + 2].mean()))
    outer, neighbour = values
    return corners_px[::-1].copy() if outer < neighbour else corners_px


def _grey(image: NDArray[Any]) -> NDArray[np.uint8]:
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise InputError(f"images must be 8-bit (uint8); got {array.dtype}.")
    if array.ndim == 2:
        return array
    if array.ndim == 3 and array.shape[2] in (3, 4):
        code = cv2.COLOR_BGR2GRAY if array.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return np.asarray(cv2.cvtColor(array, code), dtype=np.uint8)
    raise InputError(f"an image must be (H, W) or (H, W, 3); got shape {array.shape}.")


def _names(names: Sequence[str] | None, count: int) -> list[str]:
    if names is None:
        return [f"image {i}" for i in range(count)]
    if len(names) != count:
        raise InputError(f"got {len(names)} names for {count} images.")
    return [str(n) for n in names]
