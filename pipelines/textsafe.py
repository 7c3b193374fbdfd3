"""Text from log content, made safe to print to a terminal or post to a chat.

A requester, key or user agent is whatever a client sent: `ESC[2J` clears a terminal,
`ESC]0;…BEL` retitles it, a CR or LF forges table rows or chat lines, and a right-to-left
override (U+202E) shows `exe.txt` as `txt.exe`. `visible` shows every such character as
an escape (`\\x1b`, `\\n`, `\\u202e`) and doubles the backslash itself, so what is printed
is unambiguous: one printed text, one original.
"""

from __future__ import annotations

_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]  # C0 (ESC, BEL...), DEL, C1
# bidi marks, embeddings, overrides and isolates, which reorder what is shown, and the
# line and paragraph separators, which chat clients show as new lines
_FORMATTING = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A),
               0x2028, 0x2029]


def _escape(code: int) -> str:
    named = _NAMED.get(chr(code))
    return named or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


_TABLE = {code: _escape(code) for code in [ord("\\"), *_CONTROLS, *_FORMATTING]}


def visible(text: str) -> str:
    """`text` with control, bidi and line-separator characters shown as escapes and `\\`
    as `\\\\`: nothing in it can move a cursor, end a line or reorder what follows."""
    return text.translate(_TABLE)
