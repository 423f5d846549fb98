"""Structured logs: one JSON line per event (text on a terminal), never a secret in them."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import secrets
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

FIELDS = _FIELDS = "gateway_auth_fields"  # the record attribute holding an event's fields
# The request being answered, so every line logged while answering it carries its id.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_ID_PREFIX = secrets.token_hex(4)  # this process's; a counter makes the rest unique and cheap
_ID_COUNTER = itertools.count(1)


def _new_process() -> None:
    """A forked process gets its own prefix (our workers are spawned, but a host that forks
    after importing would otherwise hand out the same ids twice)."""
    global _ID_PREFIX, _ID_COUNTER
    _ID_PREFIX, _ID_COUNTER = secrets.token_hex(4), itertools.count(1)


os.register_at_fork(after_in_child=_new_process)


def request_id(given: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is a plausible id, else a new one; set as the id
    of everything logged from now on in this task (the request being answered)."""
    chosen = chosen_request_id(given)
    REQUEST_ID.set(chosen)
    return chosen


def chosen_request_id(given: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is a plausible id, else a new one."""
    return given if given and _ACCEPTED_ID.fullmatch(given) else new_request_id()


def new_request_id() -> str:
    """A fresh id: this process's random prefix and a counter."""
    return f"{_ID_PREFIX}-{next(_ID_COUNTER):x}"


def log_event(
    logger: logging.Logger,
    event: str,
    /,
    level: int = logging.INFO,
    *,
    exc_info: bool = False,
    **fields: Any,
) -> None:
    """Log a named event with fields; values must already be safe (no tokens, no full emails).
    A line logged while a request is answered carries that request's id; ``exc_info`` adds the
    traceback of the exception being handled."""
    rid = REQUEST_ID.get()
    if rid is not None:
        fields = {"request_id": rid, **fields}
    logger.log(level, event, exc_info=exc_info, extra={_FIELDS: fields})


def mask_email(email: str) -> str:
    """``a***@example.com``: enough to tell accounts apart in a log, not enough to harvest them."""
    local, at, domain = email.rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


_ENCODE = json.JSONEncoder(default=str, ensure_ascii=False).encode  # made once, not per line


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "event", ...fields}`` on one line."""

    _second = -1
    _second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **getattr(record, _FIELDS, {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _ENCODE(entry)

    def _timestamp(self, created: float) -> str:
        """ISO 8601 UTC with milliseconds; the part up to the second is made once a second
        (a line per request must not cost a datetime each)."""
        second = int(created)
        if second != self._second:
            moment = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")
            self._second, self._second_text = second, moment[:-6]  # without "+00:00"
        return f"{self._second_text}.{int((created - second) * 1000):03d}+00:00"


class TextFormatter(logging.Formatter):
    """``time level event key=value ...`` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, _FIELDS, {})
        pairs = " ".join(f"{key}={value}" for key, value in fields.items())
        moment = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        line = f"{moment} {record.levelname:<7} {record.getMessage()} {pairs}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(
    log_format: Literal["json", "text"] | None, level: int = logging.INFO
) -> None:
    """Send every logger to stderr in the chosen format (json unless stderr is a terminal)."""
    chosen = log_format or ("text" if sys.stderr.isatty() else "json")
    # No formatter here writes where, in which thread or process a line was logged: the
    # logging HOWTO's "Optimization" switches spare each record the work of finding out.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if chosen == "text" else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
