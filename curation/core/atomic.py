"""Write then rename: a reader (or a resumed job) never sees a partial file."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def atomic_write(path: str | Path, write: Callable[[Path], T], suffix: str = ".tmp") -> T:
    """``write(tmp)`` fills a hidden temporary file next to ``path`` (``suffix`` keeps an extension a writer
    needs, e.g. ``.tmp.mp4``); it is fsynced and renamed into place. Returns what ``write`` returns."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}{suffix}")
    result = write(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return result
