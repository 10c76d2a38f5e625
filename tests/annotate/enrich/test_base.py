"""Per-clip failures are data: a model error on a batch costs only the clips it really fails on."""
import pytest

from curation.annotate.enrich.base import run_guarded


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


def test_programming_errors_are_not_swallowed():
    def broken(items):
        raise TypeError("a bug")

    with pytest.raises(TypeError):
        run_guarded(broken, ["a", "b"])
