"""The guard between PyAV and our code: damaged or hostile headers give a VideoError with a kind, or checked facts;
timestamps that cannot be right are repaired and counted."""
import math

import av
import numpy as np
import pytest

from curation.testing.hostile import hostile_corpus
from curation.video import DecodeStats, VideoError, iter_frames, probe
from curation.video.decode import MAX_GAP_S
from curation.video.guard import MAX_PIXELS, pyav, rotation_clockwise


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return {path.name: path for path in hostile_corpus(tmp_path_factory.mktemp("hostile"))}


def test_a_stream_without_codec_context_is_damaged_not_a_crash(hostile):
    path = hostile["no_codec_context.mkv"]
    with av.open(str(path)) as container:  # the premise: PyAV leaves the attribute unset
        assert container.streams.video[0].codec_context is None
    with pytest.raises(VideoError) as info:
        probe(path)
    assert info.value.kind == "damaged_stream"
    with pytest.raises(VideoError) as info:
        next(iter_frames(str(path)))
    assert info.value.kind == "damaged_stream"


def test_a_declared_frame_size_past_the_limit_is_refused_before_decoding(hostile):
    with pytest.raises(VideoError) as info:
        probe(hostile["huge_frame_size.avi"])
    assert info.value.kind == "unsupported" and "16000x16000" in info.value.message
    assert 16000 * 16000 > MAX_PIXELS


def test_absurd_rates_and_durations_are_unknown_not_believed(hostile):
    assert probe(hostile["fps_1e9.mp4"]).fps == 0.0
    info = probe(hostile["hours_over_bytes.mkv"])
    assert info.duration_s == 0.0 and "implausible" in info.notes[0]
    assert probe(hostile["huge_frame_count.mp4"]).frame_count == 2**31 - 1  # informative only
    # A recording whose clock starts hours in lasts what it holds.
    assert probe(hostile["start_hours_late.mkv"]).duration_s == pytest.approx(4.8, abs=0.05)


@pytest.mark.parametrize("name, frames", [("fps_zero.mp4", 120), ("fps_1e9.mp4", 120),
                                          ("timestamps_backwards.ts", 120), ("timestamps_jump.mkv", 120)])
def test_broken_clocks_are_repaired_into_increasing_plausible_times(hostile, name, frames):
    stats = DecodeStats()
    times = np.array([f.time_s for f in iter_frames(str(hostile[name]), stats=stats)])
    assert len(times) == frames
    steps = np.diff(times)
    assert (steps > 0.0009).all() and (steps <= MAX_GAP_S).all(), steps
    assert stats.timestamp_repairs > 0
    assert times[-1] < 60  # seconds: not hours, not nanoseconds


def test_good_timestamps_are_left_alone(videos):
    stats = DecodeStats()
    times = [f.time_s for f in iter_frames(str(videos["cuts"][0]), stats=stats)]
    assert stats.timestamp_repairs == 0
    assert times == pytest.approx([i / 25 for i in range(len(times))], abs=1e-6)


def test_hundreds_of_streams_decode_the_video_one(hostile):
    path = hostile["many_streams.mkv"]
    with av.open(str(path)) as container:
        assert len(container.streams) == 300
    assert sum(1 for _ in iter_frames(str(path))) == 75


def test_the_pyav_guard_names_the_fault_and_keeps_our_errors():
    with pytest.raises(VideoError) as info:
        with pyav("the stream's codec context"):
            None.width  # what PyAV gives for an unset field  # noqa: B018
    assert info.value.kind == "damaged_stream" and "AttributeError" in info.value.message
    with pytest.raises(VideoError) as info:
        with pyav("seeking", kind="decode_error"):
            raise VideoError("timeout", "kept as it is")
    assert info.value.kind == "timeout"


class _Frame:
    def __init__(self, rotation):
        self.rotation = rotation


@pytest.mark.parametrize("angle, clockwise", [(0, 0), (-90, 90), (90, 270), (180, 180), (math.nan, 0),
                                              (math.inf, 0), (None, 0)])
def test_rotation_of_a_damaged_display_matrix_is_none(angle, clockwise):
    assert rotation_clockwise(_Frame(angle)) == clockwise


def test_a_frame_larger_than_the_header_said_stops_the_decode_with_what_came_before(hostile):
    path = hostile["frame_size_grows.ts"]
    assert probe(path).width == 128
    frames = []
    with pytest.raises(VideoError) as info:
        for frame in iter_frames(str(path)):
            frame.gray(64, 36)
            frames.append(frame.time_s)
    assert info.value.kind == "unsupported" and "8200x8200" in info.value.message and len(frames) == 60
