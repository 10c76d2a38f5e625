"""Reading an annotate output (a local folder or an object-store prefix): its committed parts, and the schema
they were written with. The write side is :class:`curation.annotate.store.AnnotateOutput`."""
from __future__ import annotations

import pyarrow as pa

from curation.core import storage
from curation.core.layout import ANNOTATIONS, KEYFRAMES, PART_PREFIX, PART_SUFFIX


class AnnotationParts:
    """The parts of one annotate output: ``annotations/part-*.parquet`` (the clip table; every part has every
    column) and ``keyframes/part-*.parquet`` beside them, same names."""

    def __init__(self, root: str):
        self.root = root.rstrip("/") if "://" in root else root
        self.annotations = storage.join(self.root, ANNOTATIONS)
        self.keyframes = storage.join(self.root, KEYFRAMES)

    def exists(self) -> bool:
        """Is there an ``annotations/`` folder (an annotate output, perhaps still empty)?"""
        return storage.is_dir(self.annotations)

    def annotation_uri(self, part: str) -> str:
        return storage.join(self.annotations, part)

    def keyframe_uri(self, part: str) -> str:
        return storage.join(self.keyframes, part)

    def parts(self) -> list[str]:
        """Names of the committed parts, sorted."""
        return [storage.name(u) for u in storage.list_files(self.annotations, PART_SUFFIX)
                if storage.name(u).startswith(PART_PREFIX)]

    def schema(self, parts: list[str] | None = None) -> pa.Schema | None:
        """The clip table's Arrow schema as written (from the first part's footer: one small read); None when no
        part is committed."""
        parts = self.parts() if parts is None else parts
        if not parts:
            return None
        return storage.read_parquet_schema(self.annotation_uri(parts[0]))
