"""The report in a real headless browser (Chromium from Debian; skipped where it is absent): the page renders
(a screenshot that is not blank), its thumbnails link to previews beside it, and a preview opened in the page
plays (the <video> reaches ``playing`` with the preview's size). Also: the folder is self-contained (every
link points inside it) and a preview decodes with PyAV to the clip's frames."""
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import av
import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.config import load_config
from curation.core.layout import KEYFRAMES
from curation.curate.filter_job import FilterJob, run_filter
from curation.curate.report.aggregate import DUPLICATE_PREFIX
from curation.curate.report_job import ReportJob, run_report
from curation.contract.schema import KEYFRAME_SCHEMA
from curation.testing.synthetic import Shot, write_video
from curation.testing.tables import synthetic_annotations

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(*args, timeout=120):
    if CHROMIUM is None:
        pytest.skip("chromium is absent (apt-get install -y chromium)")
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--mute-audio", "--autoplay-policy=no-user-gesture-required", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A report over a generated table whose clips are cut from one real video, with a keyframe per clip
    (one clip has no keyframe, one a source that cannot be read)."""
    root = tmp_path_factory.mktemp("browser")
    video = root / "source.mp4"
    write_video(video, [Shot(60, (1.5, 0.0), seed=1), Shot(60, (0.0, 1.0), seed=2)], width=320, height=180, fps=25)
    synthetic_annotations(root / "ann", 480, rows_per_part=160, seed=2)
    out = root / "filtered"
    run_filter(str(root / "ann"), str(out), FilterJob.of(load_config(None, [])))
    table = pq.read_table(out / "clips.parquet")
    n = table.num_rows
    start = (np.arange(n) % 4) * 0.8
    paths = [str(video)] * n
    gone = int(np.nanargmin(table["aesthetic"].to_numpy(zero_copy_only=False)))  # shown: lowest aesthetic
    paths[gone] = str(root / "gone.mp4")
    # two duplicate groups, as curate filter's dedup step marks them
    reasons, keep = table["drop_reasons"].to_pylist(), table["keep"].to_pylist()
    clip_rows = [i for i, c in enumerate(table["clip_id"].to_pylist()) if c is not None]
    for keeper, copies in ((clip_rows[10], clip_rows[40:43]), (clip_rows[11], clip_rows[60:62])):
        for i in copies:
            reasons[i], keep[i] = [*reasons[i], f"{DUPLICATE_PREFIX}{table['clip_id'][keeper].as_py()}"], False
    for name, values in (("video_path", pa.array(paths)), ("start_s", pa.array(start)),
                         ("end_s", pa.array(start + 1.2)), ("fps", pa.array(np.full(n, 25.0))),
                         ("drop_reasons", pa.array(reasons)), ("keep", pa.array(keep))):
        table = table.set_column(table.schema.get_field_index(name), name, values.cast(table.schema.field(name).type))
    pq.write_table(table, out / "clips.parquet", row_group_size=160)
    df = table.to_pandas()
    valid = df[df.clip_id.notna() & df.error.isna()]
    still = valid.clip_id[valid.motion_mean.idxmax()]  # shown (highest motion_mean), given no keyframe
    rows = []
    for k, clip_id in enumerate(c for c in valid.clip_id if c != still):
        image = np.full((180, 320, 3), (40 + 37 * k % 200, 90, 160 + 23 * k % 90), np.uint8)
        cv2.putText(image, clip_id[-5:], (20, 110), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (255, 255, 255), 4)
        rows.append({"clip_id": clip_id, "video_id": clip_id.split("-")[0], "position": "middle", "frame": 0,
                     "time_s": 0.0, "width": 320, "height": 180,
                     "jpeg": cv2.imencode(".jpg", image)[1].tobytes()})
    pq.write_table(pa.Table.from_pylist(rows, schema=KEYFRAME_SCHEMA), root / "ann" / KEYFRAMES / "part-000000.parquet")
    page = run_report(str(out), None, ReportJob.of(load_config(None, ["report.thumbnails=3"])))
    return out, table["clip_id"][gone].as_py()


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.images = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and "data-video" in attrs:
            self.links.append(attrs)
        if tag in ("img", "video", "script", "link") and attrs.get("src", "").startswith(("http", "//")):
            self.images.append(attrs["src"])


def test_report_folder_is_self_contained_and_previews_decode(report):
    out, gone = report
    html = (out / "report.html").read_text()
    parser = _Links()
    parser.feed(html)
    assert not parser.images  # nothing fetched from the network
    assert len(parser.links) >= 6
    files = {p.name for p in (out / "report_files").iterdir()}
    for link in parser.links:
        assert link["href"] == link["data-video"] and link["href"].startswith("report_files/")
        assert link["href"].split("/", 1)[1] in files
    assert len(files) == len({link["data-clip"] for link in parser.links}) + html.count("<video ")
    # the clip without a keyframe plays in place; the clip whose source is gone keeps its still thumbnail
    assert html.count("<video ") >= 1 and "(no keyframe)" not in html
    assert f'alt="{gone}"' in html and f'data-clip="{gone}"' not in html
    with av.open(str(out / parser.links[0]["href"])) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 30 and (frames[0].width, frames[0].height) == (320, 180)  # 1.2 s at 25 fps
    assert "Other cuts, without rerunning the filter" in html and "every percentile rule at 25 %" in html
    groups = html.split("<h2>Duplicate groups</h2>")[1]
    assert "5 clips dropped as duplicates" in groups and groups.count('class="group"') == 2
    assert groups.count('class="play"') == 7  # each kept clip and its duplicates play


def test_page_renders_in_chromium(report, tmp_path):
    out, _ = report
    shot = tmp_path / "report.png"
    run = _chromium(f"--screenshot={shot}", "--window-size=1280,2000", f"file://{out / 'report.html'}")
    assert shot.is_file(), run.stderr[-2000:]
    image = cv2.imread(str(shot))
    assert image.shape[:2] == (2000, 1280)
    assert image.std() > 20  # plots and text, not a blank page
    keep = os.environ.get("REPORT_SCREENSHOT")  # where to keep the screenshot for a person to look at
    if keep:
        shutil.copy(shot, keep)


def test_preview_plays_in_chromium(report):
    out, _ = report
    html = (out / "report.html").read_text()
    clip = re.search(r'data-clip="([^"]+)"', html).group(1)
    for _ in range(3):  # a loaded machine can use up the virtual time before the video starts: try again
        run = _chromium("--virtual-time-budget=20000", "--dump-dom", f"file://{out / 'report.html'}#play={clip}")
        tags = [t for t in re.findall(r"<video[^>]*>", run.stdout) if f'data-clip="{clip}"' in t]
        assert tags, run.stderr[-2000:]  # the click handler swapped the thumbnail for a <video>
        if "data-state=" in tags[0]:
            break
    assert 'data-state="playing"' in tags[0] and 'data-size="320x180"' in tags[0], tags[0][:300]


def test_previews_off_leave_still_thumbnails(report, tmp_path):
    out, _ = report
    page = run_report(str(out), str(tmp_path / "plain.html"), ReportJob.of(load_config(None, ["report.previews=false"])))
    html = (tmp_path / "plain.html").read_text()
    assert page == str(tmp_path / "plain.html") and 'class="play"' not in html and "data:image/jpeg" in html
    assert not (tmp_path / "plain_files").exists()
