"""Tables written for people to open elsewhere: values from log content must not act there.

A CSV cell that starts with =, +, -, @, a tab or a carriage return is run as a formula by
spreadsheets (`=cmd|' /C calc'!A0` in a key or a user agent); OWASP's advice is to prefix
such cells with a single quote, which shows the text as it is. Every cell that is not a
number, a truth value, a date or a time becomes such text first, whatever its type in the
warehouse: bytes (`quarantine.raw_line`) decoded as UTF-8, ENUM values, lists, structs and
maps as JSON; so no formula hides in a type the check skipped, and pyarrow can write them
all (it cannot write lists, structs or maps).
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.textsafe import visible

_FORMULA_START = r"^[=+\-@\t\r]"
_TEXT = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
_BYTES = (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_fixed_size_binary,
          pa.types.is_binary_view)
_NESTED = (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list,
           pa.types.is_list_view, pa.types.is_large_list_view, pa.types.is_struct,
           pa.types.is_map, pa.types.is_union)
# written by pyarrow as they are, and never read as a formula (a negative number is a number)
_PLAIN = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal,
          pa.types.is_boolean, pa.types.is_date, pa.types.is_timestamp, pa.types.is_time,
          pa.types.is_null)


def spreadsheet_safe(table: pa.Table) -> pa.Table:
    """The table with every cell but numbers, truth values, dates and times as text, and
    every text cell a spreadsheet would take for a formula prefixed with a single quote."""
    columns = [_neutralised(_as_text(column)) if not _is(column.type, _PLAIN) else column
               for column in table.columns]
    return pa.Table.from_arrays(columns, names=table.column_names)


def terminal_safe(table: pa.Table) -> pa.Table:
    """A spreadsheet-safe table whose text cells are also safe to print to a terminal
    (pipelines.textsafe.visible): for CSV written to one instead of a file."""
    columns = [pa.array([None if v is None else visible(v) for v in column.to_pylist()],
                        pa.string()) if pa.types.is_string(column.type) else column
               for column in spreadsheet_safe(table).columns]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _is(kind: pa.DataType, tests) -> bool:
    return any(test(kind) for test in tests)


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The column as UTF-8 text: ENUMs decoded, bytes decoded (bad bytes as \\xNN), nested
    values as JSON, anything else as Python writes it."""
    kind = column.type
    if isinstance(kind, pa.ExtensionType):
        return _as_text(pa.chunked_array([c.storage for c in column.chunks], kind.storage_type))
    if pa.types.is_dictionary(kind):
        return _as_text(pc.cast(column, kind.value_type))
    if _is(kind, _TEXT):
        return pc.cast(column, pa.string())
    render = _decoded if _is(kind, _BYTES) else _json if _is(kind, _NESTED) else str
    return pa.chunked_array([pa.array([None if v is None else render(v)
                                       for v in column.to_pylist()], pa.string())])


def _decoded(value: bytes) -> str:
    return value.decode("utf-8", "backslashreplace")  # lossless: bad bytes as \\xNN


def _json(value) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _json_default(value) -> str:
    """What JSON has no type for, as text: bytes decoded, dates, decimals and the rest as
    Python writes them."""
    return _decoded(value) if isinstance(value, bytes) else str(value)


def _neutralised(column: pa.ChunkedArray) -> pa.ChunkedArray:
    risky = pc.match_substring_regex(column, _FORMULA_START)
    return pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
