"""Process helpers shared by stages that leave traces of their own PID (export temp folders,
the managed Label Studio server).

    from pipeline.processes import pid_alive
"""
from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True when a process with this PID exists (also one of another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
