"""Videos of a picture moved along known camera paths, with exact truth: the camera-motion family.

A large picture (a synthetic texture, or a real still given by the caller) is warped frame by frame by a known
similarity transform about the frame's centre and encoded as H.264: the camera pans, tilts, zooms, rolls, shakes
(uncorrelated jitter of a few pixels from frame to frame, as a hand-held camera at 25 fps) or stays still. The
truth is in the units of the camera columns (:mod:`curation.annotate.scan.camera`): pan and tilt in px/s@256,
zoom in scale change per second, rotation in degrees per second, and the label the default thresholds should
give.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from curation.testing.synthetic import texture
from curation.video.encode import H264Writer


@dataclass(frozen=True)
class CameraPath:
    """Per frame: pan / tilt in output pixels per frame (camera right / up positive), zoom as the scale change
    per frame (0.01: 1 % larger each frame), rotation in degrees per frame (camera rolling clockwise positive),
    shake: the standard deviation of a frame's random offset in output pixels."""

    label: str
    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0
    rotation: float = 0.0
    shake: float = 0.0


@dataclass(frozen=True)
class CameraTruth:
    label: str
    pan: float        # px/s@256
    tilt: float       # px/s@256
    zoom: float       # scale change per second (continuous rate)
    rotation: float   # deg/s
    shaky: bool


def camera_paths(variant: int = 0) -> list[CameraPath]:
    """One path per label; speeds drawn per ``variant`` (seeded) from ranges well away from the labels'
    thresholds, so each video has one true label."""
    rng = np.random.default_rng(1000 + variant)
    pan = float(rng.uniform(0.8, 3.0))      # output px per frame at 360 px short side: 14-53 px/s@256 at 25 fps
    tilt = float(rng.uniform(0.8, 2.5))
    zoom = float(rng.uniform(0.003, 0.006))  # 7.5-15 % a second at 25 fps
    roll = float(rng.uniform(0.1, 0.3))      # 2.5-7.5 deg/s at 25 fps
    shake = float(rng.uniform(1.5, 3.0))
    return [CameraPath("static"), CameraPath("pan_right", pan=pan), CameraPath("pan_left", pan=-pan),
            CameraPath("tilt_up", tilt=tilt), CameraPath("tilt_down", tilt=-tilt),
            CameraPath("zoom_in", zoom=zoom), CameraPath("zoom_out", zoom=-zoom),
            CameraPath("rotate", rotation=roll), CameraPath("shaky", shake=shake)]


def write_camera_video(path: str | Path, camera: CameraPath, picture: np.ndarray, width: int = 640,
                       height: int = 360, fps: int = 25, frames: int = 100, seed: int = 0) -> CameraTruth:
    """Encode ``frames`` frames of ``picture`` (BGR, larger than the output) seen along ``camera``; returns the
    truth."""
    rng = np.random.default_rng(seed)
    ph, pw = picture.shape[:2]
    centre_in = np.array([pw / 2.0, ph / 2.0])
    centre_out = np.array([width / 2.0, height / 2.0])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with H264Writer(str(path), width, height, fps, crf=18) as writer:
        for k in range(frames):
            # The picture moves against the camera: a pan right moves it left, a tilt up moves it down; a
            # clockwise roll turns it counter-clockwise (cv2's positive angle).
            offset = np.array([-camera.pan * k, camera.tilt * k])
            if camera.shake:
                offset = offset + rng.normal(0.0, camera.shake, 2)
            scale = (1.0 + camera.zoom) ** k
            m = cv2.getRotationMatrix2D(tuple(centre_in), camera.rotation * k, scale)
            m[:, 2] += centre_out - centre_in + offset
            writer.write_array(cv2.warpAffine(picture, m, (width, height), flags=cv2.INTER_LINEAR,
                                              borderMode=cv2.BORDER_REFLECT), "bgr24")
    per_s = fps * 256.0 / min(width, height)
    return CameraTruth(camera.label, pan=camera.pan * per_s, tilt=camera.tilt * per_s,
                       zoom=float(np.log1p(camera.zoom) * fps), rotation=camera.rotation * fps,
                       shaky=camera.shake > 0)


def camera_family(directory: str | Path, variant: int = 0, picture: np.ndarray | None = None,
                  width: int = 640, height: int = 360) -> dict[str, CameraTruth]:
    """Write one video per camera label into ``directory`` (``<label>.mp4``); ``picture``: the scene (default:
    a synthetic texture of three times the output size, seeded by ``variant``: no path shows past its edges
    in 100 frames)."""
    if picture is None:
        picture = texture(7000 + variant, 3 * width, 3 * height)
    return {c.label: write_camera_video(Path(directory) / f"{c.label}.mp4", c, picture, width, height,
                                        seed=variant)
            for c in camera_paths(variant)}
