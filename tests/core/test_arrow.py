"""skip_pandas_probe: pyarrow converts Python sequences without importing pandas, and still imports it when its
pandas APIs are called. Each check runs in a fresh interpreter (pandas, once imported, stays)."""
import subprocess
import sys

import pytest

pytest.importorskip("pandas")

SCRIPT = """
import sys
import pyarrow as pa
from curation.core.arrow import skip_pandas_probe
{setup}
table = pa.Table.from_pylist([{{"a": 1, "b": "x", "c": [1.0, None]}}])
print("pandas" in sys.modules)
print(type(table.to_pandas()).__name__, "pandas" in sys.modules)
"""


def _run(setup: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(setup=setup)], capture_output=True, text=True,
                         check=True)
    return out.stdout.split("\n")


def test_sequences_convert_without_pandas_and_to_pandas_still_works():
    assert _run("skip_pandas_probe()")[:2] == ["False", "DataFrame True"]


def test_without_it_pyarrow_imports_pandas_on_the_first_conversion():
    # What the function is for: if pyarrow stops doing this, it can go.
    assert _run("")[:2] == ["True", "DataFrame True"]
