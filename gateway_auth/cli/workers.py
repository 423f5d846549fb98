"""``WORKERS > 1``: that many server processes sharing one port through SO_REUSEPORT.

The kernel spreads connections across the processes. This supervisor only starts them, restarts
one that dies, and on SIGTERM or SIGINT passes SIGTERM on, so that each drains its in-flight
requests before exiting; SIGHUP is passed on as it is (each worker reloads RULES_FILE). A
supervisor killed outright (SIGKILL, the OOM killer) takes its workers with it: each asks the
kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG`` on Linux) and also watches its
parent's pid, so it drains and exits instead of serving on unsupervised.
A worker starts with SIGHUP blocked (the signal mask survives spawning), so a SIGHUP that reaches
it while it starts waits until its handler is in place instead of killing it.
Workers are spawned (not forked), so no event loop, thread pool or
connection is ever shared by accident.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from gateway_auth.config.settings import Settings
from gateway_auth.logging import log_event

log = logging.getLogger(__name__)
CRASH_LOOP_SECONDS = 3.0
EXIT_FAILED = 1

# Runs one server process and exits with its status; given the supervisor's pid, it stops (and
# drains) when the supervisor is gone, however it went (gateway_auth/cli/orphans.py).
Worker = Callable[[Settings, int], None]


class Supervisor:
    """Runs ``settings.workers`` copies of ``worker`` until told to stop."""

    def __init__(self, settings: Settings, worker: Worker, *, drain_seconds: float) -> None:
        self._settings = settings
        self._worker = worker
        self._drain_seconds = drain_seconds
        self._context = multiprocessing.get_context("spawn")
        self._processes: dict[int, tuple[BaseProcess, float]] = {}
        self._stopping = False

    def run(self) -> int:
        """Start every worker and supervise them; the exit status for the command."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._hang_up)
        try:
            for index in range(self._settings.workers):
                self._start(index)
            log_event(log, "workers_started", workers=self._settings.workers, pid=os.getpid())
            status = self._supervise()
        finally:
            self._terminate_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return status

    def _start(self, index: int) -> None:
        process = self._context.Process(
            target=self._worker,
            args=(self._settings, os.getpid()),
            name=f"gateway-auth-worker-{index}",
        )
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self._processes[index] = (process, time.monotonic())

    def _supervise(self) -> int:
        while not self._stopping:
            sentinels = [process.sentinel for process, _ in self._processes.values()]
            wait(sentinels, timeout=0.5)
            for index, (process, started) in list(self._processes.items()):
                if process.is_alive() or self._stopping:
                    continue
                log_event(
                    log,
                    "worker_exited",
                    level=logging.ERROR,
                    worker=index,
                    exit_code=process.exitcode,
                )
                if time.monotonic() - started < CRASH_LOOP_SECONDS:
                    return EXIT_FAILED  # it cannot start (port taken, bad store): stop all
                self._start(index)
        return 0

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _hang_up(self, signum: int, frame: FrameType | None) -> None:
        for process, _ in self._processes.values():
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGHUP)

    def _terminate_all(self) -> None:
        processes = [process for process, _ in self._processes.values()]
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self._drain_seconds + 5
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        log_event(log, "workers_stopped")
