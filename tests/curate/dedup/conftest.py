"""The annotated dedup corpus (:mod:`tests.curate.dedup.corpus`) through the real ``curate annotate`` scan (cuts,
motion, keyframes, in this process), shared by the tests of this folder."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from curation.annotate.job import run_annotate
from curation.annotate.store import read_annotations, read_keyframes
from curation.config import load_config
from tests.curate.dedup.corpus import write_corpus


@pytest.fixture(scope="session")
def annotated(tmp_path_factory):
    """(annotate output folder, video name of each clip row, the clip rows, the keyframe table)."""
    root = tmp_path_factory.mktemp("dedup")
    v = root / "videos"
    write_corpus(v)
    config = load_config(None, ["annotate.executor=local", "annotate.stages=[cuts,motion,keyframes]"])
    out = root / "annotated"
    run_annotate(sorted(str(p) for p in v.glob("*.mp4")), str(out), config, progress=False)
    table = read_annotations(str(out))
    table = table.filter(pa.array(np.asarray(table["clip_index"].is_valid())))
    names = [Path(p).stem for p in table["video_path"].to_pylist()]
    assert sorted(names) == sorted(p.stem for p in v.glob("*.mp4")), "one clip per video"
    return out, names, table, read_keyframes(str(out))
