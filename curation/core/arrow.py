"""Process set-up for pyarrow.

pyarrow imports pandas, when it is installed, the first time it converts a Python sequence (``pa.array``,
``Table.from_pylist``), only to ask whether the sequence is a pandas object. That import costs about 0.4 s of CPU
in every process (the job's own, each scan child), and nothing here hands pyarrow a pandas object.
"""
from __future__ import annotations

import sys

import pyarrow as pa


class _PandasHidden:
    """An import finder that reports pandas as not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas":
            raise ModuleNotFoundError("hidden from pyarrow's first pandas check", name="pandas")
        return None


def skip_pandas_probe() -> None:
    """Answer pyarrow's "is pandas installed?" check with no, so converting Python sequences never imports it.
    Call it before this process's first conversion; once pandas is imported it does nothing. pandas is only hidden
    during the check: ``to_pandas`` and the other pandas APIs of pyarrow still import it when called."""
    if "pandas" in sys.modules:
        return
    finder = _PandasHidden()
    sys.meta_path.insert(0, finder)
    try:
        pa.array([0])  # pyarrow's check runs on its first sequence conversion and is remembered
    finally:
        sys.meta_path.remove(finder)
