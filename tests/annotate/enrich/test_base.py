"""Per-clip failures are data: a model error on a batch costs only the clips it really fails on, and a bug met by
one clip's input is that clip's internal error, not the job's end."""
from curation.annotate.enrich.base import InternalFailure, run_guarded


def test_a_model_error_on_one_item_does_not_drop_the_batch():
    calls = []

    def model(items):
        calls.append(len(items))
        if "poison" in items:
            raise RuntimeError("CUDA error: an illegal value")
        return [{"value": item.upper()} for item in items]

    out = run_guarded(model, ["a", "poison", "c"])
    assert out[0] == {"value": "A"} and out[2] == {"value": "C"}
    assert out[1] == "RuntimeError: CUDA error: an illegal value"
    assert calls == [3, 1, 1, 1]


def test_a_bug_met_by_one_item_is_that_items_internal_error():
    def model(items):
        if "odd" in items:
            raise TypeError("a bug this input meets")
        return [{"value": item.upper()} for item in items]

    out = run_guarded(model, ["a", "odd", "c"], ["clip a", "clip odd in stage x", "clip c"])
    assert out[0] == {"value": "A"} and out[2] == {"value": "C"}
    assert isinstance(out[1], InternalFailure)
    assert str(out[1]) == "internal_error: TypeError: a bug this input meets"
    # its report, for the job's log, names what was being handled and holds the traceback
    assert "clip odd in stage x" in out[1].report and "Traceback" in out[1].report and "a bug this input meets" in out[1].report


def test_a_bug_met_by_every_item_fails_each_one_alone():
    calls = []

    def broken(items):
        calls.append(len(items))
        raise AttributeError("a bug")

    out = run_guarded(broken, ["a", "b"])
    assert [type(o) for o in out] == [InternalFailure, InternalFailure]
    assert calls == [2, 1, 1]
