import os
import sys
import time

import pytest

from curation.core.isolation import IsolatedWorker, WorkerCrashed
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


_WARM = {}


def _warm(seconds):
    time.sleep(seconds)
    _WARM["pid"] = os.getpid()


def _warm_fail():
    raise RuntimeError("no model here")


def _state():
    return _WARM.get("pid"), os.getpid(), getattr(sys.modules["__main__"], "__file__", None), "ray" in sys.modules


def _die():
    os._exit(3)


def test_one_child_serves_every_call_and_a_hung_one_is_replaced():
    worker = IsolatedWorker(warmup=(_warm, (0,)))
    try:
        worker.start()
        warmed, pid, main_file, ray = worker.call(_state, (), timeout_s=30)
        assert warmed == pid and main_file is None and not ray  # warmed up; the parent's __main__ is not re-run
        assert worker.call(_state, (), timeout_s=30)[1] == pid  # the same child for the next call
        with pytest.raises(VideoError) as exc:
            worker.call(_sleep, (60,), timeout_s=1)  # hangs in the reused child: killed at the limit
        assert exc.value.kind == "timeout"
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        warmed, new_pid, _, _ = worker.call(_state, (), timeout_s=30)  # the next unit still runs
        assert new_pid != pid and warmed == new_pid and worker.starts == 2
        with pytest.raises(VideoError) as exc:
            worker.call(_die, (), timeout_s=30)
        assert exc.value.kind == "worker_crashed"
        assert worker.call(_sleep, (0,), timeout_s=30) == 0
    finally:
        worker.close()


def test_warmup_does_not_count_against_the_time_limit_and_its_failure_is_reported():
    worker = IsolatedWorker(warmup=(_warm, (2,)))
    try:
        assert worker.call(_sleep, (0,), timeout_s=1) == 0
    finally:
        worker.close()
    worker = IsolatedWorker(warmup=(_warm_fail, ()))
    try:
        with pytest.raises(WorkerCrashed, match="no model here"):
            worker.call(_sleep, (0,), timeout_s=30)
    finally:
        worker.close()


def _ask(service, value):
    from curation.core.isolation import ask_parent, in_child

    assert in_child()
    try:
        return ask_parent(service, (value,)), os.getpid()
    except VideoError as exc:
        return f"{exc.kind}: {exc.message}", os.getpid()


def _refuse(value):
    raise VideoError("bad_input", f"no {value}")


def test_a_call_asks_the_parent_for_a_service_and_gets_its_answer_or_its_video_error():
    from curation.core.isolation import in_child

    served = []

    def double(value):
        served.append(os.getpid())
        return 2 * value

    worker = IsolatedWorker(services={"double": double, "refuse": _refuse})
    try:
        value, child = worker.call(_ask, ("double", 21), timeout_s=30)
        assert value == 42 and served == [os.getpid()] and child != os.getpid()
        assert worker.call(_ask, ("refuse", 7), timeout_s=30)[0] == "bad_input: no 7"
        assert worker.call(_sleep, (0,), timeout_s=30) == 0  # the child still answers calls
        assert not in_child()
    finally:
        worker.close()


def _ask_plain(service, value):
    from curation.core.isolation import ask_parent

    return ask_parent(service, (value,))


def test_an_exception_in_a_call_is_call_failed_with_its_type_message_and_traceback():
    from curation.core.isolation import CallFailed

    worker = IsolatedWorker()
    try:
        with pytest.raises(CallFailed) as info:
            worker.call(_fail, (), timeout_s=30)
        assert info.value.exc_type == "KeyError" and info.value.message == "'bug'"
        assert "Traceback" in info.value.child_traceback and "_fail" in info.value.child_traceback
        assert worker.call(_sleep, (0,), timeout_s=30) == 0 and worker.starts == 1
    finally:
        worker.close()


def test_a_service_that_raises_fails_the_call_not_the_worker():
    from curation.core.isolation import CallFailed

    def broken(value):
        raise ZeroDivisionError(f"in the parent, on {value}")

    worker = IsolatedWorker(services={"broken": broken})
    try:
        with pytest.raises(CallFailed) as info:
            worker.call(_ask_plain, ("broken", 3), timeout_s=30)
        # The child's call raised ServiceFailed, naming the parent's exception and its traceback.
        assert info.value.exc_type == "ServiceFailed" and "ZeroDivisionError: in the parent, on 3" in info.value.message
        assert worker.call(_sleep, (0,), timeout_s=30) == 0 and worker.starts == 1  # no stale answer left
    finally:
        worker.close()


def test_a_service_that_cannot_start_raises_here_and_the_child_is_replaced():
    def not_started(value):
        raise WorkerCrashed("the service's process did not start")

    worker = IsolatedWorker(services={"gone": not_started})
    try:
        with pytest.raises(WorkerCrashed, match="did not start"):
            worker.call(_ask_plain, ("gone", 1), timeout_s=30)
        assert worker.call(_sleep, (0,), timeout_s=30) == 0 and worker.starts == 2
    finally:
        worker.close()


def _oom_score_adj():
    with open("/proc/self/oom_score_adj") as f:
        return int(f.read()), os.getpid()


@pytest.mark.skipif(not os.path.exists("/proc/self/oom_score_adj"), reason="Linux only")
def test_the_child_is_the_first_the_out_of_memory_killer_takes():
    worker = IsolatedWorker()
    try:
        score, pid = worker.call(_oom_score_adj, (), timeout_s=30)
        assert score == 1000 and pid != os.getpid()
        assert _oom_score_adj()[0] < 1000  # not this process
    finally:
        worker.close()
