"""Log lines as FreeSWITCH's console writes them: time, [LEVEL], source, message (with the call's uuid)."""

from __future__ import annotations

import logging
import sys

# FreeSWITCH's level names, mapped onto Python's.
NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")
LEVEL_BY_NAME = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": NOTICE,
    "warning": logging.WARNING,
    "err": logging.ERROR,
    "error": logging.ERROR,
    "crit": logging.CRITICAL,
    "alert": logging.CRITICAL,
    "console": logging.CRITICAL,
}
_COLOURS = {
    logging.DEBUG: "\033[33m",
    logging.INFO: "\033[32m",
    NOTICE: "\033[36m",
    logging.WARNING: "\033[35m",
    logging.ERROR: "\033[31m",
    logging.CRITICAL: "\033[31;1m",
}


class ConsoleFormatter(logging.Formatter):
    def __init__(self, colour: bool) -> None:
        super().__init__("%(asctime)s.%(msecs)03d [%(levelname)s] %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if self.colour:
            return f"{_COLOURS.get(record.levelno, '')}{line}\033[0m"
        return line


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ConsoleFormatter(sys.stderr.isatty()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVEL_BY_NAME.get(level.lower(), logging.INFO))
    for noisy in ("aioice", "aiortc", "alembic", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
