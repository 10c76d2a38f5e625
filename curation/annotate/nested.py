"""The nested columns of a batch of video records (``rows``, ``keyframes``: one list per video), flattened and
put back. Reads no table schema: the records carry their own (:mod:`curation.annotate.records` builds them)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def flat(records: pa.Table, column: str) -> pa.Table:
    """All rows of a nested column (``rows`` or ``keyframes``) of a batch of records, as one table."""
    lists = records.column(column).combine_chunks()
    return pa.Table.from_struct_array(lists.flatten())


def with_rows(records: pa.Table, rows: pa.Table) -> pa.Table:
    """``records`` with their ``rows`` replaced by ``rows`` (the same number of rows per record, in order, as
    :func:`flat` gave)."""
    lengths = pc.list_value_length(records.column("rows").combine_chunks()).fill_null(0).to_numpy()
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    if offsets[-1] != rows.num_rows:
        raise ValueError(f"{rows.num_rows} rows for records holding {offsets[-1]}")
    row_type = records.schema.field("rows").type.value_type
    schema = pa.schema(list(row_type))
    values = rows.cast(schema).to_struct_array().combine_chunks() if rows.num_rows else pa.array([], row_type)
    lists = pa.ListArray.from_arrays(pa.array(offsets), values, type=pa.list_(row_type))
    return records.set_column(records.schema.get_field_index("rows"), "rows", pa.chunked_array([lists]))
