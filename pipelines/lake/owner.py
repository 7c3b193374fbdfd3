"""Who made a leftover: the owner (PID@HOST) that a run's spill folder
(pipelines.lake.spill) and a writer's hidden temporary file (pipelines.lake.store) carry in
their names, and whether that process is known to be gone.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Owner:
    """The process that made a leftover (a spill folder, a hidden temporary file), written
    into its name: on the same host a dead owner means the leftover can go at once;
    elsewhere (another host sharing the folder) only its age can tell."""

    pid: int
    host: str

    @staticmethod
    def me() -> Owner:
        return Owner(os.getpid(), _host())

    @property
    def tag(self) -> str:
        return f"{self.pid}@{self.host}"

    @staticmethod
    def parse(tag: str) -> Owner | None:
        m = _OWNER.fullmatch(tag)
        return Owner(int(m.group(1)), m.group(2)) if m else None

    def gone(self) -> bool:
        """True only when it is known dead: same host and no such process."""
        return self.host == _host() and not alive(self.pid)


_OWNER = re.compile(r"(\d+)@([A-Za-z0-9-]+)")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63] or "host"


def alive(pid: int) -> bool:
    """Whether a process of this host has that id (someone else's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
