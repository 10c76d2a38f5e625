import time

import pytest

from curation.isolation import IsolatedWorker, WorkerCrashed
from curation.video import VideoError


def _sleep(seconds):
    time.sleep(seconds)
    return seconds


def _fail():
    raise KeyError("bug")


def test_hung_call_is_killed_at_the_limit_and_worker_recovers():
    worker = IsolatedWorker()
    try:
        started = time.monotonic()
        with pytest.raises(VideoError) as exc:
            worker.call(_sleep, (60,), timeout_s=2)
        assert exc.value.kind == "timeout"
        assert time.monotonic() - started < 30
        assert worker.call(_sleep, (0,), timeout_s=30) == 0
        with pytest.raises(WorkerCrashed, match="KeyError"):
            worker.call(_fail, (), timeout_s=30)
    finally:
        worker.close()
