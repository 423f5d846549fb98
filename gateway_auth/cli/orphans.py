"""A worker that outlives its supervisor stops: on Linux the kernel sends it SIGTERM when the
supervisor dies (``PR_SET_PDEATHSIG``); everywhere, a watcher notices the parent's pid change
within a second. Either way the worker drains its requests and exits as on SIGTERM."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
from collections.abc import Callable

from gateway_auth.logging import log_event

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_SECONDS = 1.0


def ask_for_sigterm_on_parent_death(parent: int) -> None:
    """Linux: SIGTERM to this process when its parent dies. A parent that died before this
    ran is seen by the watcher (the pid is already another)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        failed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0
        error = os.strerror(ctypes.get_errno()) if failed else None
    except (OSError, AttributeError) as exc:
        error = str(exc)
    if error is not None:  # the watcher still covers it
        log_event(log, "parent_death_signal_unavailable", level=logging.WARNING, error=error)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler is not set yet: the default ends it


async def watch_parent(parent: int, stop: Callable[[], None]) -> None:
    """Call ``stop`` once the parent is gone (this process was re-parented)."""
    # No event to wait on: the kernel tells a child nothing when its parent dies.
    while os.getppid() == parent:  # noqa: ASYNC110
        await asyncio.sleep(WATCH_SECONDS)
    log_event(log, "supervisor_gone", level=logging.WARNING, supervisor=parent)
    stop()
