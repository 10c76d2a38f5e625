"""Preview videos beside the report: cut from the source with the clip's start/end, small H.264 that plays
(decoded back with PyAV: the right number of frames); a clip whose source cannot be read gets none."""
import av
import pytest

from curation.curate.report.aggregate import ClipRef
from curation.curate.report.previews import file_name, files_folder, write_previews
from curation.testing.synthetic import Shot, write_video


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "pan.mp4"
    write_video(path, [Shot(100, (1.0, 0.0), seed=5)], width=320, height=180, fps=25)
    return path


def test_preview_plays_with_the_clip_frames(source, tmp_path):
    report = tmp_path / "report.html"
    stale = tmp_path / "report_files" / "gone-00001.mp4"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    clips = [ClipRef("v-00000", str(source), 0, 1.0, 3.0, 25.0),
             ClipRef("v-00001", str(source), 1, 0.0, 4.0, 25.0),
             ClipRef("v-00000", str(source), 0, 1.0, 3.0, 25.0),  # shown twice, written once
             ClipRef("lost-00000", str(tmp_path / "missing.mp4"), 0, 0.0, 2.0, 25.0),
             ClipRef("odd id/1", str(source), 2, 2.0, 2.4, 25.0)]
    links, failed = write_previews(str(report), clips, max_s=3.0)
    assert files_folder(str(report)) == str(tmp_path / "report_files")
    assert links == {"v-00000": "report_files/v-00000.mp4", "v-00001": "report_files/v-00001.mp4",
                     "odd id/1": f"report_files/{file_name('odd id/1')}"}
    assert set(failed) == {"lost-00000"} and not stale.exists()
    assert "/" not in file_name("odd id/1") and file_name("a-1") == "a-1.mp4"
    # 2 s and (capped at 3 s) 3 s of a 25 fps source, 0.4 s; short side 180
    for clip_id, frames in (("v-00000", 50), ("v-00001", 75), ("odd id/1", 10)):
        with av.open(str(tmp_path / links[clip_id])) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            decoded = [f for f in container.decode(video=0)]
        assert len(decoded) == frames
        assert (decoded[0].width, decoded[0].height) == (320, 180)
