"""`curate demo`: the whole chain offline (annotate -> filter -> report -> shard), and what each step wrote."""
import base64
import io
import json
from html.parser import HTMLParser

import av
import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds

from tests.e2e.test_annotate import curate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    run = curate("demo", "--output", out, "-q")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == f"report: {out / 'filtered' / 'report.html'}"
    return out


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.text = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


def test_report_parses_and_holds_every_plot_it_promises(demo):
    page = (demo / "filtered" / "report.html").read_text()
    parser = _Images()
    parser.feed(page)
    alts = {img["alt"] for img in parser.images}
    clips = pq.read_table(demo / "filtered" / "clips.parquet").to_pandas()
    thresholds = json.loads((demo / "filtered" / "thresholds.json").read_text())["thresholds"]
    promised = {"funnel", "overlap", "motion_buckets", "duration", "resolution"}
    promised |= {f"hist:{t['column']}" for t in thresholds if t["column"] not in ("duration_s", "short_side")}
    assert promised <= alts, promised - alts
    for img in parser.images:  # every image is inline and decodes
        header, data = img["src"].split(",", 1)
        assert header in ("data:image/png;base64", "data:image/jpeg;base64")
        assert cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR) is not None
    thumbnails = [img for img in parser.images if img["src"].startswith("data:image/jpeg")]
    assert len(thumbnails) >= 6
    text = " ".join(parser.text)
    assert "Random weights" in text and f"{int(clips.keep.sum())} kept" in text.replace(",", "")
    for reason in {r for rs in clips[clips.row_kind == "clip"].drop_reasons for r in rs}:
        assert reason in text
    # the demo's fade from black and short pieces: footage that never became a clip is counted
    lost = clips[clips.row_kind.isin(["skipped_shot", "transition"])]
    assert len(lost) > 0 and "Footage that never became a clip" in text
    assert "gradual transitions" in text


def test_shards_round_trip_through_webdataset(demo):
    index = json.loads((demo / "shards" / "index.json").read_text())
    clips = pq.read_table(demo / "filtered" / "clips.parquet").to_pandas().set_index("clip_id")
    kept = clips[clips.keep]
    assert index["samples"] == len(kept) > 0 and not index["failed"]
    urls = [str(demo / "shards" / s["name"]) for s in index["shards"]]
    seen = set()
    for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
        meta = json.loads(sample["json"])
        row = kept.loc[sample["__key__"]]
        assert meta["caption"] == row.caption and meta["motion_bucket_id"] == row.motion_bucket_id
        assert meta["scores"]["motion_mean"] == pytest.approx(row.motion_mean)
        assert set(meta["random_weights"]) == {"aesthetic", "caption"}
        with av.open(io.BytesIO(sample["mp4"])) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(frames) == meta["num_frames"] == row.num_frames
        assert frames[0].shape == (meta["height"], meta["width"], 3)
        assert cv2.imdecode(np.frombuffer(sample["jpg"], np.uint8), cv2.IMREAD_COLOR) is not None
        seen.add(sample["__key__"])
    assert seen == set(kept.index)


def test_saved_thresholds_reapply_the_same_cut_and_shards_resume(demo, tmp_path):
    run = curate("filter", demo / "annotated", "--output", tmp_path / "again", "--thresholds",
                 demo / "filtered" / "thresholds.json")
    assert run.returncode == 0, run.stderr
    before = pq.read_table(demo / "filtered" / "clips.parquet").to_pandas()
    after = pq.read_table(tmp_path / "again" / "clips.parquet").to_pandas()
    assert list(after.keep) == list(before.keep)
    assert list(after.motion_bucket_id.fillna(-1)) == list(before.motion_bucket_id.fillna(-1))
    shards = {p.name: p.read_bytes() for p in (demo / "shards").glob("shard-*.tar")}
    run = curate("shard", demo / "filtered", "--output", demo / "shards", "-q")
    assert run.returncode == 0, run.stderr
    assert {p.name: p.read_bytes() for p in (demo / "shards").glob("shard-*.tar")} == shards
