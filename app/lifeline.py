"""A worker process ends with the process that started it.

`yueban run` with N workers forwards SIGINT/SIGTERM to them, but a parent that dies without
forwarding anything (SIGKILL, the OOM killer, a crash) would leave its workers serving the
port: a restarted `yueban run` would then share it with workers running the old code and
settings, and the kernel would split requests between them without a word.

`end_with_parent` makes a worker stop as SIGTERM stops it (finishing the updates in flight)
when its parent is gone. On Linux the kernel sends the SIGTERM the moment the parent ends
(`prctl(PR_SET_PDEATHSIG)`); elsewhere a thread notices within `CHECK_EVERY_S` and sends it.
Either way the same thread kills the worker if it is still running `grace` seconds later,
the limit the parent would have enforced.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def end_with_parent(parent: int, *, grace: float, ask_kernel: bool = True) -> None:
    """SIGTERM this process when `parent` (its parent's pid) ends; SIGKILL it `grace`
    seconds later if it is still running. `ask_kernel=False` leaves it to the thread."""
    signalled = ask_kernel and signal_when_orphaned(signal.SIGTERM)
    if os.getppid() != parent:  # it ended before the kernel was asked: the kernel won't
        os.kill(os.getpid(), signal.SIGTERM)
        signalled = True
    threading.Thread(target=_watch, args=(parent, grace, signalled), daemon=True,
                     name="lifeline").start()


def signal_when_orphaned(signum: int = signal.SIGTERM) -> bool:
    """Have the kernel send `signum` to this process when its parent ends; whether it will.

    Safe between fork and exec (`preexec_fn`): prctl is looked up when this module is
    imported, not in the child. The signal outlives exec.
    """
    if _prctl is None:
        return False
    zero = ctypes.c_ulong(0)
    return bool(_prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signum), zero, zero, zero) == 0)


def _find_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_prctl = _find_prctl()


def _watch(parent: int, grace: float, signalled: bool) -> None:
    while os.getppid() == parent:
        time.sleep(CHECK_EVERY_S)
    if not signalled:
        os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace)
    log.error("still running %.0f s after the parent (pid %s) went; killing it", grace, parent)
    os.kill(os.getpid(), signal.SIGKILL)


def run_with_parent(parent: int, grace: float, target: Callable[[int], None], index: int) -> None:
    """A worker process's entry: `target(index)`, ending with `parent` as above."""
    end_with_parent(parent, grace=grace)
    target(index)
    if os.getppid() != parent:
        log.warning("worker %s stopped: its parent (pid %s) is gone", index, parent)
