"""Synthetic H.264 videos with known truth (cuts, fades, static and moving shots, text), written with PyAV.

Used by the test fixtures, ``curate sample`` and the benchmarks. Every shot shows its own random texture, so a
cut is a real content change; a moving shot pans over a larger texture at an exact speed in pixels per frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from curation.video.encode import H264Writer


@dataclass(frozen=True)
class Shot:
    """frames: length. speed: pan in output pixels per frame (x, y). text: overlay drawn on every frame.
    transition_in: frames of transition from the previous shot (0 = hard cut); transition: its kind,
    ``dissolve`` (a cross-fade; a fade when one side is ``BLACK``) or ``wipe`` (a vertical edge sweeping left
    to right).
    subject: None for a colourful texture; ``(zoom, x, y)`` for a grey-scale shot of one person-like subject on
    a grey backdrop, framed at ``zoom`` (1 = head and shoulders fill about half the height) and centred at
    (x, y) in fractions of the frame; every such shot shows the *same* subject (``seed`` picks its pose
    details), the hard case of a montage cut between similar grey shots.
    brightness: multiplies the picture (0.3 = a dark shot).
    flashes: frame offsets inside the shot that are washed out to near white (a camera flash or a strobe:
    not a cut).
    blur: motion-blur sub-samples per frame for fast pans (1 = none).
    hold: every picture is held this many frames (2 or 3: animation "on twos/threes", stop motion, low-rate
    sources); 1 = a new picture every frame.
    overlay: graphics or a camera change inside the shot, changing at the frame offsets ``events`` (none of it
    is a cut; :func:`_overlay` draws them): ``map`` (an infographic panel whose regions recolour a few at a
    time), ``counter`` (an indicator box switching value and colour), ``captions`` (a lower-third band and a
    subtitle line appearing, changing and going), ``slide`` (a lower third sliding in and out), ``pip`` (a
    picture-in-picture inset that appears and cuts between its own shots), ``split`` (a split screen whose
    right half cuts), ``focus`` (a focus pull and an autofocus snap), ``exposure`` (an exposure jump and a slow
    return)."""

    frames: int
    speed: tuple[float, float] = (0.0, 0.0)
    seed: int = 0
    text: str | None = None
    transition_in: int = 0
    transition: str = "dissolve"
    subject: tuple[float, float, float] | None = None
    brightness: float = 1.0
    flashes: tuple[int, ...] = ()
    blur: int = 1
    hold: int = 1
    overlay: str | None = None
    events: tuple[int, ...] = ()


@dataclass
class Truth:
    """Ground truth of a written video: frame indices (0-based decode order)."""

    cuts: list[int] = field(default_factory=list)          # first frame of each new shot after a hard cut
    gradual: list[tuple[int, int]] = field(default_factory=list)  # inclusive frame ranges of dissolves
    shots: list[tuple[int, int]] = field(default_factory=list)    # inclusive frame ranges of pure shot content
    frames: int = 0
    fps: float = 25.0


BLACK = -1  # the seed of an all-black shot (for fades from and to black)


@dataclass(frozen=True)
class Broadcast:
    """A channel's graphics drawn over a whole video, the same across its cuts (:func:`draw_broadcast`).

    style: ``news`` (dense: a programme bar with a clock, a logo, a headline band, a scrolling ticker, a
    subtitle line and a vertical caption on the left: about 40 % of the frame), ``lower_third`` (a logo and a
    two-line name strap: about 20 %), ``score`` (a score bug with a running clock and a logo: about 8 %).
    ticker_speed: pixels a frame the ticker scrolls (news). subtitles: frames at which the subtitle line
    changes its text (news; chosen off the cuts). headlines: frames at which the headline band changes its
    text (news and lower_third: a graphic changing inside a shot). seed: the texts' choice."""

    style: str
    seed: int = 0
    ticker_speed: float = 2.0
    subtitles: tuple[int, ...] = ()
    headlines: tuple[int, ...] = ()


def texture(seed: int, width: int, height: int) -> np.ndarray:
    """A colourful texture with structure at several scales (BGR uint8), different for every seed; all black
    for ``BLACK``."""
    if seed == BLACK:
        return np.zeros((height, width, 3), np.uint8)
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for scale, weight in ((8, 0.5), (32, 0.3), (96, 0.2)):
        small = rng.random((max(2, height // scale), max(2, width // scale), 3)).astype(np.float32)
        image += weight * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    tint = rng.random(3).astype(np.float32) * 0.6 + 0.2
    image = np.clip(image * tint * 1.6 * 255, 0, 255).astype(np.uint8)
    for _ in range(6):  # shapes give the flow and the cut detectors edges to hold on to
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(max(3, min(width, height) // 30), max(4, min(width, height) // 6)))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.circle(image, (x, y), r, colour, -1)
    return image


def grey_subject(seed: int, width: int, height: int, zoom: float, cx: float, cy: float) -> np.ndarray:
    """One person-like subject (head, neck, shoulders, a few facial features) on a grey backdrop, grey-scale
    BGR. The subject and backdrop are the same for every ``seed``; ``seed`` only varies small details (the
    pose of the head, the expression), so two framings differ by layout, not by colour or texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # Backdrop: mid grey with a soft vertical gradient and a vignette, as a studio paper backdrop.
    image = 118 + 18 * (yy / height) - 20 * (((xx - width / 2) / width) ** 2 + ((yy - height / 2) / height) ** 2)
    unit = height / 2.2 * zoom  # head height in pixels
    hx, hy = cx * width + rng.normal(0, 0.03) * unit, cy * height
    tilt = rng.normal(0, 0.08)
    skin, cloth, hair = 150 + rng.normal(0, 4), 70 + rng.normal(0, 4), 45
    body = ((xx - hx) / (1.5 * unit)) ** 2 + ((yy - (hy + 1.5 * unit)) / (0.9 * unit)) ** 2 <= 1
    image[body] = cloth
    neck = (np.abs(xx - hx) < 0.18 * unit) & (yy > hy) & (yy < hy + 0.8 * unit)
    image[neck] = skin - 15
    rx = (xx - hx) * np.cos(tilt) + (yy - hy) * np.sin(tilt)
    ry = -(xx - hx) * np.sin(tilt) + (yy - hy) * np.cos(tilt)
    image[(rx / (0.36 * unit)) ** 2 + ((ry + 0.05 * unit) / (0.5 * unit)) ** 2 <= 1] = hair
    image[(rx / (0.32 * unit)) ** 2 + ((ry - 0.05 * unit) / (0.45 * unit)) ** 2 <= 1] = skin
    for side in (-1, 1):  # eyes and brows
        image[((rx - side * 0.12 * unit) / (0.05 * unit)) ** 2 + ((ry + 0.05 * unit) / (0.025 * unit)) ** 2 <= 1] = 40
        image[(np.abs(rx - side * 0.12 * unit) < 0.07 * unit) & (np.abs(ry + 0.13 * unit) < 0.012 * unit)] = 60
    mouth = 0.02 * unit * (1 + rng.random())
    image[((rx / (0.1 * unit)) ** 2 + ((ry - 0.22 * unit) / mouth) ** 2) <= 1] = 90
    image += rng.normal(0, 2.0, image.shape).astype(np.float32)  # film grain
    grey = np.clip(image, 0, 255).astype(np.uint8)
    return cv2.merge([grey, grey, grey])


def _shot_frames(shot: Shot, width: int, height: int, scale: float):
    """Yield the frames of a shot. ``scale`` renders the same scene at another resolution: the texture is
    drawn at the base size and resized, so content and physical motion are identical across scales."""
    if shot.subject is not None:
        zoom, cx, cy = shot.subject
        for i in range(shot.frames):
            # A slow push-in and drift, as a camera operator would: the framing changes a little every frame.
            frame = grey_subject(shot.seed, width, height, zoom * (1 + 0.002 * i),
                                 cx + shot.speed[0] * i / width, cy + shot.speed[1] * i / height)
            yield _finish(frame, shot, i)
        return
    base_w, base_h = int(round(width / scale)), int(round(height / scale))
    margin = int(np.ceil(max(abs(shot.speed[0]), abs(shot.speed[1])) / scale * shot.frames)) + 4
    tex = texture(shot.seed, base_w + 2 * margin, base_h + 2 * margin)
    if scale != 1.0:
        tex = cv2.resize(tex, (int(round(tex.shape[1] * scale)), int(round(tex.shape[0] * scale))),
                         interpolation=cv2.INTER_CUBIC)
    m = int(round(margin * scale))
    for i in range(shot.frames):
        acc = np.zeros((height, width, 3), np.float32)
        for sub in range(shot.blur):
            t = i + sub / shot.blur
            dx, dy = shot.speed[0] * t, shot.speed[1] * t
            # Sub-pixel pan: translate with an affine warp so the speed is exact.
            matrix = np.float32([[1, 0, -(m + dx)], [0, 1, -(m + dy)]])
            acc += cv2.warpAffine(tex, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT)
        yield _finish((acc / shot.blur).astype(np.uint8), shot, i)


def _finish(frame: np.ndarray, shot: Shot, i: int) -> np.ndarray:
    """Brightness, overlays, text and flashes of frame ``i`` of a shot."""
    if shot.overlay:
        frame = _overlay(frame, shot, i)
    if shot.brightness != 1.0:
        frame = np.clip(frame.astype(np.float32) * shot.brightness, 0, 255).astype(np.uint8)
    if shot.text:
        height = frame.shape[0]
        size = max(0.4, height / 300)
        cv2.putText(frame, shot.text, (int(frame.shape[1] * 0.08), int(height * 0.85)), cv2.FONT_HERSHEY_SIMPLEX,
                    size * 1.5, (255, 255, 255), max(1, int(size * 3)), cv2.LINE_AA)
    if i in shot.flashes:
        frame = np.clip(frame.astype(np.float32) * 0.25 + 0.75 * 245, 0, 255).astype(np.uint8)
    return frame


def _stage(events: tuple[int, ...], i: int) -> int:
    """How many of ``events`` (frame offsets) frame ``i`` is at or past."""
    return sum(1 for e in events if i >= e)


def _ramp(start: int, length: int, i: int) -> float:
    """0 before frame ``start``, 1 from ``start + length``, linear between."""
    return float(min(max((i - start + 1) / length, 0.0), 1.0))


def _overlay(frame: np.ndarray, shot: Shot, i: int) -> np.ndarray:
    """Frame ``i`` of a shot with its :attr:`Shot.overlay` drawn (see there); the same for every frame between
    two events, so each event is one abrupt (or, for ``slide``/``focus``/``exposure``, a short gradual)
    change of part of the picture or of the camera, never a new shot."""
    h, w = frame.shape[:2]
    kind, events, stage = shot.overlay, shot.events, _stage(shot.events, i)
    rng = np.random.default_rng(7919 * shot.seed + 17)
    frame = frame.copy()
    if kind == "map":
        # A panel of 12 flat regions (a choropleth map) on the right 55 % x 80 % of the frame; each event
        # recolours 3-4 of them (a share of the panel, about a tenth of the frame).
        x0, y0, pw, ph = int(0.4 * w), int(0.1 * h), int(0.55 * w), int(0.8 * h)
        seeds = rng.random((12, 2)) * (pw, ph)
        yy, xx = np.mgrid[0:ph, 0:pw]
        region = np.argmin((xx[..., None] - seeds[:, 0]) ** 2 + (yy[..., None] - seeds[:, 1]) ** 2, axis=-1)
        palette = rng.integers(30, 230, (len(events) + 1, 12, 3))
        colours = palette[0].copy()
        for k in range(stage):
            changed = rng.choice(12, size=int(rng.integers(3, 5)), replace=False)
            colours[changed] = palette[k + 1][changed]
        panel = colours[region].astype(np.uint8)
        panel[(cv2.Laplacian(region.astype(np.float32), cv2.CV_32F) != 0)] = 250  # borders
        frame[y0:y0 + ph, x0:x0 + pw] = panel
    elif kind == "counter":
        # A temperature indicator: a box of a quarter of the width and a third of the height, its colour and
        # number switching.
        x0, y0, bw, bh = int(0.05 * w), int(0.08 * h), int(0.25 * w), int(0.33 * h)
        values = rng.integers(-15, 40, len(events) + 1)
        value = int(values[stage])
        colour = (int(255 * (value < 10)), 60, int(255 * (value >= 10)))
        frame[y0:y0 + bh, x0:x0 + bw] = colour
        cv2.putText(frame, f"{value}C", (x0 + bw // 10, y0 + int(bh * 0.75)), cv2.FONT_HERSHEY_SIMPLEX,
                    bh / 45, (255, 255, 255), max(1, bh // 20), cv2.LINE_AA)
    elif kind == "captions":
        # A lower third (full width, the bottom 22 %) that appears at event 0, changes text and colour at 1 and
        # 2 and goes at 3, and a subtitle line above it changing at every event.
        texts = ["BREAKING NEWS", "LIVE: CITY CENTRE", "WEATHER WARNING", "MARKETS CLOSE HIGHER"]
        if 1 <= stage <= 3:
            band = (int(rng.integers(0, 120)), int(rng.integers(0, 120)), 200 if stage % 2 else 40)
            frame[int(0.78 * h):, :] = band
            cv2.putText(frame, texts[stage - 1], (int(0.04 * w), int(0.93 * h)), cv2.FONT_HERSHEY_SIMPLEX,
                        h / 280, (255, 255, 255), max(1, h // 90), cv2.LINE_AA)
        subtitles = ["I never said that.", "Where were you?", "At home, all night.", "Prove it.", "Fine."]
        cv2.putText(frame, subtitles[stage % len(subtitles)], (int(0.1 * w), int(0.7 * h)),
                    cv2.FONT_HERSHEY_SIMPLEX, h / 300, (255, 255, 0), max(1, h // 100), cv2.LINE_AA)
    elif kind == "slide":
        # A lower third sliding in from the left over 6 frames at event 0, and out to the right from event 1.
        if len(events) < 2 or i < events[1]:
            t = _ramp(events[0], 6, i)
            offset = -int(round((1 - t) * w))
        else:
            t = 1 - _ramp(events[1], 6, i)
            offset = int(round((1 - t) * w))
        if t > 0:
            band = np.full((int(0.25 * h), w, 3), (150, 40, 20), np.uint8)
            cv2.putText(band, "MINISTER OF FINANCE", (int(0.05 * w), int(0.17 * h)), cv2.FONT_HERSHEY_SIMPLEX,
                        h / 280, (255, 255, 255), max(1, h // 90), cv2.LINE_AA)
            if offset <= 0:
                frame[h - band.shape[0]:, :w + offset] = band[:, -offset:]
            else:
                frame[h - band.shape[0]:, offset:] = band[:, :w - offset]
    elif kind in ("pip", "split"):
        # pip: an inset of 45 % x 50 % of the frame (about a fifth of it), top right, appearing at event 0 and
        # cutting to another of its own shots at every later event; split: the right half cuts at every event.
        if kind == "pip":
            if stage == 0:
                return frame
            x0, y0, iw, ih = int(0.5 * w), int(0.06 * h), int(0.45 * w), int(0.5 * h)
        else:
            x0, y0, iw, ih = w // 2, 0, w - w // 2, h
        inset = texture(shot.seed * 31 + 1000 + stage, iw, ih)
        frame[y0:y0 + ih, x0:x0 + iw] = inset
        if kind == "pip":
            cv2.rectangle(frame, (x0, y0), (x0 + iw - 1, y0 + ih - 1), (255, 255, 255), 2)
        else:
            frame[:, x0 - 1:x0 + 1] = 0
    elif kind == "focus":
        # A focus pull to soft over 10 frames from event 0, back to sharp over 10 from event 1; an autofocus
        # snap (soft in one frame, sharp again 3 frames later) at event 2.
        sigma = 3.5 * (_ramp(events[0], 10, i) - (_ramp(events[1], 10, i) if len(events) > 1 else 0.0))
        if len(events) > 2 and events[2] <= i < events[2] + 3:
            sigma = 3.0
        if sigma > 0.05:
            frame = cv2.GaussianBlur(frame, (0, 0), sigma * h / 180)
    elif kind == "exposure":
        # The camera's exposure jumps up by 45 % over 2 frames at event 0 and comes back over 15 from event 1.
        gain = 1 + 0.45 * (_ramp(events[0], 2, i) - (_ramp(events[1], 15, i) if len(events) > 1 else 0.0))
        frame = np.clip(frame.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"unknown overlay {kind!r}")
    return frame


_WORDS = ("MARKETS", "RALLY", "STORM", "WARNING", "ELECTION", "RESULTS", "TRAFFIC", "DELAYS", "MINISTER",
          "RESIGNS", "FLOODS", "NORTH", "TEAM", "WINS", "FINAL", "PRICES", "RISE", "TALKS", "RESUME", "LIVE")


def _words(seed: int, n: int) -> str:
    rng = np.random.default_rng(seed)
    return " ".join(rng.choice(_WORDS, n))


def _text(frame: np.ndarray, text: str, x: int, y: int, height_px: float, colour, outline=None) -> None:
    """``text`` with its baseline at (x, y), letters about ``height_px`` pixels high."""
    scale = max(0.25, height_px / 22.0)
    thickness = max(1, int(round(scale * 1.6)))
    if outline is not None:
        cv2.putText(frame, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, outline, thickness + 2, cv2.LINE_AA)
    cv2.putText(frame, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)


def draw_broadcast(frame: np.ndarray, graphics: Broadcast, i: int) -> np.ndarray:
    """Frame ``i`` of a video with ``graphics`` drawn (:class:`Broadcast`): the same on every frame except the
    ticker (scrolling every frame), the clock (every 25 frames), and the subtitle and headline texts (at their
    own frames)."""
    h, w = frame.shape[:2]
    frame = frame.copy()
    seed = graphics.seed
    clock = f"{12 + (i // 1500) % 12:02d}:{(i // 25) // 60 % 60:02d}:{(i // 25) % 60:02d}"
    if graphics.style == "news":
        bar = int(0.09 * h)
        cv2.rectangle(frame, (0, 0), (w, bar), (90, 40, 10), -1)
        _text(frame, "NEWS 24  LIVE", int(0.03 * w), int(0.72 * bar), 0.6 * bar, (255, 255, 255))
        _text(frame, clock, int(0.62 * w), int(0.72 * bar), 0.6 * bar, (255, 255, 255))
        # the logo, top right, over the picture
        lx, ly = int(0.84 * w), int(0.11 * h)
        cv2.rectangle(frame, (lx, ly), (int(0.97 * w), int(0.22 * h)), (30, 30, 200), -1)
        _text(frame, "N24", lx + int(0.01 * w), int(0.20 * h), 0.09 * h, (255, 255, 255))
        # a vertical caption on the left
        vx = int(0.06 * w)
        cv2.rectangle(frame, (0, int(0.12 * h)), (vx, int(0.62 * h)), (20, 20, 20), -1)
        for k, letter in enumerate("EXCLUSIVE"):
            _text(frame, letter, int(0.012 * w), int(0.17 * h + k * 0.05 * h), 0.04 * h, (0, 220, 255))
        # the subtitle line, in the picture above the bands (changes at its own frames)
        line = _words(seed * 31 + _stage(graphics.subtitles, i), 4).lower()
        _text(frame, line, int(0.15 * w), int(0.66 * h), 0.055 * h, (255, 255, 255), (0, 0, 0))
        # the headline band
        cv2.rectangle(frame, (0, int(0.70 * h)), (w, int(0.84 * h)), (20, 20, 190), -1)
        _text(frame, _words(seed * 17 + _stage(graphics.headlines, i), 3), int(0.03 * w), int(0.80 * h),
              0.08 * h, (255, 255, 255))
        # the ticker, scrolling left
        cv2.rectangle(frame, (0, int(0.85 * h)), (w, h), (235, 235, 235), -1)
        ticker = "   +++   ".join(_words(seed * 7 + k, 5) for k in range(6))
        offset = int(graphics.ticker_speed * i) % max(1, int(len(ticker) * 0.05 * h))
        _text(frame, ticker, int(0.02 * w) - offset, int(0.96 * h), 0.07 * h, (10, 10, 10))
    elif graphics.style == "lower_third":
        lx, ly = int(0.85 * w), int(0.05 * h)
        cv2.rectangle(frame, (lx, ly), (int(0.96 * w), int(0.16 * h)), (200, 200, 200), -1)
        _text(frame, "TV", lx + int(0.015 * w), int(0.14 * h), 0.08 * h, (40, 40, 40))
        cv2.rectangle(frame, (int(0.05 * w), int(0.74 * h)), (int(0.70 * w), int(0.84 * h)), (150, 60, 20), -1)
        _text(frame, _words(seed * 13 + _stage(graphics.headlines, i), 2), int(0.07 * w), int(0.815 * h),
              0.07 * h, (255, 255, 255))
        cv2.rectangle(frame, (int(0.05 * w), int(0.84 * h)), (int(0.55 * w), int(0.91 * h)), (240, 240, 240), -1)
        _text(frame, "correspondent, " + _words(seed * 5, 1).lower(), int(0.07 * w), int(0.895 * h), 0.045 * h,
              (20, 20, 20))
    elif graphics.style == "score":
        cv2.rectangle(frame, (int(0.04 * w), int(0.05 * h)), (int(0.40 * w), int(0.14 * h)), (25, 25, 25), -1)
        _text(frame, f"HOME 2 - 1 AWAY  {clock[3:]}", int(0.05 * w), int(0.12 * h), 0.06 * h, (255, 255, 255))
        cv2.rectangle(frame, (int(0.86 * w), int(0.05 * h)), (int(0.96 * w), int(0.14 * h)), (255, 255, 255), -1)
    else:
        raise ValueError(f"unknown broadcast style {graphics.style!r}")
    return frame


def write_video(path: str | Path, shots: list[Shot], width: int = 320, height: int = 180, fps: int = 25,
                scale: float = 1.0, crf: int = 18, broadcast: Broadcast | None = None) -> Truth:
    """Encode ``shots`` to H.264 (yuv420p) at ``path``; returns the ground truth. ``width``/``height`` are the
    output size; ``scale`` (output size / scene size) renders the same scene at another resolution;
    ``broadcast``: graphics drawn over every frame, the same across the cuts (default none)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    truth = Truth(fps=float(fps))
    frames: list[np.ndarray] = []
    for index, shot in enumerate(shots):
        content = list(_shot_frames(shot, width, height, scale))
        content = [content[(i // shot.hold) * shot.hold] for i in range(len(content))]
        start = len(frames)
        if index > 0 and shot.transition_in > 0:
            n = shot.transition_in
            previous = frames[-1].astype(np.float32)
            # The transition replaces the first n frames of the new shot's content.
            for k in range(n):
                alpha = (k + 1) / (n + 1)
                if shot.transition == "wipe":
                    edge = int(round(alpha * width))
                    mixed = previous.astype(np.uint8).copy()
                    mixed[:, :edge] = content[k][:, :edge]
                    frames.append(mixed)
                elif shot.transition == "dissolve":
                    frames.append(np.clip((1 - alpha) * previous + alpha * content[k], 0, 255).astype(np.uint8))
                else:
                    raise ValueError(f"unknown transition {shot.transition!r}")
            truth.gradual.append((start, start + n - 1))
            frames.extend(content[n:])
            truth.shots.append((start + n, len(frames) - 1))
        else:
            if index > 0:
                truth.cuts.append(start)
            frames.extend(content)
            truth.shots.append((start, len(frames) - 1))
    truth.frames = len(frames)
    if broadcast is not None:
        frames = [draw_broadcast(frame, broadcast, i) for i, frame in enumerate(frames)]
    with H264Writer(str(path), width, height, fps, crf=crf) as writer:
        for image in frames:
            writer.write_array(image, "bgr24")
    return truth


def motion_truth(speed_px_per_frame: float, fps: float, short_side: int) -> float:
    """The true motion of a pan in the motion unit (px/s at a 256 px short side)."""
    return speed_px_per_frame * fps * 256.0 / short_side


def sample_corpus(directory: str | Path) -> dict[str, Truth]:
    """A small corpus for ``curate sample``: cuts, a dissolve, static and moving shots, text overlays."""
    directory = Path(directory)
    specs = {
        "cuts_and_motion.mp4": [Shot(75, seed=1), Shot(100, (1.0, 0.0), seed=2), Shot(90, (0.0, 0.5), seed=3),
                                Shot(80, (2.0, 1.0), seed=4)],
        "dissolve_static.mp4": [Shot(90, seed=5), Shot(110, (0.5, 0.0), seed=6, transition_in=20),
                                Shot(60, seed=7)],
        "text_overlay.mp4": [Shot(80, seed=8, text="SUBTITLE TEXT"), Shot(80, (1.0, 0.0), seed=9, text="HELLO")],
        "long_pan.mp4": [Shot(400, (0.8, 0.2), seed=10)],
    }
    return {name: write_video(directory / name, shots) for name, shots in specs.items()}


def demo_corpus(directory: str | Path) -> dict[str, Truth]:
    """The `curate demo` corpus: static and moving shots, hard cuts, a fade from black, a dissolve, text
    overlays, and a long pan (split into several clips), about 50 s in all."""
    directory = Path(directory)
    specs = {
        "cuts_and_motion.mp4": [Shot(75, seed=1), Shot(100, (1.0, 0.0), seed=2), Shot(90, (0.0, 0.5), seed=3),
                                Shot(80, (2.0, 1.0), seed=4)],
        "fade_from_black.mp4": [Shot(40, seed=BLACK), Shot(100, (0.3, 0.0), seed=11, transition_in=25),
                                Shot(90, (3.0, 0.0), seed=12)],
        "dissolve_static.mp4": [Shot(90, seed=5), Shot(110, (0.5, 0.0), seed=6, transition_in=20),
                                Shot(60, seed=7)],
        "text_overlay.mp4": [Shot(80, seed=8, text="SUBTITLE TEXT"), Shot(80, (1.0, 0.0), seed=9, text="HELLO"),
                             Shot(80, (0.6, 0.3), seed=13, text="BREAKING NEWS: BIG TEXT")],
        "long_pan.mp4": [Shot(400, (0.8, 0.2), seed=10)],
    }
    return {name: write_video(directory / name, shots) for name, shots in specs.items()}


def failure_family_specs(variant: int = 0) -> dict[str, list[Shot]]:
    """Shot lists for each failure family of cut detection, with exact truth once written. ``variant`` draws
    other seeds, framings, lengths and speeds from the same family (the tests use 0, 1 and a few of 10-19; 0, 1 and
    5-19 were looked at while building the detector, 2-4 and 20-29 are held out in
    ``benchmarks/bench_shots.py``).

    - ``grey_montage``: hard cuts between grey-scale shots of the same subject on the same grey backdrop;
    - ``dense_cuts``: a trailer-style run of 5-10-frame shots, some of them dark;
    - ``wipes``: wipe transitions (gradual);
    - ``flashes``: camera flashes and a strobe inside shots (no cut);
    - ``fast_pans``: fast motion-blurred pans (no cut inside them; one cut between two pans);
    - ``fades``: a fade to black, black frames, a fade in, a dissolve (gradual);
    - ``held_frames``: animation on threes and twos (every picture held 2-3 frames, so every change is an
      isolated jump), moving and still, with hard cuts between shots;
    - ``graphics_<overlay>``, one for each of ``GRAPHICS``: graphics and camera changes inside a shot
      (:attr:`Shot.overlay`: infographic maps recolouring, indicators switching, captions and lower thirds
      changing or sliding in, picture-in-picture and split screens cutting inside the frame, focus pulls,
      exposure jumps), none of them a cut, and one hard cut between two such shots.
    """
    rng = np.random.default_rng(1000 + variant)
    base = 100 * variant

    def n(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi + 1))

    montage = []
    for k in range(8):
        zoom = float(rng.uniform(0.8, 1.6))
        cx, cy = float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.3, 0.45))
        drift = (float(rng.uniform(-0.4, 0.4)), 0.0)
        montage.append(Shot(n(18, 40), drift, seed=base + k, subject=(zoom, cx, cy)))
    dense = [Shot(n(5, 10), (float(rng.uniform(-1, 1)), 0.0), seed=base + 20 + k,
                  brightness=0.35 if k % 3 == 2 else 1.0) for k in range(14)]
    dense = [Shot(30, seed=base + 19)] + dense + [Shot(30, seed=base + 40)]
    wipes = [Shot(n(40, 60), seed=base + 41), Shot(n(40, 60), (1.0, 0.0), seed=base + 42, transition_in=n(8, 14),
                                                   transition="wipe"),
             Shot(n(40, 60), seed=base + 43, transition_in=n(6, 10), transition="wipe")]
    flash_at = n(25, 35)
    strobe_at = n(60, 70)
    flashes = [Shot(110, (0.5, 0.0), seed=base + 44,
                    flashes=(flash_at, flash_at + 1, strobe_at, strobe_at + 2, strobe_at + 4, strobe_at + 6)),
               Shot(n(50, 70), seed=base + 45, flashes=(n(15, 40),))]
    pan = float(rng.uniform(18, 26))
    pans = [Shot(n(60, 80), (pan, pan / 8), seed=base + 46, blur=4),
            Shot(n(50, 70), (-pan * 1.5, 0.0), seed=base + 47, blur=4)]
    fade_out = n(12, 18)
    fades = [Shot(n(40, 60), (0.3, 0.0), seed=base + 48),
             Shot(fade_out + n(8, 12), seed=BLACK, transition_in=fade_out),
             Shot(n(50, 70), seed=base + 49, transition_in=n(15, 22)),
             Shot(n(40, 60), (0.5, 0.2), seed=base + 50, transition_in=n(12, 18))]
    held = [Shot(n(30, 45), (float(rng.uniform(1.5, 3)), 0.0), seed=base + 51, hold=3),
            Shot(n(30, 45), (0.0, float(rng.uniform(1, 2))), seed=base + 52, hold=2),
            Shot(n(30, 45), (float(rng.uniform(2, 4)), 1.0), seed=base + 53, hold=3),
            Shot(n(30, 45), seed=base + 54, hold=3, subject=(1.2, 0.5, 0.4))]
    families = {"grey_montage": montage, "dense_cuts": dense, "wipes": wipes, "flashes": flashes,
                "fast_pans": pans, "fades": fades, "held_frames": held}
    # Graphics and camera changes inside a shot (broadcast news, documentaries): two shots each, one hard cut
    # between them; the overlay changes 3-4 times in each shot, and the second shot of the same kind shows the
    # graphic changed across the cut too.
    for kind in GRAPHICS:
        shots = []
        for k in range(2):
            length = n(90, 120)
            first = n(10, 20)
            events = tuple(first + j * n(18, 26) for j in range(4) if first + j * 26 < length - 12)
            speed = (0.0, 0.0) if kind in ("focus", "exposure") else (float(rng.uniform(-0.6, 0.6)), 0.0)
            shots.append(Shot(length, speed, seed=base + 60 + 2 * GRAPHICS.index(kind) + k, overlay=kind,
                              events=events))
        families[f"graphics_{kind}"] = shots
    return families


# The overlays of the graphics families (Shot.overlay).
GRAPHICS = ("map", "counter", "captions", "slide", "pip", "split", "focus", "exposure")


@dataclass(frozen=True)
class BroadcastSpec:
    """A broadcast family's video: its shots, output size and graphics."""

    shots: list[Shot]
    width: int
    height: int
    graphics: Broadcast


def broadcast_family_specs(variant: int = 0) -> dict[str, BroadcastSpec]:
    """Hard cuts under a channel's graphics that stay on screen across them (:class:`Broadcast`), at broadcast
    resolutions, with exact truth once written: the graphics take much of the frame's texture where the shots
    are dark or flat, and change inside the shots (a ticker scrolling through every cut, a clock, subtitles and
    headlines changing away from the cuts, one during a pan). None of the graphics' changes is a cut.

    - ``broadcast_news``: dense news graphics (about 40 % of the frame) at 352 x 240 over textured, dark and
      grey-subject shots, some panning;
    - ``broadcast_dark``: the same graphics over dark and flat shots only (the graphics hold most of the
      texture);
    - ``broadcast_lower_third``: a logo and a name strap at 640 x 360, two dark shots joined by one of its cuts;
    - ``broadcast_score``: a score bug over fast, blurred pans at 640 x 360 (sport).
    """
    rng = np.random.default_rng(5000 + variant)
    base = 100 * variant + 7000

    def n(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi + 1))

    def subject(k: int, length: int) -> Shot:
        zoom = float(rng.uniform(0.8, 1.5))
        return Shot(length, (float(rng.uniform(-0.3, 0.3)), 0.0), seed=base + k,
                    subject=(zoom, float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.3, 0.45))))

    def pan(k: int, length: int, brightness: float = 1.0) -> Shot:
        return Shot(length, (float(rng.uniform(-1.5, 1.5)), float(rng.uniform(-0.3, 0.3))), seed=base + k,
                    brightness=brightness)

    def inside(shots: list[Shot], which: list[int]) -> tuple[int, ...]:
        """One frame in the middle third of each shot of ``which``: away from its cuts."""
        starts = np.cumsum([0] + [s.frames for s in shots])
        return tuple(int(starts[k] + n(s.frames // 3, 2 * s.frames // 3)) for k, s in
                     ((k, shots[k]) for k in which))

    news = [subject(1, n(35, 55)), pan(2, n(35, 55), brightness=0.3), pan(3, n(35, 55)), subject(4, n(35, 55)),
            Shot(n(35, 55), seed=base + 5, brightness=0.3), pan(6, n(35, 55))]
    dark = [Shot(n(35, 50), seed=base + 11, brightness=float(rng.uniform(0.2, 0.35))), subject(12, n(35, 50)),
            pan(13, n(35, 50), brightness=float(rng.uniform(0.2, 0.35))), subject(14, n(35, 50)),
            Shot(n(35, 50), seed=base + 15, brightness=float(rng.uniform(0.2, 0.35)))]
    lower = [pan(21, n(40, 60)), Shot(n(40, 60), seed=base + 22, brightness=0.3),
             pan(23, n(40, 60), brightness=0.3), subject(24, n(40, 60)), pan(25, n(40, 60))]
    speed = float(rng.uniform(6, 10))
    score = [Shot(n(40, 60), (speed, 0.5), seed=base + 31, blur=2), Shot(n(40, 60), (-speed, 0.0), seed=base + 32,
                                                                          blur=2),
             Shot(n(40, 60), (speed * 0.7, -0.5), seed=base + 33, blur=2), pan(34, n(40, 60))]
    seed = 3 * variant
    return {
        "broadcast_news": BroadcastSpec(news, 352, 240, Broadcast(
            "news", seed, float(rng.uniform(1.5, 3.0)), inside(news, [0, 3, 4]), inside(news, [2]))),
        "broadcast_dark": BroadcastSpec(dark, 352, 240, Broadcast(
            "news", seed + 1, float(rng.uniform(1.5, 3.0)), inside(dark, [1, 2]), inside(dark, [3]))),
        "broadcast_lower_third": BroadcastSpec(lower, 640, 360, Broadcast(
            "lower_third", seed + 2, headlines=inside(lower, [0, 4]))),
        "broadcast_score": BroadcastSpec(score, 640, 360, Broadcast("score", seed)),
    }


# The broadcast families (broadcast_family_specs).
BROADCAST = ("broadcast_news", "broadcast_dark", "broadcast_lower_third", "broadcast_score")


def failure_families(directory: str | Path, variant: int = 0) -> dict[str, Truth]:
    """Write every failure family of :func:`failure_family_specs` and :func:`broadcast_family_specs` to
    ``directory``; name -> truth."""
    directory = Path(directory)
    out = {name: write_video(directory / f"{name}.mp4", shots)
           for name, shots in failure_family_specs(variant).items()}
    for name, spec in broadcast_family_specs(variant).items():
        out[name] = write_video(directory / f"{name}.mp4", spec.shots, spec.width, spec.height,
                                broadcast=spec.graphics)
    return out


def tiny_shards(folder: str | Path, shards: int, per_shard: int) -> Path:
    """``shards`` WebDataset shards of ``per_shard`` one-shot clips each, written by our shard writer into
    ``folder`` (clip i: video v{i}, a 1.6-s pan of 0.25 * i px/frame, motion bucket 20 * i), with index.json and
    a fixed motion-bucket mapping: finetune input for the multi-process test and benchmark."""
    import json

    from curation.config import load_config
    from curation.curate.buckets import MotionBuckets
    from curation.curate.shards import write_shard

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = load_config(None, ["shard.short_side=64"]).shard
    index = []
    for s in range(shards):
        clips = []
        for i in range(s * per_shard, (s + 1) * per_shard):
            path = folder / "videos" / f"v{i}.mp4"
            write_video(path, [Shot(40, (0.25 * i, 0.0), seed=100 + i)])
            clips.append({"clip_id": f"v{i}-00000", "video_id": f"v{i}", "video_path": str(path), "start_s": 0.0,
                          "end_s": 1.6, "start_frame": 0, "end_frame": 39, "fps": 25.0, "caption": f"clip {i}",
                          "motion_bucket_id": 20 * i, "motion_mean": 10.0 * i})
        name = f"shard-{s:06d}.tar"
        write_shard(folder / name, clips, config)
        index.append({"name": name, "samples": per_shard})
    (folder / "index.json").write_text(json.dumps({"shards": index}))
    MotionBuckets.fixed("motion_mean").save(folder / "motion_buckets.json")
    return folder
