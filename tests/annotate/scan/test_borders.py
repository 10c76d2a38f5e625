"""Letterbox and pillarbox bars through the real scan, on videos with bars of known size, and on pictures whose
dark or flat parts are not bars."""
from pathlib import Path

import pytest

from curation.testing.scan import clip_rows
from curation.testing.synthetic import texture
from curation.video import probe
from curation.video.encode import H264Writer

TESTDATA = Path(__file__).resolve().parents[4] / "shared" / "testdata"


def _video(path, top=0, bottom=0, left=0, right=0, level=0, width=640, height=360, frames=60, dark_moment=False):
    scene = texture(9, width + 2 * frames, height)
    with H264Writer(str(path), width, height, 25, crf=16) as writer:
        for k in range(frames):
            f = scene[:, 2 * k:2 * k + width].copy()
            if dark_moment and k < frames // 2:
                f[: height // 3] = 8  # the top third goes dark for a while: not a bar
            f[:top], f[height - bottom:], f[:, :left], f[:, width - right:] = level, level, level, level
            writer.write_array(f, "bgr24")
    return path


def _clip(path):
    clips = clip_rows(path, "cuts,borders")
    assert len(clips) == 1
    return clips[0]


@pytest.mark.parametrize("bars", [dict(top=44, bottom=44), dict(left=80, right=80), dict(top=30, bottom=30, level=60),
                                  dict(left=120, right=0, level=128), dict()])
def test_bars_of_known_size_give_the_content_box(tmp_path, bars):
    row = _clip(_video(tmp_path / "v.mp4", **bars))
    top, bottom, left, right = (bars.get(k, 0) for k in ("top", "bottom", "left", "right"))
    # Within 3 px of the truth at 640x360 (the box is found at a 256 px short side: 1.4 px a line).
    assert abs(row["content_x"] - left) <= 3 and abs(row["content_y"] - top) <= 3, row
    assert abs(row["content_width"] - (640 - left - right)) <= 4
    assert abs(row["content_height"] - (360 - top - bottom)) <= 4
    expected = 1 - (640 - left - right) * (360 - top - bottom) / (640 * 360)
    assert row["border_share"] == pytest.approx(expected, abs=0.02)


def test_a_dark_moment_of_the_picture_is_not_a_bar(tmp_path):
    row = _clip(_video(tmp_path / "v.mp4", dark_moment=True))
    assert row["content_y"] == 0 and row["content_height"] == 360 and row["border_share"] == 0


@pytest.mark.skipif(not TESTDATA.is_dir(), reason="../shared/testdata is absent")
def test_the_pillarboxed_real_file_has_side_bars():
    row = _clip(TESTDATA / "motion" / "moviepy_chaplin_static_bw.mp4")
    info = probe(TESTDATA / "motion" / "moviepy_chaplin_static_bw.mp4")
    assert row["content_x"] > 0.05 * info.width and row["content_width"] < 0.9 * info.width
    assert row["content_y"] == 0 and row["content_height"] == info.height
