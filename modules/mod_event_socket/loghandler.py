"""Python logging into `log/data` frames, fanned out without blocking (mod_event_socket.c socket_logger).

One handler sits on the root logger while the module is loaded.  `emit` turns
a record into a `LogLine` and hands it to the server on the event loop's
thread (a record logged from another thread is passed over with
call_soon_threadsafe); the server only queues it per connection, so a slow
client never slows the code that logged.  A line logged while lines are being
delivered (a "disconnecting slow client" warning, say) is delivered on the next
loop turn instead of recursing.

Python loggers drop records below the root logger's level before any handler
sees them, so when a client asks for `log debug` the root level is lowered and
the handlers that were there (the console) are pinned to the old level: the
console shows what it showed before, the socket gets what it asked for.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Callable
from datetime import datetime

from switchcore.eslwire import LOG_LEVELS, LogLine, log_level_from_python

_UUID_PREFIX = re.compile(r"^\[([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\]")
_PYTHON_LEVEL = {7: logging.DEBUG, 6: logging.INFO, 5: 25, 4: logging.WARNING, 3: logging.ERROR}
_FORMATTER = logging.Formatter()


def python_level(fs_level: int) -> int:
    """The Python level a client at FreeSWITCH level `fs_level` needs records from."""
    return _PYTHON_LEVEL.get(fs_level, logging.CRITICAL)


def log_line(record: logging.LogRecord) -> LogLine:
    """A record as FreeSWITCH writes a log node: `<date> [LEVEL] file:line message`."""
    message = record.getMessage()
    if record.exc_info:
        message = f"{message}\n{_FORMATTER.formatException(record.exc_info)}"
    level = log_level_from_python(record.levelno)
    stamp = datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S.%f")
    match = _UUID_PREFIX.match(message)
    uuid = match.group(1) if match else ""
    data = f"{stamp} [{LOG_LEVELS[level]}] {record.filename}:{record.lineno} {message}\n"
    return LogLine(data, level, 3 if uuid else 0, record.filename, record.funcName, record.lineno, uuid)


class LogFanout(logging.Handler):
    """The root-logger handler that feeds `deliver` on the loop's thread."""

    def __init__(self, deliver: Callable[[LogLine], None], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.DEBUG)
        self._deliver = deliver
        self._loop = loop
        self._thread = threading.get_ident()
        self._delivering = False
        self._saved_root: int | None = None
        self._pinned: list[logging.Handler] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = log_line(record)
        except Exception:  # a record whose message cannot be formatted is not ours to crash on
            return
        if threading.get_ident() != self._thread:
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._deliver_now, line)
        elif self._delivering:
            self._loop.call_soon(self._deliver_now, line)
        else:
            self._deliver_now(line)

    def _deliver_now(self, line: LogLine) -> None:
        self._delivering = True
        try:
            self._deliver(line)
        finally:
            self._delivering = False

    def install(self) -> None:
        logging.getLogger().addHandler(self)

    def uninstall(self) -> None:
        logging.getLogger().removeHandler(self)
        self.need(None)

    def need(self, fs_level: int | None) -> None:
        """Let records at `fs_level` reach this handler (None: nobody asks), leaving the console as it was."""
        root = logging.getLogger()
        if fs_level is None or python_level(fs_level) >= (self._saved_root if self._saved_root is not None else root.level):
            if self._saved_root is not None:
                root.setLevel(self._saved_root)
                for handler in self._pinned:
                    handler.setLevel(logging.NOTSET)
                self._saved_root, self._pinned = None, []
            return
        if self._saved_root is None:
            self._saved_root = root.level
            for handler in root.handlers:
                if handler is not self and handler.level == logging.NOTSET:
                    handler.setLevel(root.level)
                    self._pinned.append(handler)
        root.setLevel(python_level(fs_level))
