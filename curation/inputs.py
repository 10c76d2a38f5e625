"""Turn command-line inputs (video files, directories, text files listing paths) into a list of videos."""
from __future__ import annotations

import os
from pathlib import Path

from curation.config import ConfigError

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
    ".3gp", ".ogv", ".vob", ".mxf", ".y4m",
})
LIST_EXTENSIONS = frozenset({".txt", ".list", ".lst"})


def discover(inputs: list[str]) -> list[str]:
    """Absolute paths, de-duplicated, in a stable order. Directories are searched recursively by video
    extension; a ``.txt``/``.list`` file lists one path per line (``#`` comments, relative to the list).
    Any other file is taken as a video, whatever its extension. A missing input raises ConfigError."""
    found: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for root, _dirs, files in os.walk(path, followlinks=False):
                for name in sorted(files):
                    if Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                        found.append(os.path.join(root, name))
        elif path.suffix.lower() in LIST_EXTENSIONS and path.is_file():
            for line_no, line in enumerate(path.read_text().splitlines(), 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                entry = Path(line) if Path(line).is_absolute() else path.parent / line
                if not (entry.exists() or entry.is_symlink()):
                    raise ConfigError(f"{path}:{line_no}: listed input does not exist: {line}")
                if entry.is_dir():
                    found.extend(discover([str(entry)]))
                else:
                    found.append(str(entry))
        elif path.exists() or path.is_symlink():
            found.append(str(path))
        else:
            raise ConfigError(f"input does not exist: {item}")
    seen: set[str] = set()
    unique = []
    for p in found:
        absolute = os.path.abspath(p)
        if absolute not in seen:
            seen.add(absolute)
            unique.append(absolute)
    return unique
