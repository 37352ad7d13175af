"""Rows -> an Arrow table, without pandas and without guessing types from strings.

`pyarrow.array` on Python objects imports pandas when it is installed (about 50 MB of
memory for nothing), and pyarrow's JSON reader left to itself turns strings that look like
dates into timestamps. So the schema is inferred here from the Python values (str, int,
float, bool, None, dicts and lists of them), and the rows, already encoded as JSON lines,
are parsed by pyarrow's JSON reader against that schema. Parts are small and short-lived,
so they use the system allocator, which returns memory sooner than Arrow's default pool. Anything else (bytes, datetimes,
ints beyond 64 bits, a column that is a string in one row and a number in another) raises
`UnsupportedRows`, and the caller writes those rows as JSONL instead.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


class UnsupportedRows(ValueError):
    """The rows hold values that do not map to one Arrow type per column."""


def type_of(value: Any) -> pa.DataType:
    import pyarrow as pa

    if value is None:
        return pa.null()
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise UnsupportedRows(f"integer {value} does not fit in 64 bits")
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    if isinstance(value, str):
        return pa.string()
    if isinstance(value, dict):
        return pa.struct([pa.field(str(k), type_of(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        element = pa.null()
        for item in value:
            element = unify(element, type_of(item))
        return pa.list_(element)
    raise UnsupportedRows(f"values of type {type(value).__name__}")


def unify(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    import pyarrow as pa

    if a == b:
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    if {a, b} == {pa.int64(), pa.float64()}:
        return pa.float64()
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        fields = {a.field(i).name: a.field(i).type for i in range(a.num_fields)}
        for i in range(b.num_fields):
            field = b.field(i)
            fields[field.name] = unify(fields.get(field.name, pa.null()), field.type)
        return pa.struct([pa.field(name, kind) for name, kind in fields.items()])
    if pa.types.is_list(a) and pa.types.is_list(b):
        return pa.list_(unify(a.value_type, b.value_type))
    raise UnsupportedRows(f"a column holds both {a} and {b}")


class SchemaBuilder:
    """The Arrow schema of rows seen so far, one row at a time."""

    def __init__(self) -> None:
        self._columns: dict[str, pa.DataType] = {}

    def add(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa

        columns = self._columns
        for row in rows:
            for key, value in row.items():
                columns[key] = unify(columns.get(key, pa.null()), type_of(value))

    def schema(self) -> pa.Schema:
        import pyarrow as pa

        if not self._columns:
            raise UnsupportedRows("rows without columns")
        return pa.schema([pa.field(name, kind) for name, kind in self._columns.items()])


def table_from_json_lines(lines: bytes, schema: pa.Schema, count: int) -> pa.Table:
    """The table of `count` rows encoded as JSON `lines`, parsed with an exact `schema`."""
    import pyarrow as pa
    import pyarrow.json as pj

    try:
        table = pj.read_json(
            io.BytesIO(lines),
            read_options=pj.ReadOptions(use_threads=False, block_size=len(lines) + 1),
            parse_options=pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="error"
            ),
            memory_pool=pa.system_memory_pool(),
        )
    except pa.ArrowException as exc:
        raise UnsupportedRows(str(exc)) from exc
    if table.num_rows != count:
        raise UnsupportedRows(f"parsed {table.num_rows} rows out of {count}")
    return table
