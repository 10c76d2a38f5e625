"""Camera motion from the Farnebäck flow the motion sampler already computes (no second decode, no second flow).

Per sampled pair, a similarity transform (pan, tilt, zoom, rotation) is fitted to the flow by least squares on a
grid of pixels away from the frame's edges, twice: the second fit leaves out the pixels the first explains worst
(moving objects), so the camera is what most of the picture does. What the fit does not explain is the objects'
own motion. Over a clip, the pairs' values are averaged, and **shake** is the part of the camera's translation
that a straight line through the pairs' times does not explain (handheld jitter changes direction from pair to
pair; a pan, even an accelerating one, does not).

Units (the motion columns' convention, :data:`curation.contract.schema.MOTION_UNIT`: a frame scaled to a 256 px
short side): ``camera_pan`` / ``camera_tilt`` / ``camera_shake`` / ``object_motion`` in px/s@256;
``camera_zoom`` in scale change per second (0.1 = the picture grows 10 % a second); ``camera_rotation`` in
degrees per second (positive: the camera rolls clockwise, the picture turns counter-clockwise). Signs: pan > 0
is the camera turning right (the picture moves left), tilt > 0 the camera tilting up (the picture moves down),
zoom > 0 zooming in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np
import pyarrow as pa
from pydantic import Field

from curation.annotate.scan.signal import ScanSignal
from curation.contract.schema import MOTION_UNIT
from curation.core.section import Float, Section

# Grid step (analysis pixels) of the pixels the fit reads, and the margin left out at the frame's edges, where
# Farnebäck's flow is least reliable (its window hangs over the edge).
GRID_STEP = 4
EDGE = 8
# Later fits: the pixels whose residual is under this multiple of the median residual (the rest are objects
# moving on their own); FITS rounds in all.
INLIER_FACTOR = 2.0
FITS = 3
# Only textured pixels hold the flow to account: on a flat area Farnebäck reads no motion whatever the camera does
# (a flat wall, sky, a disc of one colour). A grid pixel counts where the first frame's gradient (Sobel, grey
# levels per pixel) reaches TEXTURE (above compression noise, 1-2 levels); a pair with fewer than MIN_POINTS such
# pixels (4 % of the grid at a 128 px short side) shows no camera and is left out.
TEXTURE = 3.0
MIN_POINTS = 64
LABELS = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "rotate", "shaky",
          "mixed")


@dataclass(frozen=True)
class PairCamera:
    """The camera between two sampled frames ``first`` and ``last``: ``time_s`` (the first's), pan and tilt
    (px/s@256), zoom (scale change per second), rotation (deg/s), object motion (px/s@256, the residual's mean
    magnitude)."""

    first: int
    last: int
    time_s: float
    pan: float
    tilt: float
    zoom: float
    rotation: float
    objects: float

    def shifted(self, offset: int) -> PairCamera:
        return PairCamera(self.first + offset, self.last + offset, self.time_s, self.pan, self.tilt, self.zoom,
                          self.rotation, self.objects)


def textured(gray: np.ndarray) -> np.ndarray:
    """The pixels whose gradient (Sobel, grey levels per pixel) reaches :data:`TEXTURE` (bool, the frame's shape)."""
    g = gray.astype(np.float32)
    return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)) / 8.0 >= TEXTURE


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray]:
    """The fit's grid on an h x w flow: its slices, and its points' coordinates about the frame's centre."""
    edge = min(EDGE, max(0, min(h, w) // 4))
    sel = (slice(edge, h - edge, GRID_STEP), slice(edge, w - edge, GRID_STEP))
    ys, xs = np.mgrid[sel].astype(np.float64)
    return sel, (xs - (w - 1) / 2.0).ravel(), (ys - (h - 1) / 2.0).ravel()


def fit_similarity(flow: np.ndarray, gray: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """The similarity transform (a, b, tx, ty) that best explains ``flow`` ((H, W, 2), dx and dy in pixels):
    ``dx = a*x - b*y + tx``, ``dy = b*x + a*y + ty`` about the frame's centre, fitted on a grid away from the
    edges (on its textured points when ``gray``, the first frame, is given), then again without the points it
    explained worst. Returns the parameters and the residual's magnitude at the grid points it was fitted on;
    None when fewer than :data:`MIN_POINTS` of them are textured (a flat picture shows no camera)."""
    sel, x, y = _grid(*flow.shape[:2])
    u, v = flow[..., 0][sel].ravel().astype(np.float64), flow[..., 1][sel].ravel().astype(np.float64)
    if gray is not None:
        keep = textured(gray)[sel].ravel()
        if keep.sum() < MIN_POINTS:
            return None
        x, y, u, v = x[keep], y[keep], u[keep], v[keep]
    n = len(x)
    one, zero = np.ones(n), np.zeros(n)
    design = np.concatenate([np.stack([x, -y, one, zero], 1), np.stack([y, x, zero, one], 1)])
    target = np.concatenate([u, v])
    keep = np.ones(2 * n, bool)
    params = np.zeros(4)
    for _ in range(FITS):
        a = design[keep]
        # The normal equations of a 4-parameter fit: a 4x4 solve, not an SVD of the whole design.
        params = np.linalg.solve(a.T @ a + 1e-9 * np.eye(4), a.T @ target[keep])
        err = np.hypot(*(design @ params - target).reshape(2, n))
        limit = INLIER_FACTOR * max(float(np.median(err)), 1e-3)
        keep = np.concatenate([err <= limit, err <= limit])
        if keep.sum() < 8:
            break
    return params, err


def residual_flow(flow: np.ndarray, params: np.ndarray) -> np.ndarray:
    """What a similarity ``params`` (:func:`fit_similarity`) leaves of ``flow`` at every pixel (H, W, 2)."""
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    xs -= (w - 1) / 2.0
    ys -= (h - 1) / 2.0
    a, b, tx, ty = params
    return np.stack([flow[..., 0] - (a * xs - b * ys + tx), flow[..., 1] - (b * xs + a * ys + ty)], -1)


def pair_camera(flow: np.ndarray, first: int, last: int, time_s: float, dt: float, scale: float,
                gray: np.ndarray | None = None) -> PairCamera | None:
    """The camera of one pair (frames ``first`` and ``last``) from its flow; ``scale``: px@256 per analysis pixel,
    ``dt``: seconds between the frames, ``gray``: the first frame (:func:`fit_similarity`). None when the
    picture is too flat to show the camera."""
    fitted = fit_similarity(flow, gray)
    if fitted is None:
        return None
    (a, b, tx, ty), err = fitted
    dt = max(dt, 1e-6)
    # The objects' own motion: the residual on the textured grid points (a flat area's flow is not motion the
    # camera left unexplained).
    objects = float(err.mean()) * scale / dt
    # The picture moves by (tx, ty): the camera the other way (tilt up moves the picture down, +y).
    return PairCamera(first, last, time_s, pan=-tx * scale / dt, tilt=ty * scale / dt, zoom=a / dt,
                      rotation=-math.degrees(math.atan2(b, 1.0 + a)) / dt, objects=objects)


def clip_camera(pairs: list[PairCamera]) -> dict:
    """A clip's camera columns from its measurable pairs (nulls when it has none: no motion pairs, or a picture too
    flat to show the camera): means, and shake (RMS of the pan and tilt speeds about their least-squares line
    through the pairs' times; null with fewer than 3 pairs)."""
    if not pairs:
        return {"camera_pan": None, "camera_tilt": None, "camera_zoom": None, "camera_rotation": None,
                "camera_shake": None, "object_motion": None}
    t = np.array([p.time_s for p in pairs])
    pan = np.array([p.pan for p in pairs])
    tilt = np.array([p.tilt for p in pairs])
    shake = None
    if len(pairs) >= 3 and np.ptp(t) > 0:
        spread = []
        for values in (pan, tilt):
            slope, intercept = np.polyfit(t - t.mean(), values, 1)
            spread.append(values - (slope * (t - t.mean()) + intercept))
        shake = float(np.sqrt(np.mean(spread[0] ** 2 + spread[1] ** 2)))
    return {"camera_pan": float(pan.mean()), "camera_tilt": float(tilt.mean()),
            "camera_zoom": float(np.mean([p.zoom for p in pairs])),
            "camera_rotation": float(np.mean([p.rotation for p in pairs])),
            "camera_shake": shake, "object_motion": float(np.mean([p.objects for p in pairs]))}


def camera_label(values: dict, static_speed: float, zoom_rate: float, rotation_rate: float,
                 shake_speed: float, mixed_share: float) -> str | None:
    """One label of :data:`LABELS` from a clip's camera columns: ``shaky`` when the shake reaches
    ``shake_speed``; else each movement's size against its threshold (pan and tilt: ``static_speed`` px/s@256,
    zoom: ``zoom_rate`` /s, rotation: ``rotation_rate`` deg/s); none reaching 1 is ``static``; the largest is
    the label unless the second largest is at least ``mixed_share`` of it (``mixed``). None without pairs."""
    if values.get("camera_pan") is None:
        return None
    if values.get("camera_shake") is not None and values["camera_shake"] >= shake_speed:
        return "shaky"
    sizes = {
        "pan_right" if values["camera_pan"] > 0 else "pan_left": abs(values["camera_pan"]) / static_speed,
        "tilt_up" if values["camera_tilt"] > 0 else "tilt_down": abs(values["camera_tilt"]) / static_speed,
        "zoom_in" if values["camera_zoom"] > 0 else "zoom_out": abs(values["camera_zoom"]) / zoom_rate,
        "rotate": abs(values["camera_rotation"]) / rotation_rate,
    }
    ranked = sorted(sizes.items(), key=lambda kv: kv[1], reverse=True)
    if ranked[0][1] < 1.0:
        return "static"
    if ranked[1][1] >= 1.0 and ranked[1][1] >= mixed_share * ranked[0][1]:
        return "mixed"
    return ranked[0][0]


class CameraConfig(Section):
    """The ``camera`` stage: camera motion per clip from the motion stage's Farnebäck pairs (it needs ``motion``).
    The label's thresholds (:func:`camera_label`):

    static_speed: pan or tilt at or over this is a move (default 8 px/s@256, a third of a pixel a frame at 25 fps
        on a 256 px short side).
    zoom_rate: a zoom at or over this scale change a second is a move (default 0.02: 2 % a second).
    rotation_rate: a roll at or over this is a move (default 1 deg/s).
    shake_speed: shake at or over this is ``shaky`` (default 15 px/s@256 RMS about the clip's straight camera
        path).
    mixed_share: two moves whose sizes (each over its threshold) are within this share are ``mixed`` (default 0.5).
    """

    static_speed: Float = Field(8.0, gt=0, json_schema_extra={"unit": MOTION_UNIT})
    zoom_rate: Float = Field(0.02, gt=0, json_schema_extra={"unit": "1/s"})
    rotation_rate: Float = Field(1.0, gt=0, json_schema_extra={"unit": "deg/s"})
    shake_speed: Float = Field(15.0, gt=0, json_schema_extra={"unit": MOTION_UNIT})
    mixed_share: Float = Field(0.5, gt=0, le=1)


@dataclass
class _CameraSampler:
    """Fits the camera of every motion pair of one unit."""

    kept: list[PairCamera] = field(default_factory=list)

    def frame(self, rel: int, frame, in_range: bool) -> None:
        pass

    def pair(self, first: int, second: int, time_s: float, dt: float, flow: np.ndarray, scale: float,
             gray: np.ndarray) -> None:
        camera = pair_camera(flow, first, second, time_s, dt, scale, gray)
        if camera is not None:  # a pair too flat to show the camera says nothing
            self.kept.append(camera)

    def samples(self) -> list[PairCamera]:
        return self.kept


def _clip_values(config: CameraConfig, samples: list[PairCamera], width: int, height: int) -> dict:
    values = clip_camera(samples)
    values["camera_motion"] = camera_label(values, config.static_speed, config.zoom_rate, config.rotation_rate,
                                           config.shake_speed, config.mixed_share)
    return values


SIGNAL = ScanSignal(
    name="camera",
    config=CameraConfig,
    columns=(
        ("camera_pan", pa.float64(), f"Camera pan, mean over the clip's motion pairs, {MOTION_UNIT}; > 0: the "
                                     "camera turns right (the picture moves left). A similarity fit to the "
                                     "Farnebäck flow, the objects' own motion left out."),
        ("camera_tilt", pa.float64(), f"Camera tilt, {MOTION_UNIT}; > 0: the camera tilts up (the picture moves "
                                      "down)."),
        ("camera_zoom", pa.float64(), "Zoom, scale change per second (0.1: the picture grows 10 % a second); > 0: "
                                      "zooming in."),
        ("camera_rotation", pa.float64(), "Roll, degrees per second; > 0: the camera rolls clockwise (the picture "
                                          "turns counter-clockwise)."),
        ("camera_shake", pa.float64(), f"Shake: RMS of the pan and tilt speeds about their straight line through "
                                       f"the pairs' times, {MOTION_UNIT}; null with fewer than 3 pairs."),
        ("object_motion", pa.float64(), f"Motion the camera fit does not explain (the objects' own), mean "
                                        f"magnitude at the fit's textured grid points, {MOTION_UNIT}."),
        ("camera_motion", pa.string(), "Camera label: static, pan_left, pan_right, tilt_up, tilt_down, zoom_in, "
                                       "zoom_out, rotate, shaky or mixed (thresholds: annotate.camera); null "
                                       "without motion pairs or when the picture is too flat to show the camera "
                                       "(every column here is then null)."),
    ),
    sampler=lambda config, width, height: _CameraSampler(),
    clip_values=_clip_values,
    needs=("motion",),
    default=True,
)
