"""Where the passes of ``curate filter`` run: a table as pieces, each pass a map over the pieces.

A :class:`PieceSource` gives ``map(fn, columns)``: ``fn(piece)`` for every piece of the table read with those
columns, results in piece order. The caller reduces the results (sums, min/max, concatenation), so only what
``fn`` returns travels back, never the piece, unless ``fn`` returns it. Sources:

- :class:`TableSource`: a whole in-memory table, its own one piece.
- :class:`PartsSource`: the annotate output's Parquet parts, one piece each, read through
  :mod:`curation.core.storage` (local or object store) by whatever runs ``fn``: a :data:`Mapper` given by the
  caller, :func:`local_map` (this process, one part after another) or a cluster runner
  (:func:`curation.runtime.parts.map_parts`: one Ray task per part). Nothing here imports Ray.
- :class:`Values`: one float column derived from each piece (e.g. a score of the eligible clips), as the
  :class:`~curation.curate.percentiles.ChunkSource` the exact percentiles read.

Every ``fn`` must be picklable (a module-level function, a :func:`functools.partial` of one, or an instance of a
module-level class): a cluster runner ships it to the workers.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

import numpy as np
import pyarrow as pa

from curation.core import storage
from curation.core.storage import StorageOptions

T = TypeVar("T")
R = TypeVar("R")
# Runs ``fn`` on every item; yields the results in item order.
Mapper = Callable[[Callable[[T], R], Sequence[T]], Iterator[R]]


def local_map(fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
    """The :data:`Mapper` of this process: one item after another."""
    return (fn(item) for item in items)


class PieceSource(Protocol):
    """A table in pieces: ``map(fn, columns)`` yields ``fn(piece)`` for every piece (read with ``columns``; None
    = all), in piece order, and may be called again (exact percentiles take several passes). A column the
    table does not have raises ``KeyError(column)`` before any piece is read."""

    def map(self, fn: Callable[[pa.Table], R], columns: list[str] | None) -> Iterator[R]: ...


@dataclass(frozen=True)
class TableSource:
    """A whole in-memory table as a :class:`PieceSource` of one piece."""

    table: pa.Table

    def map(self, fn: Callable[[pa.Table], R], columns: list[str] | None) -> Iterator[R]:
        missing = [c for c in columns or [] if c not in self.table.column_names]
        if missing:
            raise KeyError(missing[0])
        return iter([fn(self.table if columns is None else self.table.select(columns))])


def read_part(uri: str, columns: list[str] | None, schema: pa.Schema, options: StorageOptions,
              fn: Callable[[pa.Table], R]) -> R:
    """``fn`` of one part read with ``columns``, in whatever process runs it: the storage options are set first
    (a cluster worker has none of its own)."""
    storage.configure(options)
    return fn(storage.read_parquet(uri, columns=columns, schema=schema))


@dataclass(frozen=True)
class PartsSource:
    """The Parquet parts ``uris`` (read with ``schema``) as a :class:`PieceSource`, one piece per part; ``mapper``
    runs the per-part work (default :func:`local_map`); ``options``: the storage options the readers use."""

    uris: tuple[str, ...]
    schema: pa.Schema
    options: StorageOptions
    mapper: Mapper = local_map

    def map(self, fn: Callable[[pa.Table], R], columns: list[str] | None) -> Iterator[R]:
        missing = [c for c in columns or [] if c not in self.schema.names]
        if missing:
            raise KeyError(missing[0])
        task = partial(read_part, columns=None if columns is None else list(columns), schema=self.schema,
                       options=self.options, fn=fn)
        return self.mapper(task, list(self.uris))


def as_pieces(table: pa.Table | PieceSource) -> PieceSource:
    """A table as a :class:`TableSource`; a piece source as it is."""
    return TableSource(table) if isinstance(table, pa.Table) else table


@dataclass(frozen=True)
class _Then:
    """``fn(extract(piece))``: a per-chunk function applied to the chunk a piece gives (picklable)."""

    extract: Callable[[pa.Table], Any]
    fn: Callable[[Any], Any]

    def __call__(self, piece: pa.Table) -> Any:
        return self.fn(self.extract(piece))


@dataclass(frozen=True)
class Values:
    """The float chunks ``extract(piece)`` of a piece source read with ``columns``: a
    :class:`~curation.curate.percentiles.ChunkSource`, mapped where the pieces are."""

    pieces: PieceSource
    columns: tuple[str, ...]
    extract: Callable[[pa.Table], np.ndarray]

    def map(self, fn: Callable[[np.ndarray], R]) -> Iterable[R]:
        return self.pieces.map(_Then(self.extract, fn), list(self.columns))
