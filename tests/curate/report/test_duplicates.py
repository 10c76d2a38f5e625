"""The report's duplicate groups on a real ``curate filter`` dedup run (the annotated copies corpus of
tests/curate/dedup): each group shows the clip it keeps and its duplicates, with their keyframes and previews."""
import re

import pyarrow.parquet as pq

from curation.config import load_config
from curation.curate.filter_job import FilterJob, run_filter
from curation.curate.report_job import ReportJob, run_report
from tests.curate.dedup.conftest import annotated  # noqa: F401  (the fixture: the corpus through annotate)
from tests.curate.dedup.corpus import COPIES

RULES = ["filter.rules=[{column: motion_mean, min: 0}]", "filter.min_duration_s=1", "dedup.enabled=true",
         "dedup.keep=longest"]


def test_report_shows_the_duplicate_groups(annotated, tmp_path):  # noqa: F811
    source = annotated[0]
    run_filter(str(source), str(tmp_path / "f"), FilterJob.of(load_config(None, RULES)))
    page = run_report(str(tmp_path / "f"), None, ReportJob.of(load_config(None, [])))
    html = open(page).read()
    clips = pq.read_table(tmp_path / "f" / "clips.parquet").to_pandas()
    section = html.split("<h2>Duplicate groups</h2>")[1]
    assert f"{len(COPIES)} clips dropped as duplicates of a kept clip in 2 groups" in section
    groups = section.split('<div class="group">')[1:]
    assert len(groups) == 2
    for group in groups:
        shown = re.findall(r'<img src="data:image/jpeg;base64,[^"]+" alt="([^"]+)"', group)
        keeper, members = shown[0], shown[1:]
        assert set(clips.duplicate_of[clips.clip_id.isin(members)]) == {keeper}
        assert clips.keep[clips.clip_id == keeper].item()
        assert group.count('class="play"') == len(shown)  # every one plays
    assert sorted(len(g.split("<figure>")) - 2 for g in groups) == [1, 4]  # grey: 1 copy; pan: 4
