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


def test_parallel_copies_run_at_once_and_a_stopped_consumer_does_not_wait_for_running_calls():
    """``workers`` copies of the first stage run in threads at the same time; when the consumer stops reading,
    run_local returns at once and closes every copy (which is what ends a scan child's work), without waiting
    for the calls still running."""
    import threading
    import time

    import pyarrow as pa

    class Slow:
        batch_format = "pyarrow"
        running = 0
        most = 0
        closed = 0
        lock = threading.Lock()

        def __init__(self):
            self.stop = threading.Event()

        def __call__(self, batch):
            with Slow.lock:
                Slow.running += 1
                Slow.most = max(Slow.most, Slow.running)
            # The first items are quick; later ones block until the copy is closed (a long video).
            self.stop.wait(0.3 if batch["x"][0].as_py() < 4 else 60)
            with Slow.lock:
                Slow.running -= 1
            return batch

        def close(self):
            Slow.closed += 1
            self.stop.set()

    rows = run_local([{"x": i} for i in range(12)], [StageSpec("slow", Slow, {}, StageResources())], workers=3)
    started = time.monotonic()
    seen = [next(rows)["x"] for _ in range(4)]
    assert sorted(seen) == [0, 1, 2, 3] and Slow.most == 3  # three copies ran at once
    rows.close()  # the consumer stops: copies 4.. are blocked in their 60-s calls
    assert time.monotonic() - started < 10 and Slow.closed == 3
