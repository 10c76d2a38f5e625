"""Shards: a letterboxed clip cropped to its content box (borders stage) when asked, and its metadata."""
import io
import json
import tarfile

import av
import numpy as np

from curation.config import load_config
from curation.curate.shards import write_shard
from curation.testing.synthetic import texture
from curation.video.encode import H264Writer


def _letterboxed(path, bar=44):
    scene = texture(4, 800, 360)
    with H264Writer(str(path), 640, 360, 25, crf=18) as writer:
        for k in range(40):
            f = scene[:, 2 * k:2 * k + 640].copy()
            f[:bar], f[360 - bar:] = 0, 0
            writer.write_array(f, "bgr24")


def _sample(tar_path):
    with tarfile.open(tar_path) as tar:
        meta = json.loads(tar.extractfile("v-00000.json").read())
        with av.open(io.BytesIO(tar.extractfile("v-00000.mp4").read())) as c:
            frame = next(c.decode(video=0)).to_ndarray(format="gray")
    return meta, frame


def test_a_clip_is_cropped_to_its_content_box_only_when_asked(tmp_path):
    _letterboxed(tmp_path / "v.mp4")
    row = {"clip_id": "v-00000", "video_id": "v", "video_path": str(tmp_path / "v.mp4"), "start_s": 0.0,
           "end_s": 1.6, "start_frame": 0, "end_frame": 39, "fps": 25.0, "content_x": 0, "content_y": 44,
           "content_width": 640, "content_height": 272, "border_share": 0.244}
    write_shard(tmp_path / "plain.tar", [row], load_config(None, []).shard)
    meta, frame = _sample(tmp_path / "plain.tar")
    assert frame.shape == (360, 640) and meta["content_box"] == [0, 44, 640, 272] and meta["cropped"] is False
    assert frame[:40].mean() < 25  # the bars are there

    write_shard(tmp_path / "crop.tar", [row], load_config(None, ["shard.crop_borders=true"]).shard)
    meta, frame = _sample(tmp_path / "crop.tar")
    assert frame.shape == (272, 640) and meta["cropped"] is True and (meta["width"], meta["height"]) == (640, 272)
    assert np.mean(frame[:4]) > 40 and np.mean(frame[-4:]) > 40  # picture to the edges: no bar left

    # A clip without bars (or without the borders stage) is never cropped.
    config = load_config(None, ["shard.crop_borders=true"]).shard
    write_shard(tmp_path / "none.tar", [{**row, "border_share": 0.0}], config)
    meta, frame = _sample(tmp_path / "none.tar")
    assert frame.shape == (360, 640) and meta["cropped"] is False
