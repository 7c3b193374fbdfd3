"""Progress lines on stderr for long work, throttled, silent when asked or when short."""

from __future__ import annotations

import sys
import threading
import time


class Progress:
    """`Progress("parse", total=n, unit="B")`; `.advance(k)`; `.done()`.

    Prints at most twice a second, and only once the work has run for a second, so short
    runs and tests stay quiet while a gigabyte shows its rate and what is left.
    """

    def __init__(self, label: str, total: int | None = None, unit: str = "",
                 enabled: bool = True, stream=None) -> None:
        self.label, self.total, self.unit, self.enabled = label, total, unit, enabled
        self.stream = stream or sys.stderr
        self.done_count = 0
        self.started = self._last = time.monotonic()
        self._printed = False
        # On a terminal one line is redrawn twice a second; in a log, a line every 10 s.
        self._tty = self.stream.isatty()
        self._every = 0.5 if self._tty else 10.0

    def _fmt(self, n: float) -> str:
        if self.unit == "B":
            for u in ("B", "KB", "MB", "GB"):
                if n < 1000 or u == "GB":
                    return f"{n:,.1f} {u}" if u != "B" else f"{n:,.0f} B"
                n /= 1000
        return f"{n:,.0f}{(' ' + self.unit) if self.unit else ''}"

    def advance(self, n: int = 1) -> None:
        self.done_count += n
        now = time.monotonic()
        if self.enabled and now - self.started > 1 and now - self._last > self._every:
            self._last = now
            self._print(now, end="\r" if self._tty else "\n")

    def _print(self, now: float, end: str) -> None:
        rate = self.done_count / max(now - self.started, 1e-9)
        text = f"{self.label}: {self._fmt(self.done_count)}"
        if self.total:
            pct = 100 * self.done_count / self.total
            eta = (self.total - self.done_count) / rate if rate else 0
            text += (f" of {self._fmt(self.total)} ({pct:.0f}%, {self._fmt(rate)}/s, "
                     f"{eta:.0f}s left)")
        else:
            text += f" ({self._fmt(rate)}/s)"
        self.stream.write(text.ljust(78) + end)
        self.stream.flush()
        self._printed = True

    def done(self) -> None:
        if self.enabled and self._printed and self._tty:
            self._print(time.monotonic(), end="\n")


class SharedProgress(Progress):
    """One progress line for units running at once: each adds what it will read."""

    def __init__(self, label: str, enabled: bool) -> None:
        super().__init__(label, total=0, unit="B", enabled=enabled)
        self._lock = threading.Lock()

    def expect(self, n: int) -> None:
        with self._lock:
            self.total += n

    def advance(self, n: int = 1) -> None:
        with self._lock:
            super().advance(n)
