"""Probe and streaming decode: synthetic truth and the real awkward files."""
import numpy as np
import pytest

from curation.video import VideoError, iter_frames, probe


def test_probe_synthetic(videos):
    path, truth = videos["cuts"]
    info = probe(path)
    assert (info.width, info.height, info.codec, info.rotation) == (320, 180, "h264", 0)
    assert info.fps == pytest.approx(25.0)
    assert info.frame_count == truth.frames


def test_decode_streams_every_frame_with_pts_times(videos):
    path, truth = videos["cuts"]
    times = [f.time_s for f in iter_frames(str(path))]
    assert len(times) == truth.frames
    assert np.allclose(np.diff(times), 1 / 25)


def test_segment_decode_partitions_frames(videos):
    path, truth = videos["cuts"]
    a = [f.time_s for f in iter_frames(str(path), end_s=4.0)]
    b = [f.time_s for f in iter_frames(str(path), start_s=4.0)]
    assert len(a) + len(b) == truth.frames and a[-1] < 4.0 <= b[0]


@pytest.mark.parametrize("content, kind", [(b"", "empty_file"), (b"hello, not a video" * 50, "not_a_video")])
def test_bad_files_raise_video_error(tmp_path, content, kind):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError) as exc:
        probe(path)
    assert exc.value.kind == kind


def test_vfr_goldeneye_timestamps(testdata):
    path = testdata / "shot_boundary" / "psd_goldeneye_vfr_drop3.mp4"
    times = np.array([f.time_s for f in iter_frames(str(path))])
    assert len(times) == 160
    steps = np.round(np.diff(times) * 24000).astype(int)
    assert set(steps) == {1001, 2002}  # true variable durations, not an average rate
    assert times[60] == pytest.approx(3.754, abs=0.01) and times[140] == pytest.approx(8.759, abs=0.01)


def test_rotated_phone_clip(testdata):
    path = testdata / "motion" / "moviepy_fire2_dog_vfr_rot180.mp4"
    info = probe(path)
    assert info.rotation == 180 and (info.width, info.height) == (1280, 720)
    frame = next(iter_frames(str(path)))
    raw = frame.frame.to_ndarray(format="gray").astype(float)
    shown = frame.gray(1280, 720).astype(float)
    assert np.corrcoef(shown.ravel(), raw[::-1, ::-1].ravel())[0, 1] > 0.99
    assert np.corrcoef(shown.ravel(), raw.ravel())[0, 1] < 0.9


def test_broken_cinepak_decodes_what_it_can(testdata):
    path = testdata / "motion" / "opencv_tree_cinepak_broken.avi"
    info = probe(path)
    assert info.frame_count == 444
    frames = list(iter_frames(str(path)))
    assert len(frames) == 68
    assert frames[0].bgr(64, 48).shape == (48, 64, 3)  # rgb24 source goes through swscale


def test_prefetched_decode_yields_the_same_frames_and_raises_where_the_decode_failed():
    from curation.video.decode import prefetched

    closed = []

    def source():
        try:
            yield from range(5)
            raise ValueError("broken packet")
        finally:
            closed.append(True)

    got = []
    with pytest.raises(ValueError, match="broken packet"):
        for item in prefetched(source(), 2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4] and closed == [True]
    # stopping early stops the thread and closes the source (its container)
    closed.clear()
    early = prefetched(source(), 2)
    assert next(early) == 0
    early.close()
    assert closed == [True]


@pytest.mark.parametrize("colorspace,color_range", [(2, 0), (1, 1), (1, 2), (9, 1), (5, 2)])
def test_keyframe_conversion_matches_swscale_in_colour(colorspace, color_range):
    """bgr_keyframe (planes, area average, our matrix) gives swscale's colours for every matrix and range a
    frame may be tagged with: flat patches of saturated and grey colours, compared away from their edges."""
    import av

    from curation.video.decode import DecodedFrame

    rng = np.random.default_rng(colorspace * 10 + color_range)
    y = np.repeat(np.repeat(rng.integers(16, 236, (4, 8), dtype=np.uint8), 60, 0), 80, 1)      # 240 x 640
    u = np.repeat(np.repeat(rng.integers(16, 241, (4, 8), dtype=np.uint8), 30, 0), 40, 1)      # 120 x 320
    v = np.repeat(np.repeat(rng.integers(16, 241, (4, 8), dtype=np.uint8), 30, 0), 40, 1)
    frame = av.VideoFrame.from_ndarray(np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(360, 640),
                                       format="yuv420p")
    frame.colorspace, frame.color_range = colorspace, color_range
    decoded = DecodedFrame(0.0, frame)
    fast, exact = decoded.bgr_keyframe(320, 120), decoded.bgr_exact(320, 120)
    # Patch centres only: the two filters differ at the patch edges, not in colour.
    centres = np.zeros((120, 320), bool)
    for r in range(4):
        for c in range(8):
            centres[r * 30 + 8:r * 30 + 22, c * 40 + 8:c * 40 + 32] = True
    diff = np.abs(fast.astype(int) - exact.astype(int))[centres]
    assert fast.shape == exact.shape == (120, 320, 3)
    assert diff.max() <= 3 and diff.mean() < 1.0, (colorspace, color_range, diff.max(), diff.mean())
