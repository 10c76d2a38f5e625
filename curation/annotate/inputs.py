"""Turn command-line inputs (video files, directories, object-store prefixes, text files listing paths) into a
list of videos."""
from __future__ import annotations

import os
from pathlib import Path

from curation.core import storage
from curation.core.errors import ConfigError

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
    ".3gp", ".ogv", ".vob", ".mxf", ".y4m",
})
LIST_EXTENSIONS = frozenset({".txt", ".list", ".lst"})


def _suffix(uri: str) -> str:
    return os.path.splitext(storage.name(uri))[1].lower()


def shown_path(path: str) -> str:
    """``path`` as a table can hold it: itself, or, where it is not valid UTF-8 (a local file name whose bytes are
    not), with ``\\x`` escapes for the bytes that are not. Such a file cannot be named in the output, so the job
    reports it (``unreadable``) instead of opening it."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _text(listing: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown_path(listing)}: a list of inputs must be UTF-8 text ({exc.reason} at byte "
                          f"{exc.start})") from None


def _remote(item: str) -> list[str]:
    if _suffix(item) in LIST_EXTENSIONS and storage.exists(item) and not storage.is_dir(item):
        return _listed(item, _text(item, storage.read_bytes(item)), storage.parent(item))
    if storage.is_dir(item):
        return storage.list_files(item, tuple(VIDEO_EXTENSIONS), recursive=True)
    if storage.exists(item):
        return [item]
    raise ConfigError(f"input does not exist: {storage.redact(item)}")


def _listed(listing: str, text: str, base: str) -> list[str]:
    """The entries of a list file: one path or URI per line, ``#`` comments, relative to the list's folder."""
    found = []
    for line_no, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if storage.is_remote(line) or storage.is_remote(base):
            entry = line if storage.is_remote(line) or os.path.isabs(line) else storage.join(base, line)
            if not storage.exists(entry):
                raise ConfigError(f"{listing}:{line_no}: listed input does not exist: {line}")
            found.extend(discover([entry]))
            continue
        entry = Path(line) if Path(line).is_absolute() else Path(base) / line
        if not (entry.exists() or entry.is_symlink()):
            raise ConfigError(f"{listing}:{line_no}: listed input does not exist: {line}")
        found.extend(discover([str(entry)]) if entry.is_dir() else [str(entry)])
    return found


def discover(inputs: list[str]) -> list[str]:
    """Absolute paths and URIs, de-duplicated, in a stable order. Directories and object-store prefixes are
    searched recursively by video extension; a ``.txt``/``.list`` file lists one path or URI per line (``#``
    comments, relative to the list). Any other file is taken as a video, whatever its extension. A missing
    input raises ConfigError."""
    found: list[str] = []
    for item in inputs:
        if storage.is_remote(item):
            found.extend(_remote(item))
            continue
        path = Path(item)
        if path.is_dir():
            for root, _dirs, files in os.walk(path, followlinks=False):
                for name in sorted(files):
                    if Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                        found.append(os.path.join(root, name))
        elif path.suffix.lower() in LIST_EXTENSIONS and path.is_file():
            found.extend(_listed(str(path), _text(str(path), path.read_bytes()), str(path.parent)))
        elif path.exists() or path.is_symlink():
            found.append(str(path))
        else:
            raise ConfigError(f"input does not exist: {shown_path(item)}")
    seen: set[str] = set()
    unique = []
    for p in found:
        absolute = p if storage.is_remote(p) else os.path.abspath(p)
        if absolute not in seen:
            seen.add(absolute)
            unique.append(absolute)
    return unique
