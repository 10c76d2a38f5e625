"""The in-process runner: the same stage classes, batched as declared, closed at the end; and the same table as
on Ray."""
import pyarrow as pa
import pytest

from curation.runtime.stage import StageResources
from curation.runtime.local_runner import run_local
from curation.runtime.ray_runner import StageSpec

CLOSED = []


class AddOne:
    batch_format = "pyarrow"

    def __init__(self, column):
        self.column, self.sizes = column, []

    def __call__(self, batch: pa.Table) -> pa.Table:
        CLOSED.append(("call", self.column, batch.num_rows))
        return batch.append_column(self.column, pa.array([1] * batch.num_rows))

    def close(self):
        CLOSED.append(("close", self.column, 0))


def test_stages_run_in_order_with_their_batch_sizes_and_are_closed():
    CLOSED.clear()
    stages = [StageSpec("a", AddOne, {"column": "a"}, StageResources(batch_size=2)),
              StageSpec("b", AddOne, {"column": "b"}, StageResources(), batch_size=3)]
    rows = list(run_local([{"x": i} for i in range(5)], stages))
    assert [r["x"] for r in rows] == [0, 1, 2, 3, 4] and all(r["a"] == r["b"] == 1 for r in rows)
    calls = [(c, n) for kind, c, n in CLOSED if kind == "call"]
    assert [n for c, n in calls if c == "a"] == [2, 2, 1] and [n for c, n in calls if c == "b"] == [3, 2]
    assert [c for kind, c, _ in CLOSED if kind == "close"] == ["a", "b"]


@pytest.mark.slow
def test_a_one_video_job_gives_the_same_table_in_process_and_on_ray(tmp_path):
    from curation.annotate.store import read_annotations
    from curation.testing.synthetic import Shot, write_video
    from tests.e2e.test_annotate import curate

    video = tmp_path / "v.mp4"
    write_video(video, [Shot(40, seed=1), Shot(50, (1.0, 0.0), seed=2), Shot(45, seed=3)])
    tables = {}
    for executor in ("local", "ray"):
        out = tmp_path / executor
        run = curate("--log-level", "INFO", "annotate", video, "--output", out, "-q", "--stages",
                     "cuts,motion,keyframes", "--set", f"annotate.executor={executor}")
        assert run.returncode == 0, run.stderr
        assert ("running in this process" in run.stderr) == (executor == "local")
        tables[executor] = read_annotations(str(out)).sort_by("start_frame")
    assert tables["local"].num_rows >= 3 and tables["local"].equals(tables["ray"])
