"""The dedup test corpora: synthetic videos (pans over a texture, a grey subject) and copies of them
(re-encoded, resized, cropped, trimmed, letterboxed, pillarboxed), rendered with PyAV; and which clips are copies
of which.

Two corpora, each annotated once per session (``conftest.py``): the base one (:func:`write_corpus`: copies a
hash finds without crop levels; the filter and report tests count its groups) and the framings one
(:func:`write_framings`: copies cropped 6 and 10 % a side and rescaled back, as a user's cropped re-upload is,
letterboxed and pillarboxed copies, and distinct clips that share a scene, a framing or black bars with them).
"""
from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from curation.testing.synthetic import Shot, texture, write_video
from curation.video.encode import H264Writer

W, H, FRAMES = 320, 180, 75

# copy -> original; and clips that are none of each other's copies (two are other shots of the "pan" scene,
# two other framings of the "grey" subject).
COPIES = {"pan_crf35": "pan", "pan_small": "pan", "pan_crop4": "pan", "pan_trim": "pan", "grey_copy": "grey"}
DISTINCT = ["pan_other_region", "pan_wider_framing", "grey_tight", "grey_left", "other_texture"]

# The framings corpus: copy -> original, and clips that are no copy of anything in it: two other shots of the
# "scene" texture (another region; a wider framing, which the original is a 17 %-a-side crop of), other
# textures, a dark scene (black-border stripping must not eat it), a letterboxed clip of another texture (bars
# alone make no duplicate) and two other framings of the grey subject (off-centre; tighter, which the original
# is a 17 %-a-side crop of: a framing only 14 % tighter comes within 12 bits of the original's 10 % crop copy,
# and so joins its group through it).
FRAMING_COPIES = {"scene_crop6": "scene", "scene_crop10": "scene", "scene_letterbox": "scene",
                  "scene_pillarbox": "scene", "scene_crop10_letterbox": "scene", "grey_crop10": "grey"}
FRAMING_DISTINCT = ["scene_other_region", "scene_wider_framing", "texture_b", "texture_c", "dark_scene",
                    "texture_b_letterbox", "grey_left", "grey_tight"]


def render_view(path: Path, seed: int, x0: float, y0: float, view_w: float = W, size=(W, H), crf: int = 18,
                speed=(0.8, 0.2)) -> None:
    """A slow pan over texture ``seed``: the view (``view_w`` wide, 16:9) starts at (x0, y0) of a texture three
    frames wide and moves ``speed`` texture pixels per frame; encoded at ``size``."""
    tex = texture(seed, 3 * W, 3 * H)
    scale = size[0] / view_w
    with H264Writer(str(path), size[0], size[1], 25, crf=crf) as writer:
        for i in range(FRAMES):
            x, y = x0 + speed[0] * i, y0 + speed[1] * i
            matrix = np.float32([[scale, 0, -x * scale], [0, scale, -y * scale]])
            writer.write_array(cv2.warpAffine(tex, matrix, size, flags=cv2.INTER_AREA), "bgr24")


def copy_video(source: Path, path: Path, crf: int = 18, size=None, crop: float = 0.0, frames=None,
               box=None) -> None:
    """Decode ``source`` and encode it again: at ``crf``, cropped by ``crop`` of each side, resized to ``size``,
    only ``frames`` (start, stop); with ``box`` (width, height), the picture is fitted inside a black frame of
    that size (black bars top and bottom: letterbox; left and right: pillarbox)."""
    with av.open(str(source)) as container:
        images = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    if frames:
        images = images[frames[0]:frames[1]]
    h, w = images[0].shape[:2]
    dx, dy = int(round(crop * w)), int(round(crop * h))
    images = [im[dy:h - dy, dx:w - dx] for im in images]
    h, w = images[0].shape[:2]
    size = size or (w // 2 * 2, h // 2 * 2)
    if box:
        scale = min(box[0] / size[0], box[1] / size[1])
        size = (int(round(size[0] * scale)), int(round(size[1] * scale)))
    frame = box or size
    x, y = (frame[0] - size[0]) // 2, (frame[1] - size[1]) // 2
    with H264Writer(str(path), frame[0], frame[1], 25, crf=crf) as writer:
        for image in images:
            out = np.zeros((frame[1], frame[0], 3), np.uint8)
            out[y:y + size[1], x:x + size[0]] = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            writer.write_array(out, "bgr24")


def write_corpus(v: Path) -> None:
    """Every video of the base corpus into folder ``v``."""
    v.mkdir(parents=True, exist_ok=True)
    render_view(v / "pan.mp4", seed=7, x0=100, y0=60)
    copy_video(v / "pan.mp4", v / "pan_crf35.mp4", crf=35)                        # re-encoded
    copy_video(v / "pan.mp4", v / "pan_small.mp4", size=(192, 108))               # resized
    copy_video(v / "pan.mp4", v / "pan_crop4.mp4", crop=0.04, crf=30, size=(256, 144))  # cropped 4 % a side
    copy_video(v / "pan.mp4", v / "pan_trim.mp4", frames=(12, 66))                # trimmed: frames 12-65
    # Two other shots of the same scene: the same texture, another region; a wider framing of it.
    render_view(v / "pan_other_region.mp4", seed=7, x0=260, y0=110)
    render_view(v / "pan_wider_framing.mp4", seed=7, x0=20, y0=0, view_w=480)
    render_view(v / "other_texture.mp4", seed=8, x0=100, y0=60)
    # One grey subject on one backdrop: a medium shot, a copy of it, a tighter and an off-centre framing.
    write_video(v / "grey.mp4", [Shot(FRAMES, (0.3, 0.0), seed=1, subject=(1.0, 0.5, 0.4))])
    copy_video(v / "grey.mp4", v / "grey_copy.mp4", crf=32, size=(256, 144))
    write_video(v / "grey_tight.mp4", [Shot(FRAMES, (0.3, 0.0), seed=1, subject=(1.4, 0.5, 0.4))])
    write_video(v / "grey_left.mp4", [Shot(FRAMES, (0.3, 0.0), seed=1, subject=(1.0, 0.35, 0.4))])


def write_framings(v: Path) -> None:
    """Every video of the framings corpus into folder ``v``."""
    v.mkdir(parents=True, exist_ok=True)
    render_view(v / "scene.mp4", seed=11, x0=100, y0=60)
    # Cropped copies rescaled back to the clip's size (a cropped re-upload), at a lower quality.
    copy_video(v / "scene.mp4", v / "scene_crop6.mp4", crop=0.06, crf=26, size=(W, H))
    copy_video(v / "scene.mp4", v / "scene_crop10.mp4", crop=0.10, crf=26, size=(W, H))
    # Black bars added: 16:9 inside 4:3 (letterbox), inside 2.4:1 (pillarbox), and cropped then letterboxed.
    copy_video(v / "scene.mp4", v / "scene_letterbox.mp4", crf=24, box=(320, 240))
    copy_video(v / "scene.mp4", v / "scene_pillarbox.mp4", crf=24, box=(432, 180))
    copy_video(v / "scene.mp4", v / "scene_crop10_letterbox.mp4", crop=0.10, crf=24, size=(W, H), box=(320, 240))
    render_view(v / "scene_other_region.mp4", seed=11, x0=260, y0=110)
    render_view(v / "scene_wider_framing.mp4", seed=11, x0=20, y0=0, view_w=480)
    render_view(v / "texture_b.mp4", seed=12, x0=100, y0=60)
    render_view(v / "texture_c.mp4", seed=13, x0=300, y0=200)
    write_video(v / "dark_scene.mp4", [Shot(FRAMES, (0.5, 0.1), seed=14, brightness=0.25)])
    render_view(v / "texture_b_source.mp4", seed=12, x0=400, y0=250)
    copy_video(v / "texture_b_source.mp4", v / "texture_b_letterbox.mp4", box=(320, 240))
    (v / "texture_b_source.mp4").unlink()
    write_video(v / "grey.mp4", [Shot(FRAMES, (0.3, 0.0), seed=1, subject=(1.0, 0.5, 0.4))])
    copy_video(v / "grey.mp4", v / "grey_crop10.mp4", crop=0.10, crf=28, size=(W, H))
    write_video(v / "grey_left.mp4", [Shot(FRAMES, (0.3, 0.0), seed=1, subject=(1.0, 0.35, 0.4))])
    write_video(v / "grey_tight.mp4", [Shot(FRAMES, (0.3, 0.0), seed=1, subject=(1.5, 0.5, 0.4))])
