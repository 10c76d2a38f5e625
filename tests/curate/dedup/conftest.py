"""The annotated dedup corpora (:mod:`tests.curate.dedup.corpus`) through the real ``curate annotate`` scan (cuts,
motion, keyframes, in this process), shared by the tests of this folder."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from curation.annotate.job import AnnotateJob, run_annotate
from curation.annotate.store import read_annotations, read_keyframes
from curation.config import load_config
from tests.curate.dedup.corpus import write_corpus, write_framings


def annotate_corpus(root: Path, write) -> tuple:
    """(annotate output folder, video name of each clip row, the clip rows, the keyframe table) of the corpus
    ``write`` puts into ``root / "videos"``."""
    v = root / "videos"
    write(v)
    config = load_config(None, ["annotate.executor=local", "annotate.stages=[cuts,motion,keyframes]"])
    out = root / "annotated"
    run_annotate(sorted(str(p) for p in v.glob("*.mp4")), str(out), AnnotateJob.of(config), progress=False)
    table = read_annotations(str(out))
    table = table.filter(pa.array(np.asarray(table["clip_index"].is_valid())))
    names = [Path(p).stem for p in table["video_path"].to_pylist()]
    assert sorted(names) == sorted(p.stem for p in v.glob("*.mp4")), "one clip per video"
    return out, names, table, read_keyframes(str(out))


@pytest.fixture(scope="session")
def annotated(tmp_path_factory):
    """The base corpus annotated (:func:`annotate_corpus`)."""
    return annotate_corpus(tmp_path_factory.mktemp("dedup"), write_corpus)


@pytest.fixture(scope="session")
def annotated_framings(tmp_path_factory):
    """The framings corpus annotated: cropped, letterboxed and pillarboxed copies (:func:`annotate_corpus`)."""
    return annotate_corpus(tmp_path_factory.mktemp("framings"), write_framings)
