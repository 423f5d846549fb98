"""The data directory: created private, and files in it written atomically with mode 0600."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

from gateway_auth.config.settings import PREFIX
from gateway_auth.errors import ConfigurationError
from gateway_auth.logging import log_event

log = logging.getLogger(__name__)
_warned: set[Path] = set()  # said once per process, however often the services are opened


def ensure_data_dir(path: Path) -> Path:
    """Create DATA_DIR with mode 0700 if missing; warn when an existing one is open to others."""
    try:
        path.mkdir(mode=0o700, parents=True)
        path.chmod(0o700)  # mkdir's mode is filtered by the umask
    except FileExistsError:
        if not path.is_dir():
            problem = f"{PREFIX}DATA_DIR={path}: exists and is not a directory"
            raise ConfigurationError([problem]) from None
        if path.stat().st_mode & 0o077 and path not in _warned:
            _warned.add(path)
            log_event(log, "data_dir_not_private", level=logging.WARNING, path=str(path))
    except OSError as exc:
        problem = f"{PREFIX}DATA_DIR={path}: cannot be created ({exc.strerror})"
        raise ConfigurationError([problem]) from None
    return path


def create_private_file(path: Path) -> None:
    """Make sure ``path`` exists with mode 0600 before anything else (SQLite) opens it."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def write_private_file(path: Path, content: bytes) -> bool:
    """Write ``content`` to a new 0600 file atomically; False if another process won the race."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)  # fails if the file exists: first writer wins, nobody overwrites
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)
    return True
