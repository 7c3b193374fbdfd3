"""Tables written for people to open elsewhere: values from log content must not act there.

A CSV cell that starts with =, +, -, @, a tab or a carriage return is run as a formula by
spreadsheets (`=cmd|' /C calc'!A0` in a key or a user agent); OWASP's advice is to prefix
such cells with a single quote, which shows the text as it is.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

_FORMULA_START = r"^[=+\-@\t\r]"


def spreadsheet_safe(table: pa.Table) -> pa.Table:
    """The table with every text cell that a spreadsheet would take for a formula prefixed
    with a single quote; other cells, and other types, untouched."""
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = pc.match_substring_regex(column, _FORMULA_START)
            column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)
