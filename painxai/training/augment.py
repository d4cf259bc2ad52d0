"""The paper's data augmentation, with the face box, points and region masks moved alongside, cached on disk.

The paper (docs/PROTOCOL.md#augmentation) made 20 new samples of every training image, with ranges
in the terms of Keras's ``ImageDataGenerator``: rotation 30°, shear 0.15, horizontal and vertical shift
0.20, zoom 0.70–1.5, brightness 0.50–1.1 and horizontal flip, on the face crop, keeping a sample only
if the face was still detectable. This module
draws the same random transforms, but builds each one as a single affine matrix so the *same* map moves
the image (``cv2.warpAffine``), the face box (its 4 corners), landmarks and the region label map.

How Keras reads those numbers, and what we do (checked against ``keras.src.legacy.preprocessing.image``
of Keras 3.15, which the tests compare with):

- **Rotation**: an angle drawn uniformly in ±30 degrees; a positive angle turns the content
  *counter-clockwise* on screen (Keras's inverse map ``[[cos, -sin], [sin, cos]]`` in y-down image
  coordinates). Reproduced.
- **Shear**: Keras passes ``shear_range`` to ``apply_affine_transform`` as an angle in **degrees**. We
  assume (the paper's code is not published) that the paper's 0.15 went to Keras as ``shear_range``, since
  its ranges are those of ``ImageDataGenerator``'s arguments; it then sheared by at most 0.15° (a quarter of
  a pixel across a 128 px crop): in effect no shear, though the author may have meant 0.15 rad ≈ 8.6°. We
  reproduce what that code most likely did (``shear_unit="degrees"``, the default) because this project
  reproduces the published numbers; set ``shear_unit="radians"`` for ±8.6°.
- **Shift**: uniform in ±0.20 of the crop side on each axis. Reproduced (on square crops Keras's
  swap of height and width ranges makes no difference).
- **Zoom**: Keras draws ``zx`` and ``zy`` *independently* from [0.70, 1.5] and uses them in the
  inverse map, so a factor above 1 *shrinks* the content (zoom out) and below 1 enlarges it; the
  two axes differ, so faces are also stretched. Reproduced as is.
- **Brightness**: a factor drawn from [0.50, 1.1] *multiplies* every channel (PIL
  ``ImageEnhance.Brightness``: ``floor(pixel * factor)`` clipped to 255), applied last, like Keras.
- **Flip**: horizontal, with probability 1/2, applied after the affine part, like Keras.
- **Fill**: pixels that come from outside the crop repeat the nearest edge pixel (Keras's default
  ``fill_mode='nearest'``, OpenCV ``BORDER_REPLICATE``); ``fill="reflect"`` mirrors instead. Region
  label maps are filled with 0 (no region there). Image interpolation is bilinear (Keras ``order=1``),
  label maps nearest-neighbour.

Acceptance. We augment the face crop *with its margin* (crop first, as the paper did). The paper kept
a sample when the face was still detectable, so a drawn transform is kept when the face detector
(``check_detector``) finds a face in the sample whose centre lies inside the moved face box; a face
that the transform has partly pushed out of the sample is kept when the detector still finds it.
Before rendering, a cheap geometric pre-check refuses draws that leave less than ``min_visible``
(default one half) of the moved face box's area inside the sample: on the twin the detector accepted
no sample with less than 58 % of its box visible (3,000 draws), so the pre-check refuses nothing
it would accept, and with the paper's ranges it refuses almost nothing at all. Where no detector
works, or the detector misses the face in the crop itself (adult-trained detectors often miss
newborns, and checking would then refuse every sample), the pre-check is the whole test: on the twin
it keeps 100 % of draws where the detector keeps 99.4 %, so either way the kept samples' zoom,
rotation and shift follow the drawn ranges (``bench/bench_augment.py --acceptance`` measures it).
A refused transform is redrawn, at most ``max_tries`` times per sample, after which the sample is
given up. Every redraw and give-up is counted per reason in :class:`AugmentReport`. Crops without a
face box (centred fallback) skip both checks.

Version 1 of this module kept a sample only when the *whole* moved box stayed inside the sample:
about half the draws were refused, almost all of them zooming in, so 97 % of kept samples zoomed out
on at least one axis against 86 % drawn, and the zoom-in half of the 0.70-1.5 range hardly reached
training. :data:`ALGORITHM_VERSION` names the cache files, so caches of version 1 are not reused.

The samples of a whole manifest, cached per image and made by a pool of workers, are
:mod:`painxai.training.augment_cache`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from painxai.errors import PainxaiError
from painxai.faces.crop import DEFAULT_MARGIN, Box, apply_affine, cv2_matrix, invert_affine, transform_box

# Bump when the way samples are drawn, accepted or rendered changes, so old caches are not reused.
# 2: acceptance by the detector with a half-visible pre-check (1 wanted the whole face box inside).
ALGORITHM_VERSION = 2
SHEAR_UNITS = ("degrees", "radians")
FILL_MODES = ("nearest", "reflect")
# Why a drawn transform was refused.
REASON_OUTSIDE = "face_outside"
REASON_UNDETECTED = "face_not_detected"
# Columns of the per-sample parameter table stored in the cache (see TransformParams).
PARAM_COLUMNS = ("rotation_deg", "shift_x_px", "shift_y_px", "shear_deg", "zoom_x", "zoom_y", "flip", "brightness")

FaceDetector = Callable[[np.ndarray], list[Box]]


class AugmentError(PainxaiError):
    """Settings or inputs the augmentation cannot use; the message says which and why."""


@dataclass(frozen=True)
class AugmentSettings:
    """Ranges of the paper's augmentation (docs/PROTOCOL.md#augmentation) and how samples are made and checked.

    ``rotation`` degrees (uniform in ±rotation); ``shear`` in ``shear_unit`` (uniform in ±shear; see the
    module doc for why the default unit is degrees); ``shift`` fraction of the crop side per axis;
    ``zoom`` (low, high) inverse-map factors drawn per axis (> 1 zooms out); ``brightness`` (low, high)
    multiplicative factor; ``fill`` ``"nearest"`` or ``"reflect"``; ``per_image`` samples per source
    image; ``crop_size`` side in pixels of the face crop and of the samples; ``margin`` fraction of the
    face box added on each side of the crop; ``max_tries`` draws per sample before giving up;
    ``check_detector`` require the face to be detected in each sample (when a detector works);
    ``min_visible`` the fraction of the moved face box's area that must stay inside the sample (the
    geometric pre-check, and the whole check where no detector works).
    """

    rotation: float = 30.0
    shear: float = 0.15
    shear_unit: str = "degrees"
    shift: float = 0.20
    zoom: tuple[float, float] = (0.70, 1.5)
    brightness: tuple[float, float] = (0.50, 1.1)
    horizontal_flip: bool = True
    fill: str = "nearest"
    per_image: int = 20
    crop_size: int = 128
    margin: float = DEFAULT_MARGIN
    max_tries: int = 10
    check_detector: bool = True
    min_visible: float = 0.5

    def __post_init__(self) -> None:
        problems = []
        if self.shear_unit not in SHEAR_UNITS:
            problems.append(f"shear_unit must be one of {SHEAR_UNITS}, got {self.shear_unit!r}")
        if self.fill not in FILL_MODES:
            problems.append(f"fill must be one of {FILL_MODES}, got {self.fill!r}")
        if not 0 <= self.rotation <= 180:
            problems.append(f"rotation must be in [0, 180] degrees, got {self.rotation}")
        if self.shear < 0 or (self.shear_unit == "degrees" and self.shear >= 90) or (
            self.shear_unit == "radians" and self.shear >= np.pi / 2
        ):
            problems.append(f"shear must be >= 0 and below a right angle, got {self.shear} {self.shear_unit}")
        if not 0 <= self.shift < 1:
            problems.append(f"shift must be a fraction in [0, 1), got {self.shift}")
        for name in ("zoom", "brightness"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                problems.append(f"{name} must be (low, high) with 0 < low <= high, got {(low, high)}")
        if self.per_image < 0:
            problems.append(f"per_image must be >= 0, got {self.per_image}")
        if self.crop_size < 8:
            problems.append(f"crop_size must be at least 8 pixels, got {self.crop_size}")
        if self.margin < 0:
            problems.append(f"margin must be >= 0, got {self.margin}")
        if self.max_tries < 1:
            problems.append(f"max_tries must be >= 1, got {self.max_tries}")
        if not 0 < self.min_visible <= 1:
            problems.append(f"min_visible must be a fraction in (0, 1], got {self.min_visible}")
        if problems:
            raise AugmentError("bad augmentation settings: " + "; ".join(problems))

    @property
    def max_shear_deg(self) -> float:
        """The shear range in degrees, whatever ``shear_unit`` says."""
        return float(np.degrees(self.shear)) if self.shear_unit == "radians" else float(self.shear)


def settings_key(settings: AugmentSettings) -> str:
    """A stable 16-hex-digit hash of every setting and :data:`ALGORITHM_VERSION` (names cache files)."""
    text = json.dumps({"version": ALGORITHM_VERSION, **dataclasses.asdict(settings)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TransformParams:
    """One drawn transform, in Keras's terms: ``rotation_deg`` (positive = counter-clockwise on
    screen), ``shift_x_px``/``shift_y_px`` (inverse-map offsets, pixels), ``shear_deg``, ``zoom_x``/
    ``zoom_y`` (inverse-map factors, > 1 shrinks the content), ``flip`` (horizontal, after the
    affine part), ``brightness`` (multiplicative factor)."""

    rotation_deg: float = 0.0
    shift_x_px: float = 0.0
    shift_y_px: float = 0.0
    shear_deg: float = 0.0
    zoom_x: float = 1.0
    zoom_y: float = 1.0
    flip: bool = False
    brightness: float = 1.0

    def as_row(self) -> np.ndarray:
        """The parameters as a (8,) float32 row in :data:`PARAM_COLUMNS` order."""
        return np.array([float(getattr(self, name)) for name in PARAM_COLUMNS], dtype=np.float32)


def draw_params(rng: np.random.Generator, settings: AugmentSettings, size: int) -> TransformParams:
    """Draw one transform for a ``size`` x ``size`` crop, uniformly within ``settings``' ranges."""
    max_shift = settings.shift * size
    zoom_x, zoom_y = rng.uniform(settings.zoom[0], settings.zoom[1], size=2)
    return TransformParams(
        rotation_deg=float(rng.uniform(-settings.rotation, settings.rotation)),
        shift_x_px=float(rng.uniform(-max_shift, max_shift)),
        shift_y_px=float(rng.uniform(-max_shift, max_shift)),
        shear_deg=float(rng.uniform(-settings.max_shear_deg, settings.max_shear_deg)),
        zoom_x=float(zoom_x),
        zoom_y=float(zoom_y),
        flip=bool(settings.horizontal_flip and rng.random() < 0.5),
        brightness=float(rng.uniform(settings.brightness[0], settings.brightness[1])),
    )


def sample_matrix(params: TransformParams, size: int) -> np.ndarray:
    """The 2x3 affine map from crop pixels to sample pixels (edge convention, :mod:`painxai.faces.crop`).

    Built as Keras builds its inverse map, about the crop centre: rotation · shift · shear · zoom,
    then the horizontal flip; the forward map returned is its inverse.
    """
    theta, shear = np.radians(params.rotation_deg), np.radians(params.shear_deg)
    rotation = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    shift = np.array([[1, 0, params.shift_x_px], [0, 1, params.shift_y_px], [0, 0, 1]])
    shear_matrix = np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
    zoom = np.diag([params.zoom_x, params.zoom_y, 1.0])
    centre = size / 2.0
    to_centre = np.array([[1, 0, centre], [0, 1, centre], [0, 0, 1]])
    from_centre = np.array([[1, 0, -centre], [0, 1, -centre], [0, 0, 1]])
    flip = np.array([[-1, 0, size], [0, 1, 0], [0, 0, 1]]) if params.flip else np.eye(3)
    sample_to_crop = to_centre @ rotation @ shift @ shear_matrix @ zoom @ from_centre @ flip
    return invert_affine(sample_to_crop[:2])


def apply_brightness(image: np.ndarray, factor: float) -> np.ndarray:
    """Multiply every channel of ``image`` (H, W, 3) uint8 by ``factor``; exactly PIL's
    ``ImageEnhance.Brightness(image).enhance(factor)`` (floor of the float32 product, clipped)."""
    scaled = np.floor(image.astype(np.float32) * np.float32(factor))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def warp_sample(
    crop: np.ndarray, params: TransformParams, fill: str = "nearest", label_map: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Render one sample: ``crop`` (S, S, 3) uint8 -> (S, S, 3) uint8 moved by :func:`sample_matrix`,
    brightness last; ``label_map`` (S, S) uint8 moved by the same map (nearest, 0 outside), or None."""
    import cv2

    size = crop.shape[0]
    border = {"nearest": cv2.BORDER_REPLICATE, "reflect": cv2.BORDER_REFLECT}[fill]
    # OpenCV wants the destination -> source map with WARP_INVERSE_MAP; passing it avoids a second
    # inversion inside cv2 and keeps the image and label map on exactly the same sample grid.
    inverse = cv2_matrix(invert_affine(sample_matrix(params, size)))
    image = cv2.warpAffine(
        crop, inverse, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=border
    )
    image = apply_brightness(image, params.brightness)
    moved_map = None
    if label_map is not None:
        moved_map = cv2.warpAffine(
            label_map,
            inverse,
            (size, size),
            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
    return image, moved_map


@dataclass(frozen=True)
class AugmentedSample:
    """One kept sample: ``image`` (S, S, 3) uint8; ``box`` the moved face box clipped to the sample (its
    visible part; the face may be partly cut) or None; ``label_map``
    (S, S) uint8 or None; ``points`` (N, 2) moved points or None; ``matrix`` (2, 3) crop -> sample;
    ``params`` the drawn transform."""

    image: np.ndarray
    box: Box | None
    label_map: np.ndarray | None
    points: np.ndarray | None
    matrix: np.ndarray
    params: TransformParams


@dataclass(frozen=True)
class AugmentOutcome:
    """Result of :func:`augment_image`: the sample (None when given up), the refused draws per reason,
    and the reason of the last refusal when the sample was given up."""

    sample: AugmentedSample | None
    redrawn: dict[str, int]
    given_up: str | None


def visible_fraction(box: Box, size: int) -> float:
    """The fraction of ``box``'s area that lies inside the ``size`` x ``size`` sample (0 for an empty box)."""
    x0, y0, x1, y1 = box
    area = (x1 - x0) * (y1 - y0)
    inside = max(0.0, min(x1, size) - max(x0, 0.0)) * max(0.0, min(y1, size) - max(y0, 0.0))
    return float(inside / area) if area > 0 else 0.0


def _clip_box(box: Box, size: int) -> Box:
    x0, y0, x1, y1 = (float(np.clip(v, 0, size)) for v in box)
    return (x0, y0, x1, y1)


def detected_in(detector: FaceDetector, image: np.ndarray, box: Box) -> bool:
    x0, y0, x1, y1 = box
    for found in detector(image):
        centre_x, centre_y = (found[0] + found[2]) / 2.0, (found[1] + found[3]) / 2.0
        if x0 <= centre_x <= x1 and y0 <= centre_y <= y1:
            return True
    return False


def augment_image(
    crop: np.ndarray,
    box_in_crop: Box | None,
    rng: np.random.Generator,
    settings: AugmentSettings,
    label_map: np.ndarray | None = None,
    points: np.ndarray | None = None,
    detector: FaceDetector | None = None,
) -> AugmentOutcome:
    """Make one accepted sample of a face crop, redrawing refused transforms up to ``settings.max_tries``.

    Parameters
    ----------
    crop: the face crop with margin, (S, S, 3) uint8.
    box_in_crop: the face box in crop pixels, or None (no geometric check).
    rng: the random generator to draw from.
    settings: ranges, fill, tries; ``check_detector`` with a ``detector`` adds the detection check.
    label_map: region label map (S, S) uint8 of the crop, moved with the image.
    points: (N, 2) ``(x, y)`` crop pixels (landmarks, keypoints), moved with the image.
    detector: returns the face boxes ``(x0, y0, x1, y1)`` found in an (S, S, 3) image.
    """
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.shape[0] != crop.shape[1] or crop.dtype != np.uint8:
        raise AugmentError(f"a crop must be square RGB uint8 (S, S, 3), got {crop.dtype} {crop.shape}")
    size = crop.shape[0]
    if label_map is not None and label_map.shape != crop.shape[:2]:
        raise AugmentError(f"label map shape {label_map.shape} differs from the crop's {crop.shape[:2]}")
    check_with = detector if settings.check_detector and box_in_crop is not None else None
    redrawn: Counter[str] = Counter()
    reason: str  # set by every refusal; max_tries >= 1
    for _ in range(settings.max_tries):
        params = draw_params(rng, settings, size)
        matrix = sample_matrix(params, size)
        moved_box = transform_box(matrix, box_in_crop) if box_in_crop is not None else None
        # The geometric pre-check needs no rendering, so refused draws cost almost nothing.
        if moved_box is not None and visible_fraction(moved_box, size) < settings.min_visible:
            reason = REASON_OUTSIDE
        else:
            image, moved_map = warp_sample(crop, params, settings.fill, label_map)
            if check_with is not None and moved_box is not None and not detected_in(check_with, image, moved_box):
                reason = REASON_UNDETECTED
            else:
                moved_points = apply_affine(matrix, points) if points is not None else None
                visible_box = _clip_box(moved_box, size) if moved_box is not None else None
                sample = AugmentedSample(image, visible_box, moved_map, moved_points, matrix, params)
                return AugmentOutcome(sample, dict(redrawn), None)
        redrawn[reason] += 1
    # The last refusal is a give-up, not a redraw.
    redrawn[reason] -= 1
    return AugmentOutcome(None, {k: v for k, v in redrawn.items() if v}, reason)
